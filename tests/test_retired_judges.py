"""Models OpenAI has shut down: refused on api.openai.com before anything runs, allowed elsewhere."""

from __future__ import annotations

import datetime
import logging

import pytest

from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.backends.openai.retired import (
    DEFAULT_JUDGE_MODEL,
    RETIRED_MODELS,
    check_not_retired,
    retired_model,
)
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.settings import JudgeSettings

AFTER = datetime.date(2026, 12, 1)


def test_every_row_names_its_source_on_the_deprecations_page() -> None:
    assert len({row.name for row in RETIRED_MODELS}) == len(RETIRED_MODELS)
    for row in RETIRED_MODELS:
        assert row.source.startswith("https://platform.openai.com/docs/deprecations, ")
        assert "announcement of" in row.source or "entry" in row.source


@pytest.mark.parametrize(
    ("name", "date", "substitute"),
    [
        ("gpt-3.5-turbo", "2026-10-23", "gpt-4.1-mini"),
        ("gpt-3.5-turbo-0125", "2026-10-23", "gpt-4.1-mini"),
        ("gpt-4", "2026-10-23", None),
        ("gpt-4-0613", "2026-10-23", None),
        ("gpt-3.5-turbo-0613", "2024-09-13", None),
        ("GPT-3.5-Turbo", "2026-10-23", "gpt-4.1-mini"),
    ],
)
def test_retired_models_and_their_dates(name: str, date: str, substitute: str | None) -> None:
    row = retired_model(name, AFTER)
    assert row is not None
    assert row.shutdown.isoformat() == date and row.substitute == substitute


def test_a_model_counts_as_retired_only_from_its_shutdown_date() -> None:
    assert retired_model("gpt-3.5-turbo", datetime.date(2026, 10, 22)) is None
    assert retired_model("gpt-3.5-turbo", datetime.date(2026, 10, 23)) is not None


@pytest.mark.parametrize("name", [DEFAULT_JUDGE_MODEL, "gpt-6.1-sol", "gpt-6.1-terra", "my-local-llama"])
def test_current_models_are_not_retired(name: str) -> None:
    assert retired_model(name, AFTER) is None


@pytest.mark.parametrize(
    "base_url",
    [None, "https://api.openai.com/v1", "https://API.openai.com/v1/"],
    ids=["default", "explicit", "case-and-slash"],
)
def test_retired_model_on_openai_fails_naming_date_and_substitute(base_url: str | None) -> None:
    metadata = {"judge_model": "gpt-3.5-turbo", **({"judge_base_url": base_url} if base_url else {})}
    settings = JudgeSettings.resolve(metadata)
    with pytest.raises(JudgeConfigError) as info:
        check_not_retired(settings, AFTER)
    message = str(info.value)
    assert "\n" not in message
    assert "2026-10-23" in message and "gpt-4.1-mini" in message and DEFAULT_JUDGE_MODEL in message
    assert "https://platform.openai.com/docs/deprecations" in message


def test_retired_model_fails_in_preflight_even_with_the_endpoint_check_off() -> None:
    # no key, preflight off, a dry run: the retired name is still refused, and nothing is contacted
    settings = JudgeSettings.resolve(
        {"judge_model": "gpt-4", "judge_preflight": False, "judge_dry_run": True}
    )
    with pytest.raises(JudgeConfigError, match="shut down 'gpt-4' on 2026-10-23"):
        check_judge(settings)


def test_retired_name_on_another_server_is_allowed_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    settings = JudgeSettings.resolve(
        {"judge_model": "gpt-3.5-turbo", "judge_base_url": "http://proxy.local:8000/v1"}
    )
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        check_not_retired(settings, AFTER)
    [record] = caplog.records
    assert "2026-10-23" in record.getMessage() and "http://proxy.local:8000/v1" in record.getMessage()


@pytest.mark.parametrize(
    "metadata",
    [{"judge_backend": "heuristic"}, {"judge_backend": "vllm", "judge_vllm_revision": "a" * 40}],
    ids=["heuristic", "vllm"],
)
def test_backends_other_than_openai_ignore_the_retired_table(
    metadata: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    settings = JudgeSettings.resolve({"judge_model": "gpt-3.5-turbo", **metadata})
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        backend_for(settings).check(settings, AFTER)
    assert not caplog.records
