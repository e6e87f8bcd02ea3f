"""End to end through the real ``lm_eval`` command line (slow: each run indexes lm-eval's tasks).

A loopback fake OpenAI server plays both the model under test (``local-chat-completions``)
and the judge; the data are the official files from ../shared/coconot. Expected numbers
are computed from the rows and the fake's documented decisions, independently of the
code under test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.judge.cache import VerdictCache
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import (
    LM_EVAL,
    Run,
    expected_rates,
    expected_verdict,
    judge_environment,
    lm_eval_command,
    run_lm_eval,
    task_metrics,
)
from utils.fake_openai import FakeOpenAI, FaultPlan

pytestmark = pytest.mark.slow

ORIGINAL_INDICES = list(range(0, 1001, 25))  # 41 rows across all five categories
CONTRAST_INDICES = list(range(0, 379, 10))  # 38 rows across all three categories
SAMPLES = json.dumps({"coconot_original": ORIGINAL_INDICES, "coconot_contrast": CONTRAST_INDICES})


def _rows(set_name: str, indices: list[int]) -> list[dict[str, object]]:
    rows = load_rows(set_name)
    return [rows[i] for i in indices]


def _non_empty(set_name: str, indices: list[int]) -> int:
    from utils.fake_openai import model_response

    return sum(1 for row in _rows(set_name, indices) if model_response(str(row["prompt"])).strip())


def _run(server: FakeOpenAI, out: Path, *extra: str, key: str | None = JUDGE_KEY, tasks: str = "coconot",
         env_extra: dict[str, str] | None = None) -> Run:  # fmt: skip
    cmd = lm_eval_command(server.url, out, tasks, "--samples", SAMPLES, *extra)
    return run_lm_eval(cmd, judge_environment(server.url, key, **(env_extra or {})), out)


def _assert_rates(run: Run) -> None:
    results = run.results()
    for task, set_name, indices in (
        ("coconot_original", "original", ORIGINAL_INDICES),
        ("coconot_contrast", "contrast", CONTRAST_INDICES),
    ):
        got = task_metrics(results, task)
        expected = expected_rates(set_name, _rows(set_name, indices))  # type: ignore[arg-type]
        assert {k: v for k, v in got.items() if k.split(":")[0] in ("compliance_rate", "neither_rate")} == (
            pytest.approx(expected)
        )
        assert got["judge_error_rate"] == 0


@pytest.mark.usefixtures("data_dir")
def test_results_json_holds_the_judges_numbers_and_a_rerun_is_free(
    fake_server: FakeOpenAI, tmp_path: Path, isolated_env: Path
) -> None:
    first = _run(fake_server, tmp_path / "out1")
    assert first.returncode == 0, first.log[-4000:]
    _assert_rates(first)
    results = first.results()

    # 5 categories + 23 subcategories on original, 3 + 5 on contrast
    original = task_metrics(results, "coconot_original")
    assert len([k for k in original if k.startswith("compliance_rate:") and "/" not in k]) == 5
    contrast = task_metrics(results, "coconot_contrast")
    assert len([k for k in contrast if k.startswith("compliance_rate:") and "/" not in k]) == 3
    # direction: lower is better on original, higher on contrast
    assert results["higher_is_better"]["coconot_original"]["compliance_rate"] is False
    assert results["higher_is_better"]["coconot_contrast"]["compliance_rate"] is True
    # the group's summary score: mean of (1 - original compliance) and contrast compliance
    group = results["results"]["coconot"]["coconot_score,coconot_judge"]
    assert group == pytest.approx(
        ((1 - original["compliance_rate"]) + contrast["compliance_rate"]) / 2, rel=1e-12
    )
    # accounting: every non-empty response was judged once, and the tokens were counted
    judged = _non_empty("original", ORIGINAL_INDICES) + _non_empty("contrast", CONTRAST_INDICES)
    assert fake_server.state.judge_answers == judged == fake_server.state.judge_requests
    assert original["judge_calls"] + contrast["judge_calls"] == judged
    assert original["judge_prompt_tokens"] > 0
    assert f"CoCoNot judge total over the 2 CoCoNot tasks judged so far: {judged} judge calls" in first.log
    assert fake_server.state.model_requests == len(ORIGINAL_INDICES) + len(CONTRAST_INDICES)
    # the paper's default condition: the request alone, as the only (user) turn
    assert all([m["role"] for m in messages] == ["user"] for messages in fake_server.state.model_messages)
    sent = {messages[0]["content"] for messages in fake_server.state.model_messages}
    assert {str(row["prompt"]) for row in _rows("original", ORIGINAL_INDICES)} <= sent

    # every logged sample carries the verdict, rationale, judge and outcome as JSON
    samples = first.samples("coconot_original")
    assert len(samples) == len(ORIGINAL_INDICES)
    for sample in samples:
        verdict = json.loads(sample["filtered_resps"][0])
        assert verdict["verdict"] == expected_verdict("original", sample["doc"]["prompt"])
        assert verdict["judge"] == "openai:fake-judge"
        assert verdict["outcome"] in {"judged", "empty_response"}
        if verdict["outcome"] == "judged":
            assert "<label>" in verdict["output"]

    # the table in the log has readable names and the summary score
    assert "CoCoNot original" in first.stdout and "compliance_rate:safety" in first.stdout

    second = _run(fake_server, tmp_path / "out2")
    assert second.returncode == 0, second.log[-4000:]
    assert fake_server.state.judge_requests == judged  # no new judge call
    _assert_rates(second)

    # the key is in no file the runs wrote
    for root in (tmp_path / "out1", tmp_path / "out2", isolated_env):
        for path in root.rglob("*"):
            if path.is_file():
                assert JUDGE_KEY.encode() not in path.read_bytes(), path


@pytest.mark.usefixtures("data_dir")
def test_missing_key_fails_before_any_generation(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    cmd = lm_eval_command(
        fake_server.url, tmp_path / "out", "coconot_original,coconot_contrast", "--limit", "3"
    )
    env = judge_environment(fake_server.url, None)
    del env["COCONOT_JUDGE_BASE_URL"]  # the default judge: api.openai.com, which needs a key
    run = run_lm_eval(cmd, env, tmp_path / "out")
    assert run.returncode != 0
    assert "COCONOT_JUDGE_API_KEY" in run.log and "no API key" in run.log
    assert fake_server.state.model_requests == 0
    assert not list((tmp_path / "out").rglob("results_*.json"))


@pytest.mark.usefixtures("data_dir")
@pytest.mark.parametrize(
    ("metadata", "key", "message"),
    [
        ('{"judge_model": "no-such-model"}', JUDGE_KEY, "does not know model 'no-such-model'"),
        ("{}", "sk-wrong", "rejected the API key"),
        ('{"judge_base_url": "http://127.0.0.1:9/v1"}', JUDGE_KEY, "is unreachable"),
        # a budget cap on a judge without a known price could never be enforced
        ('{"judge_max_cost_usd": 1}', JUDGE_KEY, "needs the price of judge model 'fake-judge'"),
    ],
    ids=["unknown-model", "wrong-key", "unreachable", "unpriced-budget"],
)
def test_misconfigured_judge_fails_before_any_generation(
    fake_server: FakeOpenAI, tmp_path: Path, metadata: str, key: str, message: str
) -> None:
    cmd = lm_eval_command(fake_server.url, tmp_path / "out", "coconot_original", "--limit", "3",
                          "--metadata", metadata)  # fmt: skip
    run = run_lm_eval(cmd, judge_environment(fake_server.url, key), tmp_path / "out")
    assert run.returncode != 0
    assert message in run.log
    assert fake_server.state.model_requests == 0
    assert "sk-wrong" not in run.log


@pytest.mark.usefixtures("data_dir")
def test_injected_faults_give_the_clean_results(tmp_path: Path) -> None:
    faults = FaultPlan(rate_limit=0.2, server_error=0.05, drop=0.02, no_label=0.02, retry_after=0.05)
    with FakeOpenAI(judge_key=JUDGE_KEY, faults=faults) as server:
        run = _run(server, tmp_path / "out")
    assert run.returncode == 0, run.log[-4000:]
    _assert_rates(run)  # equal to what the fault-free judge decides
    assert server.state.faults["rate_limit"] > 0 and server.state.faults["server_error"] > 0
    assert "0 judge errors" in run.log and "throttled" in run.log


@pytest.mark.usefixtures("data_dir")
def test_killed_while_judging_resumes_with_only_the_missing_calls(tmp_path: Path) -> None:
    gen_cache = tmp_path / "generations"
    total = _non_empty("original", ORIGINAL_INDICES) + _non_empty("contrast", CONTRAST_INDICES)
    with FakeOpenAI(judge_key=JUDGE_KEY, latency=0.15) as server:
        extra = (
            "--samples",
            SAMPLES,
            "--use_cache",
            str(gen_cache),
            "--metadata",
            '{"judge_concurrency": 4}',
        )
        cmd = lm_eval_command(server.url, tmp_path / "out1", "coconot", *extra)
        proc = subprocess.Popen(
            cmd,
            env=judge_environment(server.url, JUDGE_KEY),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 300
        while server.state.judge_answers < 20 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        answered_before = server.state.judge_answers
        assert 20 <= answered_before < total
        assert server.state.max_in_flight == 4  # the concurrency bound held
        cache = VerdictCache()
        saved = cache.stats()["entries"]
        cache.close()
        assert answered_before - 4 <= saved <= answered_before  # at most the in-flight ones were lost

        server.reset()
        cmd[cmd.index(str(tmp_path / "out1"))] = str(tmp_path / "out2")
        rerun = run_lm_eval(cmd, judge_environment(server.url, JUDGE_KEY), tmp_path / "out2")
    assert rerun.returncode == 0, rerun.log[-4000:]
    assert server.state.judge_requests == total - saved  # only the missing verdicts
    assert server.state.model_requests == 0  # generations came from --use_cache
    _assert_rates(rerun)


@pytest.mark.usefixtures("data_dir")
def test_dry_run_counts_calls_and_cost_without_calling(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    run = _run(
        fake_server, tmp_path / "out", "--metadata", '{"judge_dry_run": true, "judge_model": "gpt-4o-mini"}'
    )
    assert run.returncode == 0, run.log[-4000:]
    assert fake_server.state.judge_requests == 0
    n = _non_empty("original", ORIGINAL_INDICES)
    assert f"DRY RUN (nothing sent to the judge): {n} judge calls needed, estimated cost $" in run.log
    # nothing was judged, so no rate is reported (not one over the empty responses alone)
    for task in ("coconot_original", "coconot_contrast"):
        metrics = task_metrics(run.results(), task)
        assert not [name for name in metrics if name.startswith(("compliance_rate", "coconot_score"))], task
        assert metrics["judge_error_rate"] == 1.0


@pytest.mark.usefixtures("data_dir")
def test_predict_only_calls_no_judge_and_rescore_judges_later(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    run = _run(fake_server, tmp_path / "out", "--predict_only")
    assert run.returncode == 0, run.log[-4000:]
    assert fake_server.state.judge_requests == 0 and fake_server.state.model_lookups == 0
    assert fake_server.state.model_requests > 0
    for task, indices in (("coconot_original", ORIGINAL_INDICES), ("coconot_contrast", CONTRAST_INDICES)):
        logged = run.samples(task)
        assert len(logged) == len(indices)
        assert {json.loads(s["filtered_resps"][0])["outcome"] for s in logged} == {"not_judged"}

    env = judge_environment(fake_server.url, JUDGE_KEY)
    rescore = subprocess.run(
        [sys.executable, "-m", "coconot_tasks", "rescore", str(tmp_path / "out"), "--output-dir",
         str(tmp_path / "rescored")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rescore.returncode == 0, rescore.stdout + rescore.stderr
    rescored = Run(0, "", "", tmp_path / "rescored")
    _assert_rates(rescored)


@pytest.mark.usefixtures("data_dir")
def test_ctrl_c_after_a_set_failed_its_error_budget_exits_130_not_3(tmp_path: Path) -> None:
    # the original set ends with items that have no verdict (status 3 would be due after the run);
    # Ctrl-C while the contrast set is being judged must end the run as an interruption
    with FakeOpenAI(judge_key=JUDGE_KEY, latency=0.1) as server:
        server.faults = FaultPlan(no_label=0.3, max_faults_per_request=100)
        metadata = {"judge_max_error_rate": 0.0, "judge_label_retries": 0, "judge_concurrency": 2}
        cmd = lm_eval_command(
            server.url, tmp_path / "out", "coconot", "--samples", SAMPLES, "--metadata", json.dumps(metadata)
        )
        proc = subprocess.Popen(
            cmd, env=judge_environment(server.url, JUDGE_KEY), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        assert proc.stdout is not None
        seen = ""
        for line in proc.stdout:
            seen += line
            if "CoCoNot coconot_original:" in line and "items have NO verdict" in line:
                break
        time.sleep(0.5)  # the contrast set is being judged now (38 items at 2 x 0.1 s)
        assert proc.poll() is None, seen[-3000:]
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    log = seen + rest
    assert "items have NO verdict" in seen, log[-3000:]
    assert proc.returncode in (130, -signal.SIGINT), log[-3000:]  # the shell shows 130 for both
    assert "exiting with status 3" not in log


@pytest.mark.usefixtures("data_dir")
def test_budget_cap_stops_judging_and_says_so(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    metadata = {"judge_max_cost_usd": 0.5, "judge_price_input": 100.0, "judge_price_output": 100.0,
                "judge_max_error_rate": 0.0}  # fmt: skip
    run = _run(fake_server, tmp_path / "out", "--metadata", json.dumps(metadata), tasks="coconot_original")
    # results are written, then the process exits non-zero because items have no verdict
    assert run.returncode == 3, run.log[-4000:]
    assert "budget cap of $0.5 was reached" in run.log
    metrics = task_metrics(run.results(), "coconot_original")
    assert 0 < metrics["judge_error_rate"] < 1
    assert 0 < metrics["judge_cost_usd"] <= 0.5
    assert 0 < fake_server.state.judge_requests < _non_empty("original", ORIGINAL_INDICES)


@pytest.mark.usefixtures("data_dir")
def test_system_prompt_variants_send_the_papers_system_prompt(
    fake_server: FakeOpenAI, tmp_path: Path, data_dir: Path
) -> None:
    official = json.loads((data_dir / "system_prompt.json").read_text())["content"]
    # offline files given only through --metadata data_dir (data, rubric and system prompt)
    metadata = json.dumps({"data_dir": str(data_dir)})
    cmd = lm_eval_command(
        fake_server.url, tmp_path / "out", "coconot_sysprompt", "--limit", "3", "--metadata", metadata
    )
    env = judge_environment(fake_server.url, JUDGE_KEY)
    for name in ("COCONOT_DATA_DIR", "COCONOT_RUBRIC_PATH", "COCONOT_SYSTEM_PROMPT_PATH"):
        env.pop(name, None)
    run = run_lm_eval(cmd, env, tmp_path / "out")
    assert run.returncode == 0, run.log[-4000:]
    assert fake_server.state.model_requests == 6
    for messages in fake_server.state.model_messages:
        assert [m["role"] for m in messages] == ["system", "user"]
        assert messages[0]["content"] == official
    results = run.results()
    assert {"coconot_sysprompt", "coconot_original_sysprompt", "coconot_contrast_sysprompt"} <= set(
        results["results"]
    )
    assert "system prompt" in results["results"]["coconot_original_sysprompt"]["alias"]


def test_lm_eval_validate_accepts_every_task_and_group() -> None:
    tasks = "coconot,coconot_original,coconot_contrast,coconot_sysprompt"
    proc = subprocess.run(
        [LM_EVAL, "validate", "--tasks", tasks], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "All tasks found and valid" in proc.stdout + proc.stderr


@pytest.mark.usefixtures("data_dir")
@pytest.mark.parametrize(
    ("faults", "key", "metadata", "says"),
    [
        # every answer lacks a label: no verdict at all, and a rerun would not help
        (FaultPlan(no_label=1.0, max_faults_per_request=100), JUDGE_KEY, {"judge_label_retries": 0},
         "answered without a <label>: raise judge_max_tokens"),
        # the key is refused mid-run (preflight off): the breaker stops judging; the key is the fix
        (FaultPlan(), "sk-wrong", {"judge_preflight": False, "judge_concurrency": 2},
         "rejected the API key: set COCONOT_JUDGE_API_KEY"),
        # HTTP 500 on every attempt: transient, so a rerun is the advice
        (FaultPlan(server_error=1.0, max_faults_per_request=100), JUDGE_KEY,
         {"judge_max_retries": 0, "judge_concurrency": 2}, "Rerun the same command with --use_cache"),
    ],
    ids=["no-label", "bad-key", "server-errors"],
)  # fmt: skip
def test_a_run_that_judged_nothing_exits_3_after_writing_results_and_says_what_to_fix(
    tmp_path: Path, faults: FaultPlan, key: str, metadata: dict[str, object], says: str
) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY, faults=faults) as server:
        run = _run(server, tmp_path / "out", "--metadata", json.dumps(metadata), key=key,
                   tasks="coconot_original")  # fmt: skip
    assert run.returncode == 3, run.log[-4000:]
    assert task_metrics(run.results(), "coconot_original")["judge_error_rate"] > 0.8  # results written
    [line] = [line for line in run.stderr.splitlines() if line.endswith("exiting with status 3")]
    assert line.startswith("error: CoCoNot coconot_original: ") and says in line, line
    permanent = "Rerun" not in says
    assert ("would fail the same way" in line) is permanent, line
    assert ("--use_cache" in line) is not permanent, line
