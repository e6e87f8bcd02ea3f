"""Through the real ``lm_eval`` command line: reasoning-model judges (the default gpt-6-luna and
gpt-6.1-sol) against a fake that refuses what OpenAI's reasoning models refuse, shutdown dates the
endpoint reports, and a refusal met while judging (slow)."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import (
    Run,
    expected_rates,
    judge_environment,
    lm_eval_command,
    run_lm_eval,
    task_metrics,
)
from utils.fake_openai import DEFAULT_JUDGE, SOL_JUDGE, FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("data_dir")]

INDICES = {"original": list(range(0, 1001, 50)), "contrast": list(range(0, 379, 20))}
SAMPLES = json.dumps({f"coconot_{name}": indices for name, indices in INDICES.items()})


def _run(server: FakeOpenAI, out: Path, model: str | None, tasks: str = "coconot", **env: str) -> Run:
    environment = judge_environment(server.url, JUDGE_KEY, **env)
    if model is None:
        del environment["COCONOT_JUDGE_MODEL"]  # the package's default judge
    else:
        environment["COCONOT_JUDGE_MODEL"] = model
    return run_lm_eval(lm_eval_command(server.url, out, tasks, "--samples", SAMPLES), environment, out)


@pytest.mark.parametrize("model", [None, SOL_JUDGE], ids=["default-gpt-6-luna", "gpt-6.1-sol"])
def test_reasoning_judges_score_both_sets_with_no_refused_request(tmp_path: Path, model: str | None) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        run = _run(server, tmp_path / "out", model)
    assert run.returncode == 0, run.log[-4000:]
    assert not server.state.rejected and server.state.check_requests == 1
    results = run.results()
    for set_name, indices in INDICES.items():
        task = f"coconot_{set_name}"
        rows = load_rows(set_name)
        got = task_metrics(results, task)
        expected = expected_rates(set_name, [rows[i] for i in indices])
        assert {k: v for k, v in got.items() if k.split(":")[0] in ("compliance_rate", "neither_rate")} == (
            pytest.approx(expected)
        )
        assert got["judge_error_rate"] == 0
        record = results["configs"][task]["metadata"]["judge_settings"]
        assert record["judge"] == f"openai:{model or DEFAULT_JUDGE}"
        assert record["paper_request"] is False and record["shutdown_date"] is None
        assert record["request"] == (
            {"max_completion_tokens": 4096, "reasoning_effort": "low"}
            if model == SOL_JUDGE
            else {"max_completion_tokens": 256, "reasoning_effort": "none", "temperature": 0.0}
        )


def test_a_judge_the_endpoint_reports_as_shut_down_is_refused_before_generation(tmp_path: Path) -> None:
    past = (datetime.date.today() - datetime.timedelta(days=3)).isoformat()
    with FakeOpenAI(judge_key=JUDGE_KEY, shutdown_dates={DEFAULT_JUDGE: past}) as server:
        run = _run(server, tmp_path / "out", None, tasks="coconot_original")
    assert run.returncode != 0
    assert f"judge model '{DEFAULT_JUDGE}' was shut down on {past}" in run.log
    assert server.state.model_requests == 0 and server.state.judge_requests == 0
    assert not list((tmp_path / "out").rglob("results_*.json"))


def test_a_judge_shutting_down_within_90_days_is_warned_about_and_recorded(tmp_path: Path) -> None:
    soon = datetime.date.today() + datetime.timedelta(days=30)
    with FakeOpenAI(judge_key=JUDGE_KEY, shutdown_dates={DEFAULT_JUDGE: soon.isoformat()}) as server:
        run = _run(server, tmp_path / "out", None, tasks="coconot_original")
    assert run.returncode == 0, run.log[-4000:]
    days = (soon - datetime.date.today()).days
    assert f"shuts down on {soon.isoformat()} ({days} days left)" in run.log
    record = run.results()["configs"]["coconot_original"]["metadata"]["judge_settings"]
    assert record["shutdown_date"] == soon.isoformat()


def test_a_refusal_while_judging_stops_judging_and_is_reported(tmp_path: Path) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        run = _run(
            server, tmp_path / "out", None, tasks="coconot_original",
            COCONOT_JUDGE_PREFLIGHT="0", COCONOT_JUDGE_REASONING_EFFORT="minimal",
            COCONOT_JUDGE_CONCURRENCY="2",
        )  # fmt: skip
    assert "refused parameter 'reasoning_effort'" in run.log and "change judge_reasoning_effort" in run.log
    assert 0 < server.state.rejected["reasoning_effort"] <= 2 and server.state.judge_answers == 0
    # A run whose every judge call was refused never looks like a success: status 3 after the
    # results are written, and the advice names the setting, not "rerun the same command".
    assert run.returncode == 3, run.log[-4000:]
    assert run.results()["results"]["coconot_original"]
    last = run.stderr.strip().splitlines()[-1]
    assert "judge_reasoning_effort" in last and "rerun the same command" not in last, last
    verdicts = [json.loads(s["filtered_resps"][0]) for s in _samples(run)]
    assert {v["outcome"] for v in verdicts} <= {"error", "not_judged", "empty_response"}
    assert sum(v["outcome"] == "not_judged" for v in verdicts) > 0


def _samples(run: Run) -> list[dict[str, object]]:
    return run.samples("coconot_original")
