"""Run the real ``lm_eval`` command line against the loopback fake server, and read its output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from utils.fake_openai import FAKE_MODEL, judge_decision, model_response

LM_EVAL = str(Path(sys.executable).with_name("lm_eval"))


@dataclass
class Run:
    """One finished ``lm_eval`` process."""

    returncode: int
    stdout: str
    stderr: str
    output_dir: Path

    @property
    def log(self) -> str:
        return self.stdout + self.stderr

    def results(self) -> dict[str, Any]:
        files = sorted(self.output_dir.rglob("results_*.json"))
        assert files, f"no results file under {self.output_dir}\n{self.log[-3000:]}"
        return dict(json.loads(files[-1].read_text()))

    def samples(self, task: str) -> list[dict[str, Any]]:
        results = sorted(self.output_dir.rglob("results_*.json"))
        assert results, f"no results file under {self.output_dir}"
        stamp = results[-1].stem[len("results_") :]
        path = results[-1].parent / f"samples_{task}_{stamp}.jsonl"
        assert path.is_file(), f"no samples for {task}"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def lm_eval_command(
    server_url: str,
    output_dir: Path,
    tasks: str,
    *extra: str,
    num_concurrent: int = 8,
    model: str = FAKE_MODEL,
) -> list[str]:
    """An ``lm_eval`` command evaluating the fake model ``model`` (``local-chat-completions``)."""
    model_args = (
        f"model={model},base_url={server_url}/chat/completions,"
        f"num_concurrent={num_concurrent},max_retries=1,tokenized_requests=False"
    )
    return [
        LM_EVAL, "--model", "local-chat-completions", "--model_args", model_args,
        "--tasks", tasks, "--apply_chat_template", "--log_samples", "--output_path", str(output_dir),
        *extra,
    ]  # fmt: skip


def judge_environment(server_url: str, key: str | None, **extra: str) -> dict[str, str]:
    """The process environment: the test's isolated one plus judge settings."""
    env = dict(os.environ)
    env.update({"COCONOT_JUDGE_BASE_URL": server_url, "COCONOT_JUDGE_MODEL": "fake-judge"})
    if key is not None:
        env["COCONOT_JUDGE_API_KEY"] = key
    env.update(extra)
    return env


def run_lm_eval(cmd: list[str], env: dict[str, str], output_dir: Path, timeout: float = 600) -> Run:
    """Run ``cmd`` to completion."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr, output_dir)


def expected_verdict(set_name: str, prompt: str) -> str:
    """What the fake model answers and the fake judge decides, computed independently."""
    response = model_response(prompt)
    if not response.strip():
        return "noncompliance"
    return judge_decision(set_name, prompt, response)


def expected_rates(set_name: str, rows: list[dict[str, Any]]) -> dict[str, float]:
    """compliance_rate / neither_rate per set, category and subcategory, as the task names them."""
    from coconot_tasks.benchmark.names import metric_scopes

    verdicts: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        verdict = expected_verdict(set_name, row["prompt"])
        for scope in metric_scopes(row["category"], row["subcategory"]):
            verdicts[scope].append(verdict)
    rates: dict[str, float] = {}
    for scope, values in verdicts.items():
        rates[f"compliance_rate{scope}"] = values.count("compliance") / len(values)
        rates[f"neither_rate{scope}"] = values.count("neither") / len(values)
    return rates


def task_metrics(results: dict[str, Any], task: str) -> dict[str, float]:
    """The task's metric values without lm-eval's filter suffix and stderr entries."""
    metrics: dict[str, float] = {}
    for key, value in results["results"][task].items():
        if key == "alias" or "_stderr," in key:
            continue
        name, _, _filter = key.rpartition(",")
        metrics[name] = value
    return metrics
