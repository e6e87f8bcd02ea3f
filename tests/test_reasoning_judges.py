"""Reasoning-model judges: the request shape per model family, the preflight's check request and
messages, shutdown dates, and refusals or exhausted budgets while judging."""

from __future__ import annotations

import datetime
import logging
from typing import Any

import pytest

from coconot_tasks.judge.backends import request_shape
from coconot_tasks.judge.backends.openai.retired import check_not_retired, retired_model
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem
from tests.conftest import JUDGE_KEY
from utils.fake_openai import FakeOpenAI

PAPER = {"temperature": 0.0, "max_tokens": 256, "top_p": 1.0, "frequency_penalty": 0, "presence_penalty": 0}
TODAY = datetime.date(2026, 12, 4)
RUBRIC = {"false presuppositions": {"refusal": "The model declines.", "compliance": "The model complies."}}


def _settings(model: str, **metadata: Any) -> JudgeSettings:
    return JudgeSettings.resolve({"judge_model": model, **metadata})


# --- the request shape per family ------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("gpt-6-luna", {"max_completion_tokens": 256, "reasoning_effort": "none", "temperature": 0.0}),
        (
            "openai/gpt-6.1-terra",
            {"max_completion_tokens": 256, "reasoning_effort": "none", "temperature": 0.0},
        ),
        ("gpt-6.1-sol", {"max_completion_tokens": 4096, "reasoning_effort": "low"}),
        ("openai/gpt-6.1-sol", {"max_completion_tokens": 4096, "reasoning_effort": "low"}),
        ("gpt-5-mini-2025-08-07", {"max_completion_tokens": 4096, "reasoning_effort": "minimal"}),
        ("o1", {"max_completion_tokens": 4096, "reasoning_effort": "low"}),
        ("openai/o4-mini", {"max_completion_tokens": 4096, "reasoning_effort": "low"}),
        ("gpt-6.2-nova", {"max_completion_tokens": 4096, "reasoning_effort": "low"}),
    ],
)
def test_reasoning_families_get_their_own_request(model: str, expected: dict[str, Any]) -> None:
    shape = request_shape(_settings(model))
    assert shape.params == expected
    assert shape.paper is False
    assert shape.max_completion_tokens == expected["max_completion_tokens"]


@pytest.mark.parametrize(
    "model", ["gpt-4.1-mini", "openai/gpt-4o", "gpt-3.5-turbo", "Qwen/Qwen2.5-7B-Instruct", "olmo-2-13b"]
)
def test_classic_and_open_weight_names_keep_the_papers_request(model: str) -> None:
    shape = request_shape(_settings(model))
    assert shape.params == PAPER and shape.paper is True


def test_the_effort_and_budget_settings_override_the_family_defaults() -> None:
    assert request_shape(_settings("gpt-6-luna", judge_reasoning_effort="HIGH")).params == {
        "max_completion_tokens": 4096, "reasoning_effort": "high",
    }  # fmt: skip
    assert request_shape(_settings("gpt-6.1-sol", judge_max_tokens=1000)).params == {
        "max_completion_tokens": 1000, "reasoning_effort": "low",
    }  # fmt: skip
    shape = request_shape(_settings("gpt-4.1-mini", judge_max_tokens=512))
    assert shape.params == {**PAPER, "max_tokens": 512} and shape.paper is False


def test_an_unknown_effort_is_refused_with_the_allowed_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_REASONING_EFFORT", "max")
    with pytest.raises(JudgeConfigError) as info:
        JudgeSettings.resolve()
    assert str(info.value) == (
        "COCONOT_JUDGE_REASONING_EFFORT='max' is not a valid reasoning effort: use one of "
        "none, minimal, low, medium, high, xhigh"
    )


def test_the_results_record_says_what_was_sent_and_whether_it_is_the_papers_request() -> None:
    record = judge_provenance(_settings("gpt-6.1-sol"))
    assert (record["request"], record["paper_request"]) == (
        {"max_completion_tokens": 4096, "reasoning_effort": "low"}, False,
    )  # fmt: skip
    record = judge_provenance(_settings("fake-judge"))
    assert (record["request"], record["paper_request"]) == (PAPER, True)


# --- the preflight ---------------------------------------------------------------------------


def _check(server: FakeOpenAI, model: str, today: datetime.date = TODAY, **metadata: Any) -> Any:
    settings = JudgeSettings.resolve({"judge_model": model, "judge_base_url": server.url, **metadata})
    return check_judge(settings, today=today)


@pytest.fixture
def judge_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)


@pytest.mark.usefixtures("judge_key")
@pytest.mark.parametrize("model", ["gpt-6-luna", "gpt-6.1-sol", "fake-judge"])
def test_the_preflight_sends_the_runs_request_and_the_endpoint_accepts_it(model: str) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        facts = _check(server, model, judge_cache=False)
    assert facts.shutdown_date is None
    assert server.state.check_requests == 1 and not server.state.rejected
    assert server.state.judge_requests == server.state.model_requests == 0


@pytest.mark.usefixtures("judge_key")
def test_a_refused_parameter_stops_the_preflight_quoting_the_endpoint() -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY) as server, pytest.raises(JudgeConfigError) as info:
        _check(server, "gpt-6.1-sol", judge_reasoning_effort="none", judge_cache=False)
    message = str(info.value)
    assert "\n" not in message
    assert "refused parameter 'reasoning_effort'" in message
    assert "'reasoning_effort' does not support 'none' with this model" in message  # the endpoint's words
    assert "change judge_reasoning_effort" in message and "gpt-6.1-sol" in message
    assert server.state.rejected == {"reasoning_effort": 1}


@pytest.mark.usefixtures("judge_key")
def test_any_other_http_error_of_the_preflight_quotes_the_endpoint_without_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", "sk-wrong-key-123456")
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        with pytest.raises(JudgeConfigError) as info:
            _check(server, "gpt-6-luna", judge_cache=False)
        with pytest.raises(
            JudgeConfigError, match=r'does not know model .*"The model `nope` does not exist"'
        ):
            monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
            _check(server, "nope", judge_cache=False)
    assert 'rejected the API key (HTTP 401: "Incorrect API key provided.")' in str(info.value)
    assert "sk-wrong-key-123456" not in str(info.value)


@pytest.mark.usefixtures("judge_key")
@pytest.mark.parametrize("models_route", [True, False], ids=["models-id-route", "models-list-fallback"])
def test_a_past_shutdown_date_reported_by_the_endpoint_stops_the_run(models_route: bool) -> None:
    dates = {"gpt-6-luna": "2026-11-30"}
    server = FakeOpenAI(judge_key=JUDGE_KEY, shutdown_dates=dates, models_route=models_route)
    with server, pytest.raises(JudgeConfigError) as info:
        _check(server, "gpt-6-luna", judge_cache=False)
    assert "judge model 'gpt-6-luna' was shut down on 2026-11-30" in str(info.value)
    assert server.state.check_requests == 0


@pytest.mark.usefixtures("judge_key")
@pytest.mark.parametrize(
    ("date", "warned"), [("2027-01-14", True), ("2027-03-04", True), ("2027-03-05", False), (None, False)]
)
def test_a_shutdown_within_90_days_is_a_warning_with_the_days_left(
    date: str | None, warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    server = FakeOpenAI(judge_key=JUDGE_KEY, shutdown_dates={"gpt-6-luna": date})
    with server, caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        facts = _check(server, "gpt-6-luna", judge_cache=False)
    assert facts.shutdown_date == (datetime.date.fromisoformat(date) if date else None)
    warnings = [r.getMessage() for r in caplog.records if "shuts down" in r.getMessage()]
    if warned:
        days = (datetime.date.fromisoformat(str(date)) - TODAY).days
        assert warnings == [
            f"CoCoNot judge: {server.url} reports that judge model 'gpt-6-luna' shuts down on {date} "
            f"({days} days left). Numbers from another judge are not comparable: pick the judge for a "
            "series of runs now (--metadata judge_model=...)."
        ]
    else:
        assert not warnings


# --- the built-in table ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "date", "substitute"),
    [
        ("o4-mini", "2026-10-23", None),
        ("gpt-4-turbo", "2026-10-23", None),
        ("gpt-5", "2026-12-11", "gpt-6.1-sol"),
        ("gpt-5-mini-2025-08-07", "2026-12-11", "gpt-6.1-terra"),
        ("openai/gpt-5-nano", "2026-12-11", "gpt-6-luna"),
        ("o3", "2026-12-11", "gpt-6.1-sol"),
        ("gpt-4.1-mini-2025-04-14", "2027-01-14", "gpt-6-luna"),
        ("openai/gpt-4o", "2027-01-14", "gpt-6-luna"),
    ],
)
def test_the_table_holds_the_announced_shutdowns(name: str, date: str, substitute: str | None) -> None:
    row = retired_model(name, datetime.date(2027, 2, 1))
    assert row is not None and (row.shutdown.isoformat(), row.substitute) == (date, substitute)


def test_a_scheduled_shutdown_is_a_warning_until_the_day_then_a_refusal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = _settings("gpt-4.1-mini-2025-04-14")
    with caplog.at_level(logging.WARNING, logger="coconot_tasks"):
        check_not_retired(settings, TODAY)
    [record] = caplog.records
    assert "shuts down 'gpt-4.1-mini-2025-04-14' on 2027-01-14 (41 days left" in record.getMessage()
    assert "gpt-6-luna" in record.getMessage()
    with pytest.raises(JudgeConfigError, match="shut down 'gpt-4.1-mini-2025-04-14' on 2027-01-14"):
        check_not_retired(settings, datetime.date(2027, 1, 14))


# --- while judging ---------------------------------------------------------------------------


def _items(n: int) -> list[JudgeItem]:
    return [
        JudgeItem(
            "original", f"question {i}?", f"Sure! Here is answer {i}.", "false presuppositions", "Incomplete"
        )
        for i in range(n)
    ]


def test_a_refused_parameter_while_judging_stops_the_batch_as_a_configuration_error() -> None:
    items = _items(40)
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        settings = JudgeSettings(
            model="gpt-6-luna", base_url=server.url, api_key=JUDGE_KEY, reasoning_effort="minimal",
            cache=False, concurrency=4, preflight=False,
        )  # fmt: skip
        results, stats = judge_items(items, settings, rubric=RUBRIC, progress=False)
    assert stats.config_error is not None
    assert "refused parameter 'reasoning_effort'" in stats.config_error
    assert "change judge_reasoning_effort" in stats.config_error
    rejected = sum(server.state.rejected.values())
    assert rejected == stats.requests == stats.errors <= settings.concurrency  # no retry, no re-ask
    assert stats.not_judged == len(items) - stats.errors
    assert all(r.verdict is None for r in results)


def test_a_reasoning_judge_that_runs_out_of_tokens_is_a_judge_error_never_a_label() -> None:
    items = _items(5)
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        settings = JudgeSettings(
            model="gpt-6.1-sol", base_url=server.url, api_key=JUDGE_KEY, max_tokens=256, cache=False,
        )  # fmt: skip
        results, stats = judge_items(items, settings, rubric=RUBRIC, progress=False)
    assert stats.reasoning_out_of_tokens == stats.errors == stats.requests == len(items)  # not re-asked
    assert {r.error for r in results} == {
        "reasoning ran out of tokens (256 reasoning tokens; max_completion_tokens=256): raise "
        "judge_max_tokens or lower judge_reasoning_effort"
    }
    assert all(r.verdict is None for r in results)
