"""A reasoning model under test, end to end through the real ``lm_eval`` command line (slow).

The fake server's ``fake-reasoner`` writes ``<think>`` + reasoning full of refusal words +
``</think>`` + the plain fake model's answer, and for a fixed fifth of the prompts only
reasoning that never finishes. Expected numbers come from the fake's own decision functions
over the finished items, independently of the code under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.benchmark.names import metric_scopes
from coconot_tasks.results.saved_runs import find_results_files
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import judge_environment, lm_eval_command, run_lm_eval, task_metrics
from utils.fake_openai import (
    FAKE_MODEL,
    FAKE_REASONER,
    FakeOpenAI,
    judge_decision,
    model_response,
    reasoning_finishes,
)

pytestmark = pytest.mark.slow

INDICES = {"original": list(range(0, 1001, 25)), "contrast": list(range(0, 379, 10))}
SAMPLES = json.dumps({f"coconot_{name}": indices for name, indices in INDICES.items()})


def _rows(set_name: str) -> list[dict[str, Any]]:
    rows = load_rows(set_name)
    return [rows[i] for i in INDICES[set_name]]


def _verdict(set_name: str, prompt: str) -> str | None:
    """The fake's verdict on the final answer alone; ``None`` when the reasoning never finished."""
    if not reasoning_finishes(prompt):
        return None
    answer = model_response(prompt, FAKE_MODEL)
    return judge_decision(set_name, prompt, answer) if answer.strip() else "noncompliance"


def _expected(set_name: str) -> dict[str, float]:
    verdicts: dict[str, list[str | None]] = defaultdict(list)
    for row in _rows(set_name):
        for scope in metric_scopes(str(row["category"]), str(row["subcategory"])):
            verdicts[scope].append(_verdict(set_name, str(row["prompt"])))
    rates: dict[str, float] = {}
    for scope, values in verdicts.items():
        answered = [v for v in values if v is not None]
        rates[f"no_answer_rate{scope}"] = values.count(None) / len(values)
        if answered:
            rates[f"compliance_rate{scope}"] = answered.count("compliance") / len(answered)
            rates[f"neither_rate{scope}"] = answered.count("neither") / len(answered)
    return rates


def _judged_answers() -> int:
    """Finished responses with a non-empty answer: the only ones the judge may see."""
    return sum(
        1
        for set_name in INDICES
        for row in _rows(set_name)
        if reasoning_finishes(str(row["prompt"])) and model_response(str(row["prompt"]), FAKE_MODEL).strip()
    )


def _rates(metrics: dict[str, float]) -> dict[str, float]:
    names = ("compliance_rate", "neither_rate", "no_answer_rate")
    return {k: v for k, v in metrics.items() if k.split(":")[0] in names and v == v}  # NaN: no answers


@pytest.mark.usefixtures("data_dir")
def test_a_reasoning_model_is_judged_on_its_final_answers_only(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    cmd = lm_eval_command(fake_server.url, out, "coconot", "--samples", SAMPLES, model=FAKE_REASONER)
    env = judge_environment(fake_server.url, JUDGE_KEY)
    run = run_lm_eval(cmd, env, out)
    assert run.returncode == 0, run.log[-4000:]

    results = run.results()
    unfinished = 0
    for set_name in INDICES:
        got = task_metrics(results, f"coconot_{set_name}")
        assert _rates(got) == pytest.approx(_expected(set_name), rel=0, abs=1e-12)
        assert got["judge_error_rate"] == 0
        count = sum(1 for row in _rows(set_name) if not reasoning_finishes(str(row["prompt"])))
        assert 0 < count < len(INDICES[set_name])
        unfinished += count
        assert f"{count} of {len(INDICES[set_name])} responses have NO answer" in run.log
    assert "max_gen_toks" in run.log
    # never sent to the judge: one request per finished, non-empty answer
    assert fake_server.state.judge_requests == fake_server.state.judge_answers == _judged_answers()

    # the logged sample keeps the raw response and shows what the judge saw
    for sample in run.samples("coconot_original"):
        raw, prompt = sample["resps"][0][0], sample["doc"]["prompt"]
        result = json.loads(sample["filtered_resps"][0])
        assert raw.startswith("<think>")
        if reasoning_finishes(prompt):
            assert result["answer"] == model_response(prompt, FAKE_MODEL)
            assert result["verdict"] == _verdict("original", prompt)
        else:
            assert result["outcome"] == "no_answer" and result["verdict"] is None and "answer" not in result

    # coconot rescore applies the same rules to the saved samples: same rates, answers only judged
    before = fake_server.state.judge_requests
    proc = subprocess.run(
        [sys.executable, "-m", "coconot_tasks", "rescore", str(out), "--output-dir", str(tmp_path / "re"),
         "--no-cache", "--no-progress"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert fake_server.state.judge_requests - before == _judged_answers()
    assert f"{unfinished} more responses have no answer" in proc.stdout
    rescored = json.loads(find_results_files(tmp_path / "re")[0].read_text())
    for set_name in INDICES:
        task = f"coconot_{set_name}"
        assert _rates(task_metrics(rescored, task)) == _rates(task_metrics(results, task))
