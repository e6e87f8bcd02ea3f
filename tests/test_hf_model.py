"""``lm_eval --model hf`` end to end on a tiny model built in the test, judged by the fake judge."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest

from coconot_tasks.benchmark.names import metric_scopes
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import LM_EVAL, judge_environment, run_lm_eval, task_metrics
from tests.tiny_model import build_tiny_chat_model
from utils.fake_openai import FakeOpenAI, judge_decision

pytestmark = pytest.mark.slow


@pytest.mark.usefixtures("data_dir")
def test_hf_model_end_to_end(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    model_dir = build_tiny_chat_model(tmp_path / "tiny-llama")
    out = tmp_path / "out"
    samples = {"coconot_original": [0, 300, 600, 900], "coconot_contrast": [0, 150, 300]}
    cmd = [
        LM_EVAL, "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32",
        "--tasks", "coconot", "--apply_chat_template", "--batch_size", "8", "--device", "cpu",
        "--samples", json.dumps(samples), "--log_samples", "--output_path", str(out),
        "--gen_kwargs", "max_gen_toks=48",
    ]  # fmt: skip
    run = run_lm_eval(cmd, judge_environment(fake_server.url, JUDGE_KEY), out)
    assert run.returncode == 0, run.log[-4000:]
    results = run.results()

    for task, set_name in (("coconot_original", "original"), ("coconot_contrast", "contrast")):
        logged = run.samples(task)
        assert len(logged) == len(samples[task])
        verdicts: dict[str, list[str]] = defaultdict(list)
        for sample in logged:
            response = sample["resps"][0][0]
            # the chat template was applied: the model saw the request as a user turn
            assert (
                "<|im_start|>user\n" + sample["doc"]["prompt"] in sample["arguments"]["gen_args_0"]["arg_0"]
            )
            verdict = json.loads(sample["filtered_resps"][0])
            expected = (
                judge_decision(set_name, sample["doc"]["prompt"], response)
                if response.strip()
                else ("noncompliance")
            )
            assert verdict["verdict"] == expected
            for scope in metric_scopes(sample["doc"]["category"], sample["doc"]["subcategory"]):
                verdicts[scope].append(expected)
        metrics = task_metrics(results, task)
        for scope, values in verdicts.items():
            assert metrics[f"compliance_rate{scope}"] == pytest.approx(
                values.count("compliance") / len(values)
            )
        assert metrics["judge_error_rate"] == 0
    assert fake_server.state.model_requests == 0  # the model under test was the local one
    assert fake_server.state.judge_answers > 0  # and it said something to judge
