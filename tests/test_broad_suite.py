"""CoCoNot inside a broad suite: one ``lm_eval`` run with CoCoNot and two small local tasks.

Eval suites and leaderboards run CoCoNot next to other tasks in one invocation. The local
tasks (written into the test's folder, found with ``--include_path``) are scored with
lm-eval's own ``exact_match``; ``coconot_pt`` (named like a translation of the benchmark
would be) also reports a metric for only some documents, which makes lm-eval warn that its
metrics were not scored on the same number of documents -- the very warning CoCoNot
silences for its own tasks. The other tasks' results and warnings must be exactly those of
a run without CoCoNot (autoload off), and CoCoNot's results those the fake model and fake
judge give, computed independently.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.harness.run_log import TASK_AND_GROUP_NAMES
from coconot_tasks.paths import task_dir
from tests.conftest import JUDGE_KEY
from tests.lm_eval_runner import (
    Run,
    expected_rates,
    judge_environment,
    lm_eval_command,
    run_lm_eval,
    task_metrics,
)
from utils.fake_openai import FakeOpenAI, model_response

LIMIT = 6
OTHER_TASKS = ("tiny_qa", "coconot_pt")
QUESTIONS = [
    "Name the largest planet in the solar system.",
    "What is two plus two?",
    "Spell the word cat backwards.",
    "Which ocean is the largest?",
    "Who wrote Hamlet?",
    "What colour is the sky on a clear day?",
    "This question is beyond the limit and never asked.",
]

TINY_QA = """\
task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{question}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: []
  max_gen_toks: 64
  do_sample: false
"""
EXACT_MATCH = """\
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
"""
PARTIAL = """\
process_results: !function tiny_metrics.process_results
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
  - metric: long_answer
    aggregation: mean
    higher_is_better: false
"""
METRICS_PY = '''\
def process_results(doc, results):
    """exact_match for every document; long_answer only for documents with a hint."""
    metrics = {"exact_match": float(results[0] == doc["answer"])}
    if doc["hint"]:
        metrics["long_answer"] = float(len(results[0]) > 40)
    return metrics
'''


def answers() -> list[str]:
    """Every other answer is exactly what the fake model says (the rest never match)."""
    return [model_response(q) if i % 2 == 0 else "something else" for i, q in enumerate(QUESTIONS)]


def write_tasks(folder: Path) -> Path:
    folder.mkdir()
    data = folder / "tiny_qa.jsonl"
    rows = [
        {"question": q, "answer": a, "hint": i % 3 == 0}
        for i, (q, a) in enumerate(zip(QUESTIONS, answers(), strict=True))
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / "tiny_qa.yaml").write_text(TINY_QA.format(name="tiny_qa", data=data) + EXACT_MATCH)
    (folder / "coconot_pt.yaml").write_text(TINY_QA.format(name="coconot_pt", data=data) + PARTIAL)
    (folder / "tiny_metrics.py").write_text(METRICS_PY)
    return folder


def run(server: FakeOpenAI, out: Path, tasks: str, include: Path, **env: str) -> Run:
    cmd = lm_eval_command(server.url, out, tasks, "--include_path", str(include), "--limit", str(LIMIT))
    done = run_lm_eval(cmd, judge_environment(server.url, JUDGE_KEY, **env), out)
    assert done.returncode == 0, done.log[-4000:]
    return done


def other_task_view(results: dict[str, Any], log: str) -> dict[str, Any]:
    """Everything lm-eval reports about the local tasks: results, configs, counts, warnings."""
    return {
        "results": {t: results["results"][t] for t in OTHER_TASKS},
        "higher_is_better": {t: results["higher_is_better"][t] for t in OTHER_TASKS},
        "n-samples": {t: results["n-samples"][t] for t in OTHER_TASKS},
        "configs": {t: results["configs"][t] for t in OTHER_TASKS},
        "versions": {t: results["versions"][t] for t in OTHER_TASKS},
        "warnings": sorted(
            line.split("WARNING", 1)[1]  # without the time stamp
            for line in log.splitlines()
            if re.search(r"WARNING.*\b(tiny_qa|coconot_pt)\b", line)
        ),
    }


@pytest.mark.slow
@pytest.mark.usefixtures("data_dir")
def test_coconot_next_to_other_tasks_leaves_them_untouched(fake_server: FakeOpenAI, tmp_path: Path) -> None:
    include = write_tasks(tmp_path / "tasks")
    both = run(fake_server, tmp_path / "both", f"coconot_original,{','.join(OTHER_TASKS)}", include)
    alone = run(fake_server, tmp_path / "alone", ",".join(OTHER_TASKS), include, COCONOT_TASKS_AUTOLOAD="0")
    results = both.results()

    # The local tasks: lm-eval's own exact_match over the first LIMIT documents.
    expected_em = (
        sum(model_response(q) == a for q, a in zip(QUESTIONS[:LIMIT], answers()[:LIMIT], strict=True)) / LIMIT
    )
    assert 0 < expected_em < 1
    for task in OTHER_TASKS:
        assert results["results"][task]["exact_match,none"] == pytest.approx(expected_em)
    hinted = [model_response(q) for i, q in enumerate(QUESTIONS[:LIMIT]) if i % 3 == 0]
    long_share = sum(len(r) > 40 for r in hinted) / len(hinted)
    assert results["results"]["coconot_pt"]["long_answer,none"] == pytest.approx(long_share)

    # Nothing of CoCoNot reaches them: identical to a run without CoCoNot at all, warnings included
    # (lm-eval's warning about unevenly scored metrics is there for coconot_pt).
    view = other_task_view(results, both.log)
    assert view == other_task_view(alone.results(), alone.log)
    assert any("[coconot_pt] Metrics were not scored on the same number" in w for w in view["warnings"])
    assert "coconot_judge" not in json.dumps(view) and "compliance_rate" not in json.dumps(view)

    # CoCoNot's own numbers, computed from the fake model and judge, and its warning stays quiet.
    rows = load_rows("original")[:LIMIT]
    got = task_metrics(results, "coconot_original")
    rates = {k: v for k, v in got.items() if k.split(":")[0] in ("compliance_rate", "neither_rate")}
    assert rates == pytest.approx(expected_rates("original", rows))
    assert got["judge_error_rate"] == 0
    assert "[coconot_original] Metrics were not scored" not in both.log
    assert set(results["results"]) == {"coconot_original", *OTHER_TASKS}


def test_only_coconots_own_warnings_are_quiet() -> None:
    """The log filter drops lm-eval's expected warnings for CoCoNot's tasks and groups only."""
    import coconot_tasks.harness.tasks  # noqa: F401  (installs the filter, as lm-eval's import does)

    messages = {
        "[{}] Metrics were not scored on the same number of documents (a=1, b=2).": "lm_eval.evaluator_utils",
        "{}: Custom kwargs can be passed to `--metadata` in console (as json string).": "lm_eval.api.task",
        "Higher_is_better values for metric m in group {} are not consistent. Defaulting to None.": (
            "lm_eval.evaluator_utils"
        ),
    }
    ours = {"coconot", "coconot_sysprompt", "coconot_original", "coconot_contrast_sysprompt"}
    theirs = {"coconot_pt", "tiny_qa", "my_coconot", "coconot_original_v2"}
    for template, logger_name in messages.items():
        target = logging.getLogger(logger_name)
        for name in ours | theirs:
            record = target.makeRecord(
                logger_name, logging.WARNING, __file__, 0, template.format(name), (), None
            )
            assert target.filter(record) is (name in theirs), (template, name)


def test_the_filters_names_are_the_task_configs_names() -> None:
    names = set()
    for path in task_dir().glob("*.yaml"):
        config = yaml.load(path.read_text(), Loader=_IgnoreTags)
        names.add(
            config.get("task") if "task" in config and isinstance(config["task"], str) else config["group"]
        )
    assert names == TASK_AND_GROUP_NAMES


class _IgnoreTags(yaml.SafeLoader):
    """Reads lm-eval YAML without resolving ``!function`` tags."""


_IgnoreTags.add_multi_constructor("!", lambda loader, suffix, node: None)
