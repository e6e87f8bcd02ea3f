"""JudgeSettings.resolve: --metadata > environment > defaults; secrets from the env only."""

from __future__ import annotations

import json

import pytest

from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings

KEY = "sk-test-SECRET-9a8b7c6d"
OTHER_KEY = "sk-openai-OTHER-1234"


def test_defaults_are_the_papers_decoding_with_a_judge_that_exists() -> None:
    settings = JudgeSettings.resolve()
    assert settings.backend == "openai"
    # the paper's gpt-3.5-turbo was shut down; OpenAI's substitute, pinned as a dated snapshot
    assert settings.model == "gpt-4.1-mini-2025-04-14"
    assert settings.temperature == 0.0
    assert settings.max_tokens == 256
    assert settings.top_p == 1.0
    assert settings.api_key is None
    assert settings.base_url is None
    assert settings.judge_id == "openai:gpt-4.1-mini-2025-04-14"
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
            "--metadata judge_timeout='soon' is not a valid number",
        ),
        ({}, {"COCONOT_JUDGE_MAX_COST_USD": "$3"}, "COCONOT_JUDGE_MAX_COST_USD='$3' is not a valid number"),
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


@pytest.mark.parametrize("value", ["0", "-3", 0])
def test_concurrency_below_one_is_rejected(value: object, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(JudgeConfigError, match="at least 1"):
        JudgeSettings.resolve({"judge_concurrency": value})
    monkeypatch.setenv("COCONOT_JUDGE_CONCURRENCY", str(value))
    with pytest.raises(JudgeConfigError, match="at least 1"):
        JudgeSettings.resolve()


def test_concurrency_of_one_is_fine() -> None:
    assert JudgeSettings.resolve({"judge_concurrency": "1"}).concurrency == 1


@pytest.mark.parametrize("secret", ["judge_api_key", "api_key", "openai_api_key"])
def test_key_in_metadata_is_rejected_with_env_var_hint(secret: str) -> None:
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve({secret: KEY})
    message = str(info.value)
    assert secret in message
    assert "COCONOT_JUDGE_API_KEY" in message
    assert KEY not in message  # the error itself must not echo the secret


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


def test_unrelated_metadata_is_ignored() -> None:
    settings = JudgeSettings.resolve({"data_dir": "/x", "version": 1.0, "judge_model": "gpt-4"})
    assert settings.model == "gpt-4"


def test_endpoint_is_the_base_url_without_credentials_or_a_stable_local_name() -> None:
    from coconot_tasks.judge.settings import LOCAL_VLLM_ENDPOINT

    assert JudgeSettings.resolve().endpoint == "https://api.openai.com/v1"
    proxy = JudgeSettings.resolve({"judge_base_url": "http://judge.local:8000/v1/"})
    assert proxy.endpoint == "http://judge.local:8000/v1"
    # the managed local server gets a new port each run: its verdicts stay cached under one name
    assert JudgeSettings.resolve({"judge_backend": "vllm"}).endpoint == LOCAL_VLLM_ENDPOINT
