"""Data-parallel runs (``torchrun``/``accelerate launch``, hf backend): the same numbers as one process."""

from __future__ import annotations

import json
import socket
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from coconot_tasks.benchmark.dataset import load_rows
from tests.conftest import JUDGE_KEY, SHARED_DATA
from tests.lm_eval_runner import LM_EVAL, judge_environment, run_lm_eval
from tests.tiny_model import build_tiny_chat_model
from utils.fake_openai import FakeOpenAI

pytestmark = pytest.mark.slow


def _samples() -> dict[str, list[int]]:
    """Rows of both sets: the first of every subcategory (the one-row one included), and a spread."""
    chosen: dict[str, list[int]] = {}
    for set_name in ("original", "contrast"):
        rows = load_rows(set_name, data_dir=SHARED_DATA)
        first: dict[tuple[str, str], int] = {}
        for index, row in enumerate(rows):
            first.setdefault((row["category"], row["subcategory"]), index)
        chosen[f"coconot_{set_name}"] = sorted({*first.values(), *range(5, len(rows), 97)})
    return chosen


SAMPLES = _samples() if (SHARED_DATA / "coconot_eval.jsonl").is_file() else {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _args(model_dir: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32",
        "--tasks", "coconot", "--apply_chat_template", "--batch_size", "1", "--device", "cpu",
        "--samples", json.dumps(SAMPLES), "--log_samples", "--output_path", str(out),
        "--gen_kwargs", "max_gen_toks=24", *extra,
    ]  # fmt: skip


def _torchrun(model_dir: Path, out: Path) -> list[str]:
    """Two data-parallel ranks on CPU (see ddp_lm_eval.py)."""
    return [
        sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
        "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(Path(__file__).with_name("ddp_lm_eval.py")), *_args(model_dir, out),
    ]  # fmt: skip


def _numbers(results: dict[str, Any]) -> dict[str, Any]:
    return {task: dict(values) for task, values in results["results"].items()}


@pytest.mark.usefixtures("data_dir")
def test_two_ranks_give_the_single_process_results_and_judge_each_response_once(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    model_dir = build_tiny_chat_model(tmp_path / "tiny-llama")
    env = judge_environment(fake_server.url, JUDGE_KEY, COCONOT_JUDGE_CACHE="false")

    single_out = tmp_path / "single"
    single = run_lm_eval([LM_EVAL, *_args(model_dir, single_out)], env, single_out)
    assert single.returncode == 0, single.log[-4000:]
    before = Counter(fake_server.state.judged)

    ddp_out = tmp_path / "ddp"
    ddp = run_lm_eval(_torchrun(model_dir, ddp_out), env, ddp_out)
    assert ddp.returncode == 0, ddp.log[-6000:]

    # every response judged exactly once, by the rank that generated it
    judged = Counter(fake_server.state.judged)
    judged.subtract(before)
    assert judged.keys() == before.keys() and len(before) > 0
    assert set(judged.values()) == {1}

    one, two = _numbers(single.results()), _numbers(ddp.results())
    assert one.keys() == two.keys()
    for task in one:
        assert one[task].keys() == two[task].keys(), task
        for key, value in one[task].items():
            if isinstance(value, float):
                assert two[task][key] == pytest.approx(value, abs=1e-12), (task, key)
            else:
                assert two[task][key] == value, (task, key)
    # the one-row subcategory is reported, not silently dropped
    assert "compliance_rate:safety/incomprehensible,coconot_judge" in two["coconot_original"]
    assert len(ddp.samples("coconot_original")) == len(SAMPLES["coconot_original"])


@pytest.mark.usefixtures("data_dir")
def test_the_budget_cap_holds_for_the_whole_data_parallel_run(
    fake_server: FakeOpenAI, tmp_path: Path
) -> None:
    model_dir = build_tiny_chat_model(tmp_path / "tiny-llama")
    cap = 0.2  # one rank alone would spend about 0.16 on its shard
    env = judge_environment(
        fake_server.url,
        JUDGE_KEY,
        COCONOT_JUDGE_CACHE="false",
        COCONOT_JUDGE_MAX_COST_USD=str(cap),
        COCONOT_JUDGE_PRICE_INPUT="20",  # $ per million tokens: a few hundred tokens per call
        COCONOT_JUDGE_PRICE_OUTPUT="20",
    )
    out = tmp_path / "ddp"
    run = run_lm_eval(_torchrun(model_dir, out), env, out)
    assert run.returncode == 0, run.log[-6000:]
    spent = sum(
        values.get("judge_cost_usd,coconot_judge", 0.0)
        for task, values in run.results()["results"].items()
        if task in SAMPLES
    )
    assert 0 < spent <= cap + 1e-12
    assert fake_server.state.judge_answers < sum(len(v) for v in SAMPLES.values())  # the cap bit
