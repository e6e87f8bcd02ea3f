"""JudgeSettings.resolve: --metadata > environment > defaults; secrets from the env only;
unknown settings and out-of-range numbers refused; credentials redacted wherever written.

The slow tests at the end run the real ``lm_eval`` and ``coconot`` command lines.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from coconot_tasks.judge.backends import request_shape
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.redact import looks_secret, redact_url
from coconot_tasks.judge.settings import OWNERS, JudgeSettings, table_rows
from coconot_tasks.tools.cli import main as coconot_main
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import judge_environment, lm_eval_command, run_lm_eval
from utils.fake_openai import FakeOpenAI

KEY = "sk-test-SECRET-9a8b7c6d"
OTHER_KEY = "sk-openai-OTHER-1234"


def test_defaults_are_a_judge_without_a_shutdown_date_asked_like_the_paper_where_it_can_be() -> None:
    settings = JudgeSettings.resolve()
    assert settings.backend == "openai"
    # the paper's gpt-3.5-turbo and its successors retire; OpenAI's named replacement
    assert settings.model == "gpt-6-luna"
    assert request_shape(settings).params == {
        "max_completion_tokens": 256, "reasoning_effort": "none", "temperature": 0.0,
    }  # fmt: skip
    assert settings.api_key is None
    assert settings.base_url is None
    assert settings.judge_id == "openai:gpt-6-luna"
    assert settings.endpoint == "https://api.openai.com/v1"


@pytest.mark.parametrize(
    ("field", "meta_key", "env_var", "env_value", "meta_value", "env_expected", "meta_expected"),
    [
        ("model", "judge_model", "COCONOT_JUDGE_MODEL", "gpt-4", "gpt-4o-mini", "gpt-4", "gpt-4o-mini"),
        ("concurrency", "judge_concurrency", "COCONOT_JUDGE_CONCURRENCY", "4", "8", 4, 8),
        ("timeout", "judge_timeout", "COCONOT_JUDGE_TIMEOUT", "2.5", 30, 2.5, 30.0),
        ("max_tokens", "judge_max_tokens", "COCONOT_JUDGE_MAX_TOKENS", "100", "300", 100, 300),
        ("cache", "judge_cache", "COCONOT_JUDGE_CACHE", "0", True, False, True),
        ("preflight", "judge_preflight", "COCONOT_JUDGE_PREFLIGHT", "yes", "off", True, False),
        ("max_cost_usd", "judge_max_cost_usd", "COCONOT_JUDGE_MAX_COST_USD", "1.5", "0.25", 1.5, 0.25),
        ("backend", "judge_backend", "COCONOT_JUDGE_BACKEND", "heuristic", "openai", "heuristic", "openai"),
        (
            "base_url",
            "judge_base_url",
            "COCONOT_JUDGE_BASE_URL",
            "http://env/v1",
            "http://meta/v1",
            "http://env/v1",
            "http://meta/v1",
        ),
    ],
    ids=[
        "model",
        "concurrency",
        "timeout",
        "max_tokens",
        "cache",
        "preflight",
        "max_cost_usd",
        "backend",
        "base_url",
    ],
)
def test_precedence_metadata_over_env_over_default(
    field: str,
    meta_key: str,
    env_var: str,
    env_value: str,
    meta_value: object,
    env_expected: object,
    meta_expected: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = getattr(JudgeSettings(), field)
    assert getattr(JudgeSettings.resolve({}), field) == default
    monkeypatch.setenv(env_var, env_value)
    assert getattr(JudgeSettings.resolve({}), field) == env_expected
    assert getattr(JudgeSettings.resolve({meta_key: meta_value}), field) == meta_expected
    # An empty metadata value does not shadow the environment.
    assert getattr(JudgeSettings.resolve({meta_key: ""}), field) == env_expected


def test_base_url_falls_back_to_openai_base_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://openai-env/v1")
    assert JudgeSettings.resolve().base_url == "http://openai-env/v1"
    monkeypatch.setenv("COCONOT_JUDGE_BASE_URL", "http://coconot-env/v1")
    assert JudgeSettings.resolve().base_url == "http://coconot-env/v1"


@pytest.mark.parametrize(
    ("metadata", "env", "expected_origin"),
    [
        ({"judge_concurrency": "many"}, {}, "--metadata judge_concurrency='many' is not a valid integer"),
        (
            {},
            {"COCONOT_JUDGE_CONCURRENCY": "many"},
            "COCONOT_JUDGE_CONCURRENCY='many' is not a valid integer",
        ),
        (
            {"judge_timeout": "soon"},
            {"COCONOT_JUDGE_TIMEOUT": "5"},
            "--metadata judge_timeout='soon' is not a valid finite number",
        ),
        (
            {},
            {"COCONOT_JUDGE_MAX_COST_USD": "$3"},
            "COCONOT_JUDGE_MAX_COST_USD='$3' is not a valid finite number",
        ),
        ({"judge_max_retries": "2.5"}, {}, "--metadata judge_max_retries='2.5' is not a valid integer"),
        ({}, {"COCONOT_JUDGE_CACHE": "flase"}, "COCONOT_JUDGE_CACHE='flase' is not a valid boolean"),
    ],
    ids=[
        "metadata-int",
        "env-int",
        "metadata-beats-valid-env",
        "env-float",
        "metadata-int-from-float-text",
        "bool-typo",
    ],
)
def test_type_errors_name_their_origin(
    metadata: dict[str, str], env: dict[str, str], expected_origin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve(metadata)
    assert expected_origin in str(info.value)


@pytest.mark.parametrize("source", ["metadata", "env"])
def test_unknown_backend_is_rejected(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    metadata = {"judge_backend": "anthropic"} if source == "metadata" else {}
    if source == "env":
        monkeypatch.setenv("COCONOT_JUDGE_BACKEND", "anthropic")
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve(metadata)
    assert "'anthropic'" in str(info.value)
    assert "openai" in str(info.value)
    assert "heuristic" in str(info.value)


def test_heuristic_backend_is_accepted() -> None:
    settings = JudgeSettings.resolve({"judge_backend": "heuristic"})
    assert settings.backend == "heuristic"
    assert settings.judge_id == "heuristic"


def test_coconot_key_beats_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)
    assert JudgeSettings.resolve().api_key == OTHER_KEY
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", KEY)
    assert JudgeSettings.resolve().api_key == KEY


def test_key_never_in_repr_or_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_API_KEY", OTHER_KEY)
    settings = JudgeSettings.resolve({"judge_model": "gpt-4o", "judge_base_url": "http://127.0.0.1:1/v1"})
    assert settings.api_key == KEY
    for text in (repr(settings), str(settings), json.dumps(settings.public()), settings.judge_id):
        assert KEY not in text
        assert OTHER_KEY not in text
        assert "SECRET" not in text
    public = settings.public()
    assert "api_key" not in public
    assert public["model"] == "gpt-4o"
    assert public["base_url"] == "http://127.0.0.1:1/v1"


def test_settings_with_different_keys_compare_equal(monkeypatch: pytest.MonkeyPatch) -> None:
    # The key is not part of the settings' identity (so it cannot leak via comparison-based
    # caching or be needed to reproduce a run).
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", KEY)
    first = JudgeSettings.resolve()
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", OTHER_KEY)
    assert JudgeSettings.resolve() == first


# --- credentials -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "COCONOT_JUDGE_API_KEY", "judge_api_key", "api_key", "openai_api_key", "judge_token", "judge_key",
        "api-key", "apiKey", "judgeApiKey", "JUDGE-SECRET", "judge_password", "auth", "auth_token",
        "access_token", "hf_token", "Authorization", "bearer", "judge.credentials",
    ],
)  # fmt: skip
def test_credential_looking_metadata_keys_are_refused_without_echoing_the_value(name: str) -> None:
    assert looks_secret(name)
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve({name: KEY})
    message = str(info.value)
    assert f"{name}=..." in message
    assert "COCONOT_JUDGE_API_KEY" in message and "results JSON" in message
    assert KEY not in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "name",
    [
        "add_bos_token", "think_end_token", "prefix_token_id", "custom_prefix_token_id", "max_tokens",
        "judge_max_tokens", "tokenizer", "tokenized_requests", "max_gen_toks", "judge_model", "pretrained",
        "base_url", "data_dir", "monkey", "keyboard_layout",
    ],
)  # fmt: skip
def test_model_args_that_lm_eval_merges_into_metadata_are_not_credentials(name: str) -> None:
    # lm-eval merges --model_args into every task's metadata: a model's token settings must pass.
    assert not looks_secret(name)
    JudgeSettings.resolve({name: 7})


def test_credentials_nested_in_metadata_values_are_refused() -> None:
    # e.g. --model_args '{"header": {"Authorization": ...}}' for lm-eval's API models
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve({"header": {"Authorization": f"Bearer {KEY}"}})
    assert "header.Authorization=... looks like a credential" in str(info.value)
    assert KEY not in str(info.value)


def test_credential_keys_without_a_secret_value_are_harmless() -> None:
    JudgeSettings.resolve({"auth_token": None, "hf_token": "", "use_auth_token": True, "api_key_index": 2})


@pytest.mark.parametrize(
    ("key", "url", "shown"),
    [
        ("judge_base_url", "https://judgeuser:PW-SECRET@judge.example/v1", "https://***@judge.example/v1"),
        ("base_url", "http://PW-SECRET@127.0.0.1:1/v1/chat/completions", "http://***@127.0.0.1:1/v1/chat/"),
        ("judge_base_url", "https://judge.example/v1?api-key=PW-SECRET&x=1", "?api-key=***&x=1"),
    ],
    ids=["judge-userinfo", "model-userinfo", "query-key"],
)
def test_urls_with_credentials_in_metadata_are_refused(key: str, url: str, shown: str) -> None:
    # lm-eval writes --metadata and --model_args verbatim into the results JSON: nothing can
    # redact them there.
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve({key: url})
    message = str(info.value)
    assert shown in message and "COCONOT_JUDGE_API_KEY" in message
    assert "PW-SECRET" not in message and "judgeuser" not in message


@pytest.mark.parametrize(
    "url",
    ["https://judgeuser:PW-SECRET@judge.example/v1", "https://judge.example/v1?api-key=PW-SECRET"],
    ids=["userinfo", "query-key"],
)
@pytest.mark.parametrize("variable", ["COCONOT_JUDGE_BASE_URL", "OPENAI_BASE_URL"])
def test_credentials_in_the_judge_url_are_refused_from_the_environment_too(
    url: str, variable: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The OpenAI client cannot use them (its aiohttp transport refuses user info next to the
    # key's Authorization header; it appends /chat/completions after a query string).
    monkeypatch.setenv(variable, url)
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve()
    message = str(info.value)
    assert message.startswith(f"{variable}='https://") and "cannot use a base URL with credentials" in message
    assert "COCONOT_JUDGE_API_KEY" in message
    assert "PW-SECRET" not in message and "judgeuser" not in message


def test_a_base_url_with_a_query_is_refused() -> None:
    with pytest.raises(JudgeConfigError, match="cannot use a base URL with a query string"):
        JudgeSettings.resolve({"judge_base_url": "https://judge.example/v1?api-version=2024-06-01"})


@pytest.mark.parametrize("route", ["/chat/completions", "/completions", "/models", "/chat/completions/"])
def test_a_base_url_naming_a_route_is_refused_with_the_root_to_use(route: str) -> None:
    with pytest.raises(
        JudgeConfigError, match=f"names the {route.rstrip('/')} route; give the API's base URL"
    ):
        JudgeSettings.resolve({"judge_base_url": f"http://localhost:8000/v1{route}"})


def test_a_base_url_without_the_api_prefix_is_named_as_such_not_as_an_unknown_model(
    fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
    root = fake_server.url.removesuffix("/v1")
    with pytest.raises(JudgeConfigError, match="no OpenAI API at that URL .* usually ending in /v1"):
        check_judge(JudgeSettings.resolve({"judge_base_url": root, "judge_model": "fake-judge"}))
    with pytest.raises(JudgeConfigError, match="does not know model 'no-such-model'"):
        check_judge(
            JudgeSettings.resolve({"judge_base_url": fake_server.url, "judge_model": "no-such-model"})
        )


def test_settings_built_directly_never_show_url_credentials() -> None:
    settings = JudgeSettings(base_url="https://judgeuser:PW-SECRET@judge.example:8443/v1", api_key=KEY)
    assert settings.public()["base_url"] == "https://***@judge.example:8443/v1"
    for text in (json.dumps(settings.public()), repr(settings), str(settings), settings.judge_id):
        assert "PW-SECRET" not in text and "judgeuser" not in text and KEY not in text


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "https://h/v1?a=1&b=%20x&c=",
        "https://h/v1/?q=a+b#frag",
        "http://[::1]:9/v1",
    ],
)
def test_redact_url_leaves_urls_without_credentials_byte_identical(url: str) -> None:
    assert redact_url(url) == url


def test_preflight_errors_show_the_endpoint_without_its_credentials() -> None:
    settings = JudgeSettings(base_url="http://judgeuser:PW-SECRET@127.0.0.1:9/v1", api_key=KEY)
    with pytest.raises(JudgeConfigError) as info:
        check_judge(settings)
    message = str(info.value)
    assert "http://***@127.0.0.1:9/v1 is unreachable" in message
    assert "PW-SECRET" not in message and "judgeuser" not in message


def test_check_judge_command_refuses_url_credentials_in_one_redacted_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_BASE_URL", "http://judgeuser:PW-SECRET@127.0.0.1:9/v1")
    assert coconot_main(["check-judge"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("error: COCONOT_JUDGE_BASE_URL='http://***@127.0.0.1:9/v1'")
    assert captured.err.count("\n") == 1
    assert "PW-SECRET" not in captured.out + captured.err


# --- unknown settings ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ("judge_modle", "judge_model"),
        ("judgemodel", "judge_model"),
        ("JUDGE_MODEL", "judge_model"),
        ("judge-timeout", "judge_timeout"),
        ("judeg_model", "judge_model"),
        ("coconot_judge_concurrency", "judge_concurrency"),
        ("judge_max_retry", "judge_max_retries"),
    ],
)
def test_unknown_judge_metadata_keys_are_refused_with_a_hint(key: str, hint: str) -> None:
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve({key: "gpt-4o"})
    assert f"--metadata {key} is not a CoCoNot judge setting; did you mean {hint}?" in str(info.value)


def test_an_unknown_judge_key_without_a_close_match_still_fails() -> None:
    with pytest.raises(JudgeConfigError, match="judge_colour is not a CoCoNot judge setting"):
        JudgeSettings.resolve({"judge_colour": "blue"})


def test_unrelated_metadata_is_ignored() -> None:
    metadata = {
        "data_dir": "/x",
        "version": 1.0,
        "config_source": "/t.yaml",
        "model": "m",
        "judge_model": "gpt-4",
    }
    assert JudgeSettings.resolve(metadata).model == "gpt-4"


def test_the_settings_record_key_is_reserved() -> None:
    JudgeSettings.resolve({"judge_settings": {}})  # what the task YAML declares
    with pytest.raises(JudgeConfigError, match="records the judge's effective settings"):
        JudgeSettings.resolve({"judge_settings": "gpt-4o"})


@pytest.mark.parametrize(
    ("variable", "hint"),
    [
        ("COCONOT_JUDGE_MODLE", "COCONOT_JUDGE_MODEL"),
        ("COCONOT_JUDGE_APIKEY", "COCONOT_JUDGE_API_KEY"),
        ("COCONOT_JUDGE_TIME_OUT", "COCONOT_JUDGE_TIMEOUT"),
    ],
)
def test_unknown_judge_environment_variables_are_refused_with_a_hint(
    variable: str, hint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(variable, KEY)
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve()
    message = str(info.value)
    assert f"environment variable {variable} is not a CoCoNot judge setting; did you mean {hint}?" in message
    assert KEY not in message
    monkeypatch.setenv(variable, "")  # set but empty: as if unset
    JudgeSettings.resolve()


# --- ranges ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("judge_timeout", 0, "greater than 0 and at most 3600 seconds per request"),
        ("judge_timeout", "-1", "greater than 0"),
        ("judge_timeout", 86400, "at most 3600"),
        ("judge_concurrency", 0, "from 1 to 1024 requests in flight"),
        ("judge_concurrency", 100000, "from 1 to 1024"),
        ("judge_max_retries", -1, "from 0 to 20 retries per request"),
        ("judge_max_retries", 21, "from 0 to 20"),
        ("judge_label_retries", -1, "from 0 to 10"),
        ("judge_max_tokens", 0, "from 1 to 32768"),
        ("judge_max_error_rate", -0.1, "from 0 to 1"),
        ("judge_max_error_rate", 1.5, "from 0 to 1"),
        ("judge_max_cost_usd", 0, "greater than 0 USD"),
        ("judge_price_input", -1, "at least 0 USD per 1M tokens"),
        ("judge_price_output", "-0.5", "at least 0"),
    ],
)
def test_numbers_out_of_range_are_refused(key: str, value: object, expected: str) -> None:
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve({key: value})
    message = str(info.value)
    assert message.startswith(f"--metadata {key}={value!r} is out of range: it must be ")
    assert expected in message


def test_ranges_name_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_TIMEOUT", "0")
    with pytest.raises(JudgeConfigError, match=r"COCONOT_JUDGE_TIMEOUT='0' is out of range"):
        JudgeSettings.resolve()


@pytest.mark.parametrize(
    ("key", "value", "field", "expected"),
    [
        ("judge_timeout", 3600, "timeout", 3600.0),
        ("judge_timeout", "0.5", "timeout", 0.5),
        ("judge_concurrency", 1, "concurrency", 1),
        ("judge_concurrency", 1024, "concurrency", 1024),
        ("judge_concurrency", 4.0, "concurrency", 4),
        ("judge_max_retries", 0, "max_retries", 0),
        ("judge_label_retries", 0, "label_retries", 0),
        ("judge_max_tokens", 32768, "max_tokens", 32768),
        ("judge_max_error_rate", 0, "max_error_rate", 0.0),
        ("judge_max_error_rate", 1, "max_error_rate", 1.0),
        ("judge_price_input", 0, "price_input", 0.0),
    ],
)
def test_numbers_on_the_bounds_are_accepted(key: str, value: object, field: str, expected: object) -> None:
    assert getattr(JudgeSettings.resolve({key: value}), field) == expected


@pytest.mark.parametrize(
    ("key", "value", "kind"),
    [
        ("judge_concurrency", 2.5, "integer"),  # lm-eval parses --metadata judge_concurrency=2.5 to a float
        ("judge_concurrency", "2.5", "integer"),
        ("judge_concurrency", True, "integer"),
        ("judge_timeout", "inf", "finite number"),
        ("judge_max_cost_usd", float("nan"), "finite number"),
        ("judge_timeout", False, "finite number"),
    ],
)
def test_numbers_are_never_truncated_or_infinite(key: str, value: object, kind: str) -> None:
    with pytest.raises(JudgeConfigError, match=f"is not a valid {kind}"):
        JudgeSettings.resolve({key: value})


SETTINGS_TABLE_HEADER = "| `--metadata` key | environment variable | default | allowed | |"


def _settings_tables() -> list[list[str]]:
    """The settings tables (the rows below each header line) of README.md and docs/*.md."""
    root = Path(__file__).resolve().parents[1]
    tables: list[list[str]] = []
    for page in [root / "README.md", *sorted((root / "docs").glob("*.md"))]:
        lines = page.read_text(encoding="utf-8").splitlines()
        for start in (i for i, line in enumerate(lines) if line == SETTINGS_TABLE_HEADER):
            below = lines[start + 2 :]
            tables.append(
                below[: next((i for i, line in enumerate(below) if not line.startswith("|")), None)]
            )
    return tables


def test_the_docs_settings_tables_are_the_declared_settings() -> None:
    # Each table belongs to whoever declared most of its rows (the core settings, or a backend);
    # its rows for those settings are exactly the generated ones. A row in a backend's table for a
    # core setting (that backend's default for it) must still name its variable and what is allowed.
    generated = {owner: table_rows(owner) for owner in (None, *set(OWNERS.values()))}
    row_of = {row.split("|")[1].strip(): (owner, row) for owner, rows in generated.items() for row in rows}
    tables = _settings_tables()
    assert len(tables) == len(generated), "a settings table is missing from README.md and docs/"
    documented = set()
    for table in tables:
        owners = [row_of[key][0] for key in (row.split("|")[1].strip() for row in table) if key in row_of]
        table_owner = max(set(owners), key=owners.count)
        for row in table:
            owner, expected = row_of.get(row.split("|")[1].strip(), (table_owner, row))
            if owner == table_owner:
                assert row == expected, f"the docs' row differs from the declaration:\n{row}\n{expected}"
                documented.add(expected)
            else:
                assert [row.split("|")[i] for i in (2, 4)] == [expected.split("|")[i] for i in (2, 4)], row
    missing = [row for rows in generated.values() for row in rows if row not in documented]
    assert not missing, "declared settings missing from the docs' tables:\n" + "\n".join(missing)


@pytest.mark.parametrize("url", ["localhost:8000/v1", "ftp://h/v1", "http:///v1"])
def test_a_base_url_must_be_http(url: str) -> None:
    with pytest.raises(JudgeConfigError, match="is not an http\\(s\\) URL"):
        JudgeSettings.resolve({"judge_base_url": url})


def test_endpoint_is_the_base_url_without_credentials_or_a_stable_local_name() -> None:
    from coconot_tasks.judge.backends.vllm import LOCAL_VLLM_ENDPOINT

    assert JudgeSettings.resolve().endpoint == "https://api.openai.com/v1"
    proxy = JudgeSettings.resolve({"judge_base_url": "http://judge.local:8000/v1/"})
    assert proxy.endpoint == "http://judge.local:8000/v1"
    # the managed local server gets a new port each run: its verdicts stay cached under one name
    assert JudgeSettings.resolve({"judge_backend": "vllm"}).endpoint == LOCAL_VLLM_ENDPOINT


# --- through the command lines ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
@pytest.mark.parametrize(
    ("metadata", "env", "expected"),
    [
        ('{"judge_modle": "gpt-4o"}', {}, "--metadata judge_modle is not a CoCoNot judge setting; did you "
         "mean judge_model?"),
        ('{"judge_timeout": 0}', {}, "--metadata judge_timeout=0 is out of range: it must be greater than 0"),
        ('{"judge_concurrency": 2.5}', {}, "--metadata judge_concurrency=2.5 is not a valid integer"),
        (f'{{"COCONOT_JUDGE_API_KEY": "{JUDGE_KEY}"}}', {}, "COCONOT_JUDGE_API_KEY=... looks like a "
         "credential"),
        ('{"judge_base_url": "http://judgeuser:PW-SECRET@127.0.0.1:1/v1"}', {}, "http://***@127.0.0.1:1/v1 "
         "carries"),
        ("{}", {"COCONOT_JUDGE_BASE_URL": "http://judgeuser:PW-SECRET@127.0.0.1:1/v1"},
         "COCONOT_JUDGE_BASE_URL='http://***@127.0.0.1:1/v1': the judge's OpenAI client cannot use"),
        ("{}", {"COCONOT_JUDGE_MODLE": "gpt-4o"}, "did you mean COCONOT_JUDGE_MODEL?"),
        ('{"data_dir": "/nonexistent"}', {}, "data directory /nonexistent does not exist"),
    ],
    ids=["typo", "timeout-0", "concurrency-2.5", "key-as-metadata", "url-credentials", "env-url-credentials",
         "env-typo", "data-dir"],
)  # fmt: skip
def test_lm_eval_configuration_errors_are_one_line_before_generation(
    fake_server: FakeOpenAI, tmp_path: Path, metadata: str, env: dict[str, str], expected: str
) -> None:
    out = tmp_path / "out"
    cmd = lm_eval_command(fake_server.url, out, "coconot_original", "--limit", "2", "--metadata", metadata)
    run = run_lm_eval(cmd, judge_environment(fake_server.url, JUDGE_KEY, **env), out)
    assert run.returncode == 1
    errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], run.log[-3000:]
    assert "Traceback" not in run.log
    assert JUDGE_KEY not in run.log and "PW-SECRET" not in run.log
    assert fake_server.state.model_requests == 0
    assert not list(out.rglob("results_*.json"))


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_results_record_the_effective_judge_settings_set_only_by_the_environment(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    # every judge setting from the environment: no --metadata at all
    env = judge_environment(
        fake_server.url, JUDGE_KEY, COCONOT_JUDGE_CONCURRENCY="3", COCONOT_JUDGE_TIMEOUT="42",
        COCONOT_JUDGE_MAX_ERROR_RATE="0.5",
    )  # fmt: skip
    out = tmp_path / "out"
    run = run_lm_eval(lm_eval_command(fake_server.url, out, "coconot_original", "--limit", "4"), env, out)
    assert run.returncode == 0, run.log[-4000:]
    assert fake_server.state.judge_answers > 0

    record = run.results()["configs"]["coconot_original"]["metadata"]["judge_settings"]
    server_fields = {"vllm_revision", "gpu_memory_utilization", "tensor_parallel_size", "max_model_len",
                     "server_timeout", "structured_outputs", "devices"}  # fmt: skip
    assert not server_fields & set(record)  # an openai judge: the local vLLM server does not apply
    expected = {
        **{name: value for name, value in JudgeSettings().public().items() if name not in server_fields},
        "model": "fake-judge",
        "base_url": fake_server.url,
        "concurrency": 3,
        "timeout": 42.0,
        "max_error_rate": 0.5,
    }
    assert {name: record[name] for name in expected} == expected
    assert record["backend"] == "openai" and record["paper_request"] is True
    assert record["request"] == {
        "temperature": 0.0, "max_tokens": 256, "top_p": 1.0, "frequency_penalty": 0, "presence_penalty": 0,
    }  # fmt: skip
    assert "api_key" not in record

    # a rescore records its own judge, and keeps the source run's record as provenance
    rescored = tmp_path / "rescored"
    rescore = subprocess.run(
        [str(Path(sys.executable).with_name("coconot")), "rescore", str(out), "--output-dir", str(rescored),
         "--no-progress", "--judge-concurrency", "5"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rescore.returncode == 0, rescore.stderr[-3000:]
    results = json.loads(next(rescored.rglob("results_*.json")).read_text())
    # the endpoint's shutdown date is recorded by lm_eval runs (rescore does not read it yet)
    assert record["shutdown_date"] is None
    assert results["configs"]["coconot_original"]["metadata"]["judge_settings"] == {
        **{name: value for name, value in record.items() if name != "shutdown_date"},
        "concurrency": 5,
    }
    assert (
        results["config"]["rescore"]["source_judge_metadata"]["coconot_original"]["judge_settings"] == record
    )

    # the key is in no log and no file: results, samples, the verdict cache
    assert JUDGE_KEY not in run.log + rescore.stdout + rescore.stderr
    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert {".json", ".jsonl", ".sqlite3"} <= {path.suffix for path in written}
    for path in written:
        assert JUDGE_KEY.encode() not in path.read_bytes(), path


def test_an_offline_judge_records_no_model_endpoint_or_decoding() -> None:
    # the README: "the offline heuristic judge records no model, endpoint or decoding"
    record = judge_provenance(JudgeSettings.resolve({"judge_backend": "heuristic"}))
    decoding = {"model", "base_url", "endpoint", "temperature", "max_tokens", "reasoning_effort", "top_p"}
    assert not (decoding | {"vllm_revision", "devices", "price_known"}) & set(record)
    assert record["backend"] == "heuristic" and record["judge"] == "heuristic"
