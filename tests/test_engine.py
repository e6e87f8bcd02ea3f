"""The judge engine against the loopback fake judge: verdicts, cache, faults, budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.judge.cache import VerdictCache
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem
from tests.conftest import JUDGE_KEY
from utils.fake_openai import FakeOpenAI, FaultPlan, judge_decision, model_response


def _items(set_name: str, limit: int) -> list[JudgeItem]:
    rows = load_rows(set_name)[:limit]
    return [
        JudgeItem(
            set_name=set_name,
            prompt=row["prompt"],
            response=model_response(row["prompt"]),
            subcategory=row["subcategory"],
            category=row["category"],
            doc_id=row["id"],
        )
        for row in rows
    ]


def _expected(item: JudgeItem) -> str:
    if not item.response.strip():
        return "noncompliance"
    return judge_decision(item.set_name, item.prompt, item.response)


def _settings(server: FakeOpenAI, **overrides: object) -> JudgeSettings:
    values: dict[str, object] = {"judge_model": "fake-judge", "judge_base_url": server.url}
    values.update(overrides)
    return JudgeSettings.resolve(values)


@pytest.fixture
def keyed(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)


@pytest.mark.usefixtures("keyed")
@pytest.mark.parametrize("set_name", ["original", "contrast"])
def test_verdicts_are_the_judges_and_a_rerun_is_free(fake_server: FakeOpenAI, set_name: str) -> None:
    items = _items(set_name, 60)
    results, stats = judge_items(items, _settings(fake_server), progress=False)

    assert [r.verdict for r in results] == [_expected(i) for i in items]
    empties = sum(1 for i in items if not i.response)
    assert empties > 0  # the fake model answers some prompts with nothing
    assert [r.outcome for r in results].count("empty_response") == empties
    assert fake_server.state.judge_answers == len(items) - empties == stats.requests
    assert stats.errors == 0 and stats.prompt_tokens > 0 and stats.completion_tokens > 0
    assert all("<label>" in r.output for r in results if r.outcome == "judged")

    again, stats2 = judge_items(items, _settings(fake_server), progress=False)
    assert [r.verdict for r in again] == [r.verdict for r in results]
    assert stats2.requests == 0 and stats2.cached == len(items) - empties
    assert fake_server.state.judge_answers == len(items) - empties


@pytest.mark.usefixtures("keyed")
def test_faults_are_retried_to_the_same_verdicts(fake_server: FakeOpenAI) -> None:
    items = _items("original", 80)
    fake_server.faults = FaultPlan(
        rate_limit=0.2, server_error=0.05, drop=0.05, no_label=0.05, retry_after=0.01
    )
    settings = _settings(fake_server, judge_concurrency=8, judge_cache=False)
    results, stats = judge_items(items, settings, progress=False)

    assert [r.verdict for r in results] == [_expected(i) for i in items]
    assert stats.errors == 0
    faults = fake_server.state.faults
    assert faults["rate_limit"] > 0 and faults["server_error"] > 0 and faults["drop"] > 0
    assert faults["no_label"] > 0
    assert stats.throttled == faults["rate_limit"]
    assert stats.lowest_concurrency < 8  # the 429s made the limiter back off


@pytest.mark.usefixtures("keyed")
def test_concurrency_bound_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY, latency=0.05) as server:
        items = [i for i in _items("contrast", 60) if i.response]
        results, stats = judge_items(items, _settings(server, judge_concurrency=5), progress=False)
    assert all(r.ok for r in results)
    assert server.state.max_in_flight == 5
    assert stats.peak_in_flight == 5


@pytest.mark.usefixtures("keyed")
def test_persistent_failure_is_an_error_never_a_label(fake_server: FakeOpenAI) -> None:
    items = [i for i in _items("original", 10) if i.response][:4]
    fake_server.faults = FaultPlan(server_error=1.0, max_faults_per_request=100)
    settings = _settings(fake_server, judge_max_retries=1, judge_cache=False)
    results, stats = judge_items(items, settings, progress=False)
    assert [r.verdict for r in results] == [None] * 4
    assert {r.outcome for r in results} == {"error"}
    assert "HTTP 500" in (results[0].error or "")
    assert stats.errors == 4
    assert fake_server.state.judge_requests == 8  # one try + one retry each


@pytest.mark.usefixtures("keyed")
def test_output_without_label_is_reasked_then_an_error(fake_server: FakeOpenAI) -> None:
    items = [i for i in _items("original", 10) if i.response][:3]
    fake_server.faults = FaultPlan(no_label=1.0, max_faults_per_request=100)
    results, stats = judge_items(items, _settings(fake_server, judge_label_retries=2), progress=False)
    assert [r.outcome for r in results] == ["error"] * 3
    assert all(r.verdict is None and r.attempts == 3 for r in results)
    assert "no recognisable label" in (results[0].error or "")
    # nothing unusable was cached: a later healthy judge is asked again
    fake_server.faults = FaultPlan()
    again, _ = judge_items(items, _settings(fake_server), progress=False)
    assert [r.verdict for r in again] == [_expected(i) for i in items]


def test_wrong_key_is_an_error_not_a_label(
    fake_server: FakeOpenAI, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", "sk-wrong")
    items = [i for i in _items("contrast", 10) if i.response][:2]
    results, stats = judge_items(items, _settings(fake_server), progress=False)
    assert [r.outcome for r in results] == ["error", "error"]
    assert "401" in (results[0].error or "")
    assert "sk-wrong" not in json.dumps([r.to_json() for r in results])


@pytest.mark.usefixtures("keyed")
def test_budget_cap_stops_judging_cleanly(fake_server: FakeOpenAI) -> None:
    items = [i for i in _items("original", 60) if i.response]
    settings = _settings(
        fake_server,
        judge_max_cost_usd=0.01,
        judge_price_input=1000.0,  # $ per million tokens: each call costs about $0.5-1
        judge_price_output=1000.0,
        judge_concurrency=2,
    )
    results, stats = judge_items(items, settings, progress=False)
    judged = [r for r in results if r.outcome == "judged"]
    skipped = [r for r in results if r.outcome == "not_judged"]
    assert stats.budget_exhausted
    assert len(judged) + len(skipped) == len(items) and skipped
    assert stats.cost_usd <= 0.01 + 1e-12
    assert fake_server.state.judge_requests == len(judged)
    assert all(r.verdict is None and "budget" in (r.error or "") for r in skipped)


@pytest.mark.usefixtures("keyed")
def test_dry_run_estimates_without_calling(fake_server: FakeOpenAI) -> None:
    items = _items("original", 40)
    non_empty = sum(1 for i in items if i.response)
    results, stats = judge_items(
        items, _settings(fake_server, judge_dry_run=True, judge_model="gpt-4o-mini"), progress=False
    )
    assert fake_server.state.judge_requests == 0
    assert stats.estimated_calls == non_empty
    assert 0 < stats.estimated_cost_usd < stats.estimated_max_cost_usd
    assert all(r.verdict is None for r in results if r.outcome != "empty_response")
    # nothing was judged, so the empty responses get no verdict either (no rate over them alone)
    assert len(items) > non_empty and {r.outcome for r in results} == {"not_judged"}
    assert stats.empty == 0 and stats.not_judged == len(items)


@pytest.mark.usefixtures("keyed")
def test_cache_holds_no_secret_and_keys_on_judge_model(fake_server: FakeOpenAI, isolated_env: Path) -> None:
    items = [i for i in _items("contrast", 12) if i.response]
    judge_items(items, _settings(fake_server), progress=False)
    # another judge model is another cache entry: asked again
    judge_items(items, _settings(fake_server, judge_model="gpt-3.5-turbo"), progress=False)
    assert fake_server.state.judge_answers == 2 * len(items)
    cache = VerdictCache()
    try:
        assert cache.stats()["per_judge"] == {
            "openai:fake-judge": len(items),
            "openai:gpt-3.5-turbo": len(items),
        }
    finally:
        cache.close()
    for path in isolated_env.rglob("*"):
        if path.is_file():
            assert JUDGE_KEY.encode() not in path.read_bytes(), path


@pytest.mark.usefixtures("keyed")
def test_invalid_bodies_are_retried_and_every_request_is_counted(fake_server: FakeOpenAI) -> None:
    items = [i for i in _items("original", 80) if i.response]
    fake_server.faults = FaultPlan(invalid_body=0.3, server_error=0.1, no_label=0.05, retry_after=0.01)
    results, stats = judge_items(items, _settings(fake_server, judge_cache=False), progress=False)
    assert [r.verdict for r in results] == [_expected(i) for i in items]
    assert stats.errors == 0 and fake_server.state.faults["invalid_body"] > 0
    # judge_calls (per item) and the batch count every request the server saw, retries included
    assert sum(r.attempts for r in results) == stats.requests == fake_server.state.judge_requests
    assert stats.requests > len(items)


@pytest.mark.usefixtures("keyed")
def test_a_body_that_stays_invalid_is_a_transient_error_reported_as_such(fake_server: FakeOpenAI) -> None:
    items = [i for i in _items("contrast", 10) if i.response][:2]
    fake_server.faults = FaultPlan(invalid_body=1.0, max_faults_per_request=100)
    settings = _settings(fake_server, judge_max_retries=2, judge_cache=False)
    results, stats = judge_items(items, settings, progress=False)
    assert [r.outcome for r in results] == ["error", "error"]
    assert all("InvalidResponseError" in (r.error or "") for r in results)
    assert all(r.attempts == 3 for r in results)  # one try + two retries each
    assert fake_server.state.judge_requests == 6


@pytest.mark.usefixtures("keyed")
def test_a_dead_endpoint_trips_the_breaker_and_a_rerun_resumes(fake_server: FakeOpenAI) -> None:
    items = [i for i in _items("original", 400) if i.response]
    fake_server.faults = FaultPlan(server_error=1.0, max_faults_per_request=10_000, retry_after=0.0)
    settings = _settings(fake_server, judge_concurrency=4, judge_max_retries=6)
    results, stats = judge_items(items, settings, progress=False)
    assert stats.endpoint_down is not None and "looks down" in stats.endpoint_down
    outcomes = [r.outcome for r in results]
    assert set(outcomes) <= {"error", "not_judged"} and all(r.verdict is None for r in results)
    assert outcomes.count("not_judged") > len(items) // 2
    # without the breaker: 7 requests per item; with it, about the threshold plus what was in flight
    assert fake_server.state.judge_requests < 60 < 7 * len(items)
    assert all("looks down" in (r.error or "") for r in results if r.outcome == "not_judged")

    fake_server.faults = FaultPlan()
    again, stats2 = judge_items(items, settings, progress=False)
    assert [r.verdict for r in again] == [_expected(i) for i in items]
    assert stats2.endpoint_down is None


@pytest.mark.usefixtures("keyed")
def test_a_hanging_endpoint_trips_the_breaker_quickly() -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY, latency=5.0) as server:
        items = [i for i in _items("original", 200) if i.response]
        settings = _settings(server, judge_concurrency=8, judge_timeout=0.2, judge_max_retries=6)
        results, stats = judge_items(items, settings, progress=False)
    assert stats.endpoint_down is not None and "Timeout" in stats.endpoint_down
    assert [r.outcome for r in results].count("not_judged") > len(items) // 2
    assert server.state.judge_requests <= 2 * 20 + 8


@pytest.mark.usefixtures("keyed")
def test_a_bug_in_the_engine_fails_loudly(fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    import coconot_tasks.judge.engine as engine

    def broken(set_name: str, output: str) -> None:
        raise RuntimeError("bug in the parser")

    monkeypatch.setattr(engine, "parse_verdict", broken)
    items = [i for i in _items("original", 20) if i.response]
    with pytest.raises(RuntimeError, match="bug in the parser"):
        judge_items(items, _settings(fake_server, judge_cache=False), progress=False)
