"""``coconot rescore``: re-judging saved runs reproduces lm-eval's numbers and reports agreement.

Fast tests build small runs in ``tmp_path`` the way ``lm_eval --log_samples`` writes them
(responses of the fake model, verdicts of the fake judge through the judge engine, metrics
from ``sample_metrics``, aggregates and group scores computed by lm-eval's own
functions), then run the command in-process against the loopback fake server. The slow
tests make a real run with the ``lm_eval`` command line and rescore it with
``python -m coconot_tasks rescore`` in a subprocess.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import cohen_kappa_score

from coconot_tasks.benchmark.dataset import load_rows
from coconot_tasks.benchmark.names import ACCOUNTING_NAMES, aggregation, higher_is_better, metric_names
from coconot_tasks.judge.cache import VerdictCache
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem
from coconot_tasks.metric import sample_metrics
from coconot_tasks.results.results_json import aggregate_task
from coconot_tasks.results.saved_runs import find_results_files, load_run, samples_files, task_info
from coconot_tasks.tools.agreement import LABELS, cohen_kappa
from coconot_tasks.tools.cli import main
from tests.conftest import JUDGE_KEY, SHARED_DATA, require_shared
from tests.lm_eval_runner import lm_eval_command, run_lm_eval
from utils.fake_openai import FAKE_JUDGE, FAKE_JUDGE_B, FakeOpenAI, FaultPlan, judge_decision, model_response

DATE = "2026-01-02T03-04-05.000006"
FILTER = "coconot_judge"
GROUPS = {
    "coconot": ("coconot_original", "coconot_contrast"),
    "coconot_sysprompt": ("coconot_original_sysprompt", "coconot_contrast_sysprompt"),
}
ALL_TASKS = (*GROUPS["coconot"], *GROUPS["coconot_sysprompt"])


# --- building runs the way lm_eval writes them ------------------------------------------------


def _lm_eval_task_metrics(task: str, raw: dict[tuple[str, str], list[float]]) -> dict[str, Any]:
    """lm-eval's own per-task aggregation (``_compute_task_aggregations``) of per-sample metrics."""
    from lm_eval.api.registry import get_aggregation
    from lm_eval.evaluator_utils import _compute_task_aggregations

    import coconot_tasks.harness.tasks  # noqa: F401  (registers the "sum" aggregation, as loading the YAML does)

    class _Task:  # what _compute_task_aggregations reads of a task
        task_name = task

        def aggregation(self) -> dict[str, Any]:
            return {metric: get_aggregation(aggregation(metric)) for metric, _filter in raw}

    values, sample_len = _compute_task_aggregations(_Task(), raw, 100000)  # a stand-in for the Task
    return {"name": task, "alias": f"alias of {task}", "sample_len": sample_len, **values}


def _lm_eval_group(group: str, task_metrics: dict[str, Any]) -> dict[str, Any]:
    """lm-eval's own group aggregation (``Group.aggregate``) with the CoCoNot group's settings."""
    from lm_eval.api.group import Group
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.config.group import AggMetricConfig

    class _Leaf(ConfigurableTask):  # only its name is read
        def __init__(self, name: str) -> None:
            self._name = name

        @property
        def task_name(self) -> str:
            return self._name

    # as in task_configs/_coconot.yaml
    metrics = [
        AggMetricConfig(metric="coconot_score", filter_list=FILTER, aggregation="mean", weight_by_size=False)
    ]
    built = Group(group, alias=f"alias of {group}", aggregate_metric_list=metrics)
    for leaf in GROUPS[group]:
        built.add(_Leaf(leaf))
    return json.loads(json.dumps(built.aggregate(task_metrics)))  # numpy floats -> JSON numbers


def _config(task: str) -> dict[str, Any]:
    set_name = task_info(task).set_name  # type: ignore[union-attr]
    metric_list = [
        {"metric": m, "aggregation": aggregation(m), "higher_is_better": higher_is_better(set_name, m)}
        for m in metric_names(set_name)
    ]
    return {
        "task": task,
        "task_alias": f"alias of {task}",
        "metric_list": metric_list,
        "filter_list": [{"name": FILTER}],
        "metadata": {"version": 1.0, "model": "org/tiny-model", "judge_model": FAKE_JUDGE},
    }


def _directions(task: str) -> dict[str, bool]:
    set_name = task_info(task).set_name  # type: ignore[union-attr]
    return {metric: higher_is_better(set_name, metric) for metric in metric_names(set_name)}


@dataclass
class SavedRun:
    """A run written into a directory like ``lm_eval --output_path DIR --log_samples``."""

    output_path: Path
    results_path: Path
    results: dict[str, Any]
    lines: dict[str, list[dict[str, Any]]]

    def responses(self) -> Iterator[tuple[str, str, dict[str, Any], str]]:
        """(task, set name, doc, response) of every logged sample."""
        for task, lines in self.lines.items():
            for line in lines:
                yield task, task_info(task).set_name, line["doc"], line["resps"][0][0]  # type: ignore[union-attr]


def build_run(root: Path, server: FakeOpenAI, tasks: Sequence[str] = ALL_TASKS, step: int = 40) -> SavedRun:
    """Answer every ``step``-th row with the fake model, judge with fake-judge, save like lm_eval.

    The tasks are judged one after another with one verdict cache, as an lm_eval run does.
    """
    settings = JudgeSettings(model=FAKE_JUDGE, base_url=server.url, api_key=JUDGE_KEY)
    cache = VerdictCache(root / "build-cache.sqlite3")
    results: dict[str, Any] = {"results": {}}
    task_metrics: dict[str, Any] = {}
    all_lines: dict[str, list[dict[str, Any]]] = {}
    for task in tasks:
        info = task_info(task)
        assert info is not None
        rows = load_rows(info.set_name)[:: step if info.set_name == "original" else step // 2]
        responses = [model_response(row["prompt"], system_prompt=info.system_prompt) for row in rows]
        items = [
            JudgeItem(info.set_name, row["prompt"], response, row["subcategory"], row["category"], row["id"])
            for row, response in zip(rows, responses, strict=True)
        ]
        verdicts, _stats = judge_items(items, settings, cache=cache, progress=False)
        raw: dict[tuple[str, str], list[float]] = {}
        lines = []
        for number, (row, response, verdict) in enumerate(zip(rows, responses, verdicts, strict=True)):
            metrics = sample_metrics(row, verdict)
            for name, value in metrics.items():
                raw.setdefault((name, FILTER), []).append(value)
            arguments = {
                "arg_0": [json.dumps([{"role": "user", "content": row["prompt"]}])],
                "arg_1": {"until": []},
            }
            lines.append({
                "doc_id": number, "doc": row, "target": "", "arguments": {"gen_args_0": arguments},
                "resps": [[response]], "filtered_resps": [verdict.to_json()], "filter": FILTER,
                "metrics": list(metrics), "doc_hash": f"doc{number}", "prompt_hash": f"prompt{number}",
                "target_hash": "target", **metrics,
            })  # fmt: skip
        all_lines[task] = lines
        task_metrics[task] = _lm_eval_task_metrics(task, raw)
    cache.close()
    groups = {
        g: _lm_eval_group(g, task_metrics) for g, members in GROUPS.items() if set(members) <= set(tasks)
    }
    results = {
        "results": {**task_metrics, **groups},
        "groups": groups,
        "group_subtasks": {g: list(GROUPS[g]) for g in groups},
        "configs": {task: _config(task) for task in tasks},
        "versions": {name: 1.0 for name in [*tasks, *groups]},
        "n-shot": {name: 0 for name in [*tasks, *groups]},
        "higher_is_better": {task: _directions(task) for task in tasks},
        "n-samples": {t: {"original": 1001, "effective": task_metrics[t]["sample_len"]} for t in tasks},
        "config": {"model": "local-chat-completions", "model_args": {"model": "org/tiny-model"},
                   "bootstrap_iters": 100000},
        "date": 1767322245.0,
        "model_name": "org/tiny-model",
        "model_name_sanitized": "org__tiny-model",
    }  # fmt: skip
    model_dir = root / "org__tiny-model"
    model_dir.mkdir(parents=True)
    results_path = model_dir / f"results_{DATE}.json"
    results_path.write_text(json.dumps(results, indent=2))
    for task, lines in all_lines.items():
        text = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        (model_dir / f"samples_{task}_{DATE}.jsonl").write_text(text)
    return SavedRun(root, results_path, results, all_lines)


def expected_verdict(set_name: str, doc: dict[str, Any], response: str, judge: str) -> str:
    """What the fake judge ``judge`` decides (an empty response is noncompliance, without a call)."""
    return judge_decision(set_name, doc["prompt"], response, judge) if response.strip() else "noncompliance"


def distinct_requests(run: SavedRun) -> int:
    """Judge requests a run needs: distinct non-empty (set, subcategory, prompt, response)."""
    return len({(s, d["subcategory"], d["prompt"], r) for _t, s, d, r in run.responses() if r.strip()})


def rescored(output_dir: Path) -> tuple[dict[str, Any], Path]:
    """The results JSON written below ``output_dir`` and its directory."""
    (path,) = find_results_files(output_dir)
    return json.loads(path.read_text()), path.parent


def metric_values(results: dict[str, Any], *, accounting: bool = True) -> dict[str, dict[str, Any]]:
    """Every task's and group's metric values and stderrs (optionally without judge accounting)."""
    skip = {f"{name}{suffix},{FILTER}" for name in ACCOUNTING_NAMES for suffix in ("", "_stderr")}
    return {
        name: {k: v for k, v in values.items() if "," in k and (accounting or k not in skip)}
        for name, values in results["results"].items()
    }


def files_hold(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture(scope="module")
def _tiny_run_built(tmp_path_factory: pytest.TempPathFactory) -> SavedRun:
    """Built once per module (about 90 judge calls); tests get a copy."""
    require_shared(SHARED_DATA / "coconot_eval.jsonl", "offline CoCoNot data")
    root = tmp_path_factory.mktemp("tiny-run")
    with pytest.MonkeyPatch.context() as patch, FakeOpenAI(judge_key=JUDGE_KEY) as server:
        patch.setenv("COCONOT_DATA_DIR", str(SHARED_DATA))
        patch.setenv("COCONOT_RUBRIC_PATH", str(SHARED_DATA / "refusal_evaluation_rubric.json"))
        patch.setenv("COCONOT_CACHE_DIR", str(root / "unused-cache"))
        return build_run(root / "run", server)


@pytest.fixture
def tiny_run(_tiny_run_built: SavedRun, tmp_path: Path, data_dir: Path) -> SavedRun:
    """A copy of a four-task run (both sets, with and without the system prompt; 26 + 19 rows each)."""
    copy = tmp_path / "run"
    shutil.copytree(_tiny_run_built.output_path, copy, ignore=shutil.ignore_patterns("*.sqlite3*"))
    results_path = copy / _tiny_run_built.results_path.relative_to(_tiny_run_built.output_path)
    return SavedRun(copy, results_path, _tiny_run_built.results, _tiny_run_built.lines)


@pytest.fixture
def unlabelled_judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    """A judge whose outputs never hold a label (every judged item ends as a judge error)."""
    with FakeOpenAI(
        judge_key=JUDGE_KEY, faults=FaultPlan(no_label=1.0, max_faults_per_request=10**6)
    ) as server:
        monkeypatch.setenv("COCONOT_JUDGE_BASE_URL", server.url)
        monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
        monkeypatch.setenv("COCONOT_JUDGE_MODEL", FAKE_JUDGE)
        monkeypatch.setenv("COCONOT_JUDGE_LABEL_RETRIES", "0")
        yield server


# --- fast: the same judge reproduces the run ---------------------------------------------------


def test_rescore_with_the_same_judge_reproduces_the_run(
    tiny_run: SavedRun,
    judge_env: FakeOpenAI,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    isolated_env: Path,
) -> None:
    out = tmp_path / "rescored"
    assert main(["rescore", str(tiny_run.output_path), "--output-dir", str(out), "--no-progress"]) == 0
    results, where = rescored(out)
    assert where == out / "org__tiny-model"  # lm-eval's layout: one directory per model

    # every value and stderr of every task and group, the judge accounting included (the build
    # judged the tasks one after another with a cache; the rescore sends repeats once)
    assert metric_values(results) == metric_values(tiny_run.results)
    assert list(results["results"]["coconot_original"]) == list(
        tiny_run.results["results"]["coconot_original"]
    )
    assert results["groups"] == tiny_run.results["groups"]
    for key in ("n-samples", "higher_is_better", "group_subtasks", "model_name", "versions"):
        assert results[key] == tiny_run.results[key], key
    assert judge_env.state.judge_requests == distinct_requests(tiny_run)

    provenance = results["config"]["rescore"]
    assert provenance["rescored_from"] == str(tiny_run.results_path.resolve())
    assert provenance["judge"] == "openai:fake-judge" and provenance["source_judges"] == ["openai:fake-judge"]
    assert provenance["judge_settings"]["base_url"] == judge_env.url
    # which endpoint and which served model gave the new verdicts, overall and per task
    assert provenance["judge_settings"]["endpoint"] == judge_env.url
    assert set(provenance["judge_settings"]["served_models"]) == {"fake-judge"}
    for task in ALL_TASKS:
        judge = results["configs"][task]["metadata"]["judge_settings"]
        assert judge["judge"] == "openai:fake-judge" and judge["endpoint"] == judge_env.url
        outcomes = [json.loads(line["filtered_resps"][0])["outcome"] for line in tiny_run.lines[task]]
        assert judge["served_models"] == {"fake-judge": len(outcomes) - outcomes.count("empty_response")}
    assert results["config"]["model_args"] == {"model": "org/tiny-model"}  # the original config is kept

    # the samples files: the original lines, with the new verdict and metrics
    for task, lines in tiny_run.lines.items():
        path = samples_files(find_results_files(out)[0])[task]
        new_lines = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(new_lines) == len(lines)
        for old, new in zip(lines, new_lines, strict=True):
            for key in ("doc_id", "doc", "arguments", "resps", "filter", "doc_hash", "metrics"):
                assert new[key] == old[key], key
            # verdict, rationale, outcome, tokens: all as in the run (a repeat is a cache hit in both);
            # the endpoint is the rescoring server's (another port of the same fake judge)
            new_result, old_result = (
                json.loads(new["filtered_resps"][0]),
                json.loads(old["filtered_resps"][0]),
            )
            if old_result["outcome"] != "empty_response":
                assert new_result.pop("endpoint") == judge_env.url
                assert old_result.pop("endpoint").startswith("http://127.0.0.1:")
            assert new_result == old_result
            assert {k: new[k] for k in new["metrics"]} == {k: old[k] for k in old["metrics"]}
    # it reads back as a run (what `coconot report` does)
    again = load_run(find_results_files(out)[0])
    assert [t.task for t in again.tasks] == list(ALL_TASKS)
    assert again.samples["coconot_contrast"][0].result is not None

    report = json.loads((where / "agreement.json").read_text())
    assert report["overall"]["percent_agreement"] == 100.0 and report["disagreements"] == []
    assert report["overall"]["n"] == sum(len(lines) for lines in tiny_run.lines.values())
    assert (where / "agreement.md").read_text().count("| coconot_") == 4

    printed = capsys.readouterr().out
    assert "openai:fake-judge (old) -> openai:fake-judge (new)" in printed
    assert "agreement old vs new: 100.0%" in printed and "Cohen's kappa 1.000" in printed
    assert f"written to {where}/" in printed

    # a second rescore is free: every verdict comes from the cache
    judge_env.reset()
    assert main(["rescore", str(tiny_run.results_path), "-o", str(tmp_path / "again"), "--no-progress"]) == 0
    assert judge_env.state.judge_requests == 0
    second, _ = rescored(tmp_path / "again")
    assert metric_values(second, accounting=False) == metric_values(tiny_run.results, accounting=False)
    assert second["results"]["coconot_original"][f"judge_calls,{FILTER}"] == 0

    # the key is in no file written (rescores, cache)
    assert files_hold(tmp_path, JUDGE_KEY) == []
    assert files_hold(isolated_env, JUDGE_KEY) == []


def test_rescore_with_a_second_judge_reports_agreement(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "b"
    args = ["rescore", str(tiny_run.output_path), "-o", str(out), "--judge-model", FAKE_JUDGE_B]
    assert main([*args, "--no-progress"]) == 0
    results, where = rescored(out)
    a, b, disagreements = [], [], set()
    for task, set_name, doc, response in tiny_run.responses():
        a.append(expected_verdict(set_name, doc, response, FAKE_JUDGE))
        b.append(expected_verdict(set_name, doc, response, FAKE_JUDGE_B))
        if a[-1] != b[-1]:
            disagreements.add((task, doc["id"]))
    assert disagreements  # the stricter judge does disagree
    report = json.loads((where / "agreement.json").read_text())
    assert report["judge_a"] == "openai:fake-judge" and report["judge_b"] == "openai:fake-judge-b"
    confusion = [
        [sum(1 for x, y in zip(a, b, strict=True) if (x, y) == (r, c)) for c in LABELS] for r in LABELS
    ]
    assert report["overall"]["confusion"] == confusion
    assert report["overall"]["kappa"] == pytest.approx(cohen_kappa_score(a, b, labels=LABELS), abs=1e-12)
    assert {(d["task"], d["doc_id"]) for d in report["disagreements"]} == disagreements
    # the new rates are judge B's
    original = [(d, r) for t, _s, d, r in tiny_run.responses() if t == "coconot_original"]
    expected = sum(expected_verdict("original", d, r, FAKE_JUDGE_B) == "compliance" for d, r in original)
    assert results["results"]["coconot_original"][f"compliance_rate,{FILTER}"] == pytest.approx(
        expected / len(original)
    )
    assert results["configs"]["coconot_original"]["metadata"]["judge_model"] == FAKE_JUDGE_B
    assert results["config"]["rescore"]["source_judge_metadata"]["coconot_original"] == {
        "judge_model": FAKE_JUDGE
    }
    printed = capsys.readouterr().out
    assert f"{len(disagreements)} disagreements" in printed


def test_the_changed_verdicts_column_counts_each_tasks_flipped_verdicts(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "b"), "--judge-model", FAKE_JUDGE_B]
    assert main([*args, "--no-progress"]) == 0
    printed = capsys.readouterr().out.splitlines()
    rows = {line.split()[1]: line for line in printed if "compliance_rate " in line}
    flipped = Counter(
        task
        for task, set_name, doc, response in tiny_run.responses()
        if expected_verdict(set_name, doc, response, FAKE_JUDGE)
        != expected_verdict(set_name, doc, response, FAKE_JUDGE_B)
    )
    assert len(set(flipped.values())) > 1  # the tasks differ, so a count cannot come from another task
    for task in ALL_TASKS:
        assert rows[task].endswith(f"  {flipped[task]} of {len(tiny_run.lines[task])}"), rows[task]


# --- fast: failures ------------------------------------------------------------------------------


def test_judge_errors_are_counted_loudly_and_exit_3(
    tiny_run: SavedRun, unlabelled_judge: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"])
    assert code == 3
    total = sum(len(lines) for lines in tiny_run.lines.values())
    empty = sum(1 for _t, _s, _d, response in tiny_run.responses() if not response.strip())
    assert 0 < empty < total
    assert unlabelled_judge.state.judge_requests == distinct_requests(tiny_run)
    captured = capsys.readouterr()
    # the judge gave no verdict at all, so the empty responses get none either
    assert f"ERROR: org/tiny-model: {total} of {total} responses got NO verdict" in captured.err
    assert "no recognisable label" in captured.err
    assert "exit status 3" in captured.err
    results, where = rescored(tmp_path / "out")  # written all the same
    values = results["results"]["coconot_original"]
    assert values[f"judge_error_rate,{FILTER}"] == 1.0
    # no compliance rate over the empty responses alone
    assert not [key for key in values if key.startswith(("compliance_rate", "coconot_score"))]
    report = json.loads((where / "agreement.json").read_text())
    assert report["overall"]["excluded"] == report["overall"]["missing_b"] == total


def test_a_tolerated_error_rate_exits_0(
    tiny_run: SavedRun, unlabelled_judge: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unlabelled_judge.faults = FaultPlan(no_label=0.35, max_faults_per_request=10**6)  # some verdicts
    monkeypatch.setenv("COCONOT_JUDGE_MAX_ERROR_RATE", "1.0")
    assert main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"]) == 0


def test_a_judge_that_gave_no_verdict_exits_3_whatever_the_tolerance_and_names_the_fix(
    tiny_run: SavedRun, unlabelled_judge: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("COCONOT_JUDGE_MAX_ERROR_RATE", "1.0")
    assert main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"]) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("coconot rescore: error: ") and "the judge gave not one verdict" in last, last
    # an output without a label does not heal by rerunning: the setting to change instead
    assert "raise judge_max_tokens" in last and "would fail the same way" in last, last
    assert "rerun the same command" not in last.lower(), last
    rescored(tmp_path / "out")  # written all the same


def test_transient_judge_errors_advise_a_rerun(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    judge_env.faults = FaultPlan(server_error=0.3, max_faults_per_request=10**6)
    monkeypatch.setenv("COCONOT_JUDGE_MAX_RETRIES", "0")
    assert main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"]) == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert "Rerun the same command: verdicts already obtained come from the judge cache" in last, last
    assert "would fail the same way" not in last, last


def test_max_cost_stops_judging_and_says_so(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    monkeypatch.setenv("COCONOT_JUDGE_PRICE_INPUT", "100")  # $ per million tokens
    monkeypatch.setenv("COCONOT_JUDGE_PRICE_OUTPUT", "100")
    args = ["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--max-cost-usd", "0.5"]
    assert main([*args, "--no-progress"]) == 3
    assert 0 < judge_env.state.judge_requests < distinct_requests(tiny_run)
    err = capsys.readouterr().err
    assert "budget cap reached" in err and "not judged" in err
    results, _ = rescored(tmp_path / "out")
    spent = sum(results["results"][task][f"judge_cost_usd,{FILTER}"] for task in ALL_TASKS)
    assert 0 < spent <= 0.5
    assert results["config"]["rescore"]["judge_settings"]["max_cost_usd"] == 0.5


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing-path", "no such file or directory"),
        ("wrong-key", "rejected the API key"),
        ("unknown-model", "does not know model 'no-such-judge'"),
        ("unreachable", "is unreachable"),
        ("no-samples", "lm_eval --log_samples"),
        ("into-the-run", "is the directory of the run being rescored"),
        ("not-a-run", "no results_*.json below it"),
    ],
)
def test_bad_input_exits_2_before_any_judge_request(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], case: str, message: str,
) -> None:  # fmt: skip
    run_path, out = str(tiny_run.output_path), tmp_path / "out"
    extra: list[str] = []
    if case == "missing-path":
        run_path = str(tmp_path / "no-such-run")
    elif case == "wrong-key":
        monkeypatch.setenv("COCONOT_JUDGE_API_KEY", "sk-wrong-key-123")
    elif case == "unknown-model":
        extra = ["--judge-model", "no-such-judge"]
    elif case == "unreachable":
        extra = ["--judge-base-url", "http://127.0.0.1:9/v1"]
    elif case == "no-samples":
        for path in tiny_run.results_path.parent.glob("samples_coconot_contrast_*"):
            path.unlink()
    elif case == "into-the-run":
        out = tiny_run.output_path
    elif case == "not-a-run":
        (tmp_path / "empty").mkdir()
        run_path = str(tmp_path / "empty")
    code = main(["rescore", run_path, "-o", str(out), "--no-progress", *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and err.startswith("coconot rescore: error: ")
    assert judge_env.state.judge_requests == 0
    assert not (tmp_path / "out").exists()
    assert [p.name for p in tiny_run.results_path.parent.glob("results_*")] == [tiny_run.results_path.name]
    assert "sk-wrong-key-123" not in err


def _write_samples(run: SavedRun, task: str, lines: list[dict[str, Any]]) -> None:
    path = run.results_path.parent / f"samples_{task}_{DATE}.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def _set_effective(run: SavedRun, counts: dict[str, int]) -> None:
    results = json.loads(run.results_path.read_text())
    for task, count in counts.items():
        results["n-samples"][task]["effective"] = count
    run.results_path.write_text(json.dumps(results))


def test_swapped_original_and_contrast_samples_files_are_refused(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # As after `lm_eval --limit 19`: both sets have 19 samples, so the counts cannot tell.
    original, contrast = tiny_run.lines["coconot_original"][:19], tiny_run.lines["coconot_contrast"]
    assert len(contrast) == 19
    _write_samples(tiny_run, "coconot_original", contrast)
    _write_samples(tiny_run, "coconot_contrast", original)
    _set_effective(tiny_run, {"coconot_original": 19, "coconot_contrast": 19})
    code = main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    path = tiny_run.results_path.parent / f"samples_coconot_original_{DATE}.jsonl"
    assert err == (
        f"coconot rescore: error: {path}: holds rows of the CoCoNot contrast set, but coconot_original is a "
        "task of the original set: the original and contrast samples files were swapped or renamed. Give "
        "each file its own task's name; rescored as original rows they would be judged with the wrong "
        "rubric and classes\n"
    )
    assert judge_env.state.judge_requests == 0
    assert not (tmp_path / "out").exists()


def test_a_samples_file_with_a_repeated_id_is_refused_even_when_the_count_matches(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [dict(line) for line in tiny_run.lines["coconot_original"]]
    lines[3] = dict(lines[2])  # line 3 repeated, line 4 lost: still as many lines as the results say
    _write_samples(tiny_run, "coconot_original", lines)
    code = main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"])
    [line] = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    path = tiny_run.results_path.parent / f"samples_coconot_original_{DATE}.jsonl"
    assert line.startswith(
        f"coconot rescore: error: {path}: id {lines[2]['doc']['id']!r} appears more than once"
    )
    assert f"lm-eval doc_id {tiny_run.lines['coconot_original'][3]['doc_id']} missing" in line, line
    assert judge_env.state.judge_requests == 0 and not (tmp_path / "out").exists()


@pytest.mark.parametrize("case", ["edited-prompt", "moved-subcategory", "unknown-id"])
def test_samples_that_are_not_rows_of_their_set_are_refused(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    lines = [dict(line, doc=dict(line["doc"])) for line in tiny_run.lines["coconot_original_sysprompt"]]
    doc = lines[4]["doc"]
    if case == "edited-prompt":
        doc["prompt"] += " Answer in French."
        expected = (
            f"sample 5: the prompt of id {doc['id']!r} differs from that row of the CoCoNot original set"
        )
    elif case == "moved-subcategory":
        doc["subcategory"] = "wildchats"
        expected = f"sample 5: the subcategory of id {doc['id']!r} differs"
    else:
        doc["id"] = "no-such-id"
        expected = (
            "sample 5: id 'no-such-id' is not a row of the CoCoNot original set (COCONOT_DATA_DIR or the "
            "pinned hub revision); this samples file does not belong to coconot_original_sysprompt"
        )
    _write_samples(tiny_run, "coconot_original_sysprompt", lines)
    code = main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and err.startswith("coconot rescore: error: ") and err.count("\n") == 1
    assert judge_env.state.judge_requests == 0


@pytest.mark.parametrize("case", ["is-a-file", "below-a-file", "model-dir-is-a-file"])
def test_an_unusable_output_dir_is_refused_before_the_judge_is_even_checked(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], case: str,
) -> None:  # fmt: skip
    # A wrong key: the preflight would fail with another message, so the output folder is checked first.
    monkeypatch.setenv("COCONOT_JUDGE_API_KEY", "sk-wrong-key-789")
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory\n")
    out = {"is-a-file": blocker, "below-a-file": blocker / "sub", "model-dir-is-a-file": tmp_path / "out"}[
        case
    ]
    if case == "model-dir-is-a-file":
        out.mkdir()
        (out / "org__tiny-model").write_text("")
    code = main(["rescore", str(tiny_run.output_path), "-o", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    expected = {
        "is-a-file": f"--output-dir {blocker}: is a file, not a directory; choose another --output-dir",
        "below-a-file": f"--output-dir {blocker / 'sub'}: cannot be created: {blocker} is a file; choose "
        "another --output-dir",
        "model-dir-is-a-file": f"--output-dir {out}: holds a file named org__tiny-model where this model's "
        "rescore would go; choose another --output-dir",
    }[case]
    assert err == f"coconot rescore: error: {expected}\n"
    assert judge_env.state.judge_requests == 0
    assert blocker.read_text() == "not a directory\n"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
def test_a_read_only_output_dir_is_refused_before_judging(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        code = main(["rescore", str(tiny_run.output_path), "-o", str(locked / "out"), "--no-progress"])
    finally:
        locked.chmod(0o755)
    assert code == 2
    assert f"--output-dir {locked / 'out'}: cannot write into {locked}" in capsys.readouterr().err
    assert judge_env.state.judge_requests == 0


def test_two_runs_of_one_model_into_one_directory_are_refused(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy" / "org__tiny-model"
    copy.mkdir(parents=True)
    for path in tiny_run.results_path.parent.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    code = main(["rescore", str(tiny_run.output_path), str(copy.parent), "-o", str(tmp_path / "out")])
    assert code == 2 and "would both be written to" in capsys.readouterr().err
    assert judge_env.state.judge_requests == 0


def test_a_run_named_twice_is_rescored_once(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["rescore", str(tiny_run.output_path), str(tiny_run.results_path), "-o", str(tmp_path / "out"),
         "--dry-run", "--no-progress"]
    )  # fmt: skip
    assert code == 0
    assert capsys.readouterr().out.count("DRY RUN") == 1


def test_dry_run_counts_calls_and_writes_nothing(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--dry-run", "--no-progress"]
    )
    assert code == 0
    assert judge_env.state.judge_requests == 0
    assert not (tmp_path / "out").exists()
    assert f"{distinct_requests(tiny_run)} judge calls needed" in capsys.readouterr().out


def test_ctrl_c_while_judging_says_how_many_verdicts_were_kept_and_a_rerun_resumes(
    tiny_run: SavedRun, tmp_path: Path, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeOpenAI(judge_key=JUDGE_KEY, latency=0.2) as server:
        monkeypatch.setenv("COCONOT_JUDGE_BASE_URL", server.url)
        monkeypatch.setenv("COCONOT_JUDGE_API_KEY", JUDGE_KEY)
        monkeypatch.setenv("COCONOT_JUDGE_MODEL", FAKE_JUDGE)
        args = [sys.executable, "-m", "coconot_tasks", "rescore", str(tiny_run.output_path), "-o",
                str(tmp_path / "out"), "--no-progress", "--judge-concurrency", "2"]  # fmt: skip
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while server.state.judge_answers < 4 and proc.poll() is None:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
        [line] = [line for line in err.strip().splitlines() if "interrupted" in line]
        cache = VerdictCache()
        try:
            kept = cache.stats()["per_judge"]["openai:fake-judge"]
        finally:
            cache.close()
        assert line == (
            f"coconot rescore: interrupted: {kept} new verdicts of openai:fake-judge were kept in the judge "
            "cache; rerun the same command to resume (those are not asked again)"
        )
        assert 0 < kept < distinct_requests(tiny_run)
        server.reset()
        server.latency = 0.0
        assert main(["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--no-progress"]) == 0
        assert server.state.judge_requests == distinct_requests(tiny_run) - kept


def test_a_budget_cap_on_an_unpriced_judge_is_refused_before_judging(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "out"), "--max-cost-usd", "1"]
    assert main(args) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "needs the price of judge model 'fake-judge'" in line and "judge_price_input" in line, line
    assert judge_env.state.judge_requests == 0 and not (tmp_path / "out").exists()


def test_an_unpriced_judge_reports_its_cost_as_unknown(
    tiny_run: SavedRun, judge_env: FakeOpenAI, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["rescore", str(tiny_run.output_path), "-o", str(out), "--no-progress", "--dry-run"]) == 0
    assert "estimated cost unknown" in capsys.readouterr().out
    assert main(["rescore", str(tiny_run.output_path), "-o", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "cost unknown" in printed and "$0.0000" not in printed
    results, _ = rescored(out)
    assert results["config"]["rescore"]["judge_settings"]["price_known"] is False


def test_heuristic_judge_needs_no_key_or_server(tiny_run: SavedRun, tmp_path: Path) -> None:
    args = ["rescore", str(tiny_run.output_path), "-o", str(tmp_path / "h"), "--judge-backend", "heuristic"]
    assert main([*args, "--no-progress"]) == 0
    results, where = rescored(tmp_path / "h")
    assert results["config"]["rescore"]["judge"] == "heuristic"
    # the heuristic judge has no model or endpoint: its record names none
    for record in (results["config"]["rescore"]["judge_settings"], *(
            config["metadata"]["judge_settings"] for config in results["configs"].values())):  # fmt: skip
        assert record["backend"] == "heuristic" and not {"model", "endpoint", "vllm_revision"} & set(record)
    assert not [config for config in results["configs"].values() if "judge_model" in config["metadata"]]
    report = json.loads((where / "agreement.json").read_text())
    assert report["judge_b"] == "heuristic" and report["overall"]["n"] > 0


# --- fast: aggregation units ------------------------------------------------------------------


def test_aggregate_task_matches_lm_eval_aggregation() -> None:
    raw = {
        ("compliance_rate", FILTER): [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0],
        ("compliance_rate:safety", FILTER): [1.0, 0.0, 1.0],
        ("compliance_rate:safety/wildchats", FILTER): [1.0],  # a single value: no stderr
        ("judge_cost_usd", FILTER): [0.1, 0.2, 0.3, 1e-9, 0.0, 0.7, 0.01],  # a sum: no stderr
        ("judge_calls", FILTER): [1.0, 1.0, 0.0, 3.0, 1.0, 1.0, 1.0],
    }
    names = {metric: aggregation(metric) for metric, _f in raw}
    expected = _lm_eval_task_metrics("coconot_original", raw)
    got = aggregate_task(raw, names)
    assert got == {k: v for k, v in expected.items() if k not in ("name", "alias")}
    assert list(got) == [k for k in expected if k not in ("name", "alias")]
    assert got[f"judge_cost_usd_stderr,{FILTER}"] == "N/A"
    assert got[f"compliance_rate:safety/wildchats_stderr,{FILTER}"] == "N/A"
    # stderr of a mean of 0/1 values: sqrt(p(1-p)/(n-1)) with p = 4/7, n = 7
    assert got[f"compliance_rate_stderr,{FILTER}"] == pytest.approx(math.sqrt(4 / 7 * 3 / 7 / 6))
    no_stderr = aggregate_task(raw, names, bootstrap_iters=0)
    assert all(v == "N/A" for k, v in no_stderr.items() if "_stderr," in k)


# --- slow: a real lm_eval run, rescored through the command line ---------------------------------

ORIGINAL_INDICES = list(range(0, 1001, 25))  # 41 rows across all five categories
CONTRAST_INDICES = list(range(0, 379, 10))  # 38 rows across all three categories
SLOW_TASKS = {
    "coconot_original": ORIGINAL_INDICES,
    "coconot_contrast": CONTRAST_INDICES,
    "coconot_original_sysprompt": ORIGINAL_INDICES,
    "coconot_contrast_sysprompt": CONTRAST_INDICES,
}


@dataclass
class LmEvalRun:
    server: FakeOpenAI
    output_path: Path
    cache_dir: Path
    results: dict[str, Any]
    lines: dict[str, list[dict[str, Any]]]
    env: dict[str, str]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("COCONOT_", "OPENAI_")) and k != "PYTHONPATH"}  # fmt: skip
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", **extra)
    return env


@pytest.fixture(scope="module")
def lm_eval_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LmEvalRun]:
    """One real ``lm_eval`` run of both sets in both conditions (fake model, fake-judge), for the module."""
    require_shared(SHARED_DATA / "coconot_eval.jsonl", "offline CoCoNot data")
    root = tmp_path_factory.mktemp("lm-eval-run")
    with FakeOpenAI(judge_key=JUDGE_KEY) as server:
        env = _clean_env(
            COCONOT_CACHE_DIR=str(root / "cache"),
            HF_HOME=str(root / "hf-home"),
            COCONOT_DATA_DIR=str(SHARED_DATA),
            COCONOT_RUBRIC_PATH=str(SHARED_DATA / "refusal_evaluation_rubric.json"),
            COCONOT_SYSTEM_PROMPT_PATH=str(SHARED_DATA / "system_prompt.json"),
        )
        env.update(
            COCONOT_JUDGE_BASE_URL=server.url, COCONOT_JUDGE_MODEL=FAKE_JUDGE, COCONOT_JUDGE_API_KEY=JUDGE_KEY
        )
        out = root / "out"
        cmd = lm_eval_command(
            server.url, out, "coconot,coconot_sysprompt", "--samples", json.dumps(SLOW_TASKS)
        )
        run = run_lm_eval(cmd, env, out)
        assert run.returncode == 0, run.log[-4000:]
        # (not run.samples(task): its glob also matches the *_sysprompt files of a task)
        files = samples_files(find_results_files(out)[0])
        lines = {t: [json.loads(line) for line in files[t].read_text().splitlines()] for t in SLOW_TASKS}
        yield LmEvalRun(server, out, root / "cache", run.results(), lines, env)


def _rescore_cli(
    run: LmEvalRun, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coconot_tasks", "rescore", *args, "--no-progress"],
        env=env or run.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _non_empty(run: LmEvalRun) -> int:
    return sum(1 for lines in run.lines.values() for line in lines if line["resps"][0][0].strip())


@pytest.mark.slow
def test_rescoring_an_lm_eval_run_with_its_judge_reproduces_its_results_json(
    lm_eval_run: LmEvalRun, tmp_path: Path
) -> None:
    run, server = lm_eval_run, lm_eval_run.server
    original = metric_values(run.results, accounting=False)
    assert set(original) == {*SLOW_TASKS, "coconot", "coconot_sysprompt"}

    # with the cache (the default): every verdict is reused, nothing is sent to the judge
    before = server.state.judge_requests
    proc = _rescore_cli(run, str(run.output_path), "--output-dir", str(tmp_path / "cached"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert server.state.judge_requests == before
    cached, where = rescored(tmp_path / "cached")
    assert metric_values(cached, accounting=False) == original  # values and stderrs, exactly
    assert cached["results"]["coconot_original"][f"judge_calls,{FILTER}"] == 0
    assert cached["groups"] == run.results["groups"]
    assert "0 judge calls" in proc.stdout and "agreement old vs new: 100.0%" in proc.stdout

    # without the cache: everything is judged again, and still reproduced (accounting included)
    before = server.state.judge_requests
    proc = _rescore_cli(run, str(run.output_path), "--output-dir", str(tmp_path / "fresh"), "--no-cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert server.state.judge_requests - before == _non_empty(run)
    fresh, _ = rescored(tmp_path / "fresh")
    values = metric_values(fresh)
    for name, metrics in metric_values(run.results).items():
        for key, value in metrics.items():
            if key.startswith(("judge_calls", "judge_prompt_tokens", "judge_completion_tokens")):
                # no cache: the sysprompt tasks' repeats of responses are judged again
                if "sysprompt" not in name:
                    assert values[name][key] == value, (name, key)
            elif isinstance(value, float):
                assert values[name][key] == pytest.approx(value, rel=0, abs=1e-12), (name, key)
            else:
                assert values[name][key] == value, (name, key)
    assert metric_values(fresh, accounting=False) == original

    for root in (tmp_path, run.cache_dir, run.output_path):
        assert files_hold(root, JUDGE_KEY) == [], root


@pytest.mark.slow
def test_rescoring_an_lm_eval_run_with_a_second_judge_reports_the_agreement(
    lm_eval_run: LmEvalRun, tmp_path: Path
) -> None:
    run = lm_eval_run
    proc = _rescore_cli(
        run, str(run.output_path), "--output-dir", str(tmp_path), "--judge-model", FAKE_JUDGE_B
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    _results, where = rescored(tmp_path)
    report = json.loads((where / "agreement.json").read_text())

    a: list[str] = []
    b: list[str] = []
    per_subcategory: dict[tuple[str, str], Counter[bool]] = {}
    disagreements = set()
    for task, lines in run.lines.items():
        set_name = task_info(task).set_name  # type: ignore[union-attr]
        for line in lines:
            response, doc = line["resps"][0][0], line["doc"]
            a.append(expected_verdict(set_name, doc, response, FAKE_JUDGE))
            b.append(expected_verdict(set_name, doc, response, FAKE_JUDGE_B))
            per_subcategory.setdefault((set_name, doc["subcategory"]), Counter())[a[-1] == b[-1]] += 1
            if a[-1] != b[-1]:
                disagreements.add((task, doc["id"], a[-1], b[-1]))
    confusion = [
        [sum(1 for x, y in zip(a, b, strict=True) if (x, y) == (r, c)) for c in LABELS] for r in LABELS
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sklearn_kappa = float(cohen_kappa_score(a, b, labels=LABELS))
    overall = report["overall"]
    assert overall["confusion"] == confusion
    assert overall["n"] == len(a) and overall["excluded"] == 0
    assert overall["percent_agreement"] == pytest.approx(
        100 * sum(x == y for x, y in zip(a, b, strict=True)) / len(a)
    )
    assert overall["kappa"] == pytest.approx(cohen_kappa(confusion), abs=1e-15)
    assert overall["kappa"] == pytest.approx(sklearn_kappa, abs=1e-12)
    assert 0 < overall["kappa"] < 1
    got = {(d["task"], d["doc_id"], d["verdict_a"], d["verdict_b"]) for d in report["disagreements"]}
    assert got == disagreements and len(report["disagreements"]) == len(disagreements)
    assert all(
        d["verdict_a"] == "compliance" and d["verdict_b"] == "noncompliance" for d in report["disagreements"]
    )
    assert all(
        "<label>" in d["rationale_a"] and "<label>" in d["rationale_b"] for d in report["disagreements"]
    )
    for entry in report["by_subcategory"]:
        counts = per_subcategory[(entry["set"], entry["subcategory"])]
        assert (entry["n"], entry["agreed"]) == (counts[True] + counts[False], counts[True])
    assert f"{len(disagreements)} disagreements" in proc.stdout
    assert "openai:fake-judge (old) -> openai:fake-judge-b (new)" in proc.stdout
    markdown = (where / "agreement.md").read_text()
    assert f"## Disagreements ({len(disagreements)})" in markdown


@pytest.mark.slow
def test_a_misconfigured_judge_or_a_bad_path_exits_2_before_judging(
    lm_eval_run: LmEvalRun, tmp_path: Path
) -> None:
    run, server = lm_eval_run, lm_eval_run.server
    before = (server.state.judge_requests, server.state.model_requests)
    wrong_key = {**run.env, "COCONOT_JUDGE_API_KEY": "sk-wrong-key-456"}
    proc = _rescore_cli(run, str(run.output_path), "--output-dir", str(tmp_path / "a"), env=wrong_key)
    assert proc.returncode == 2
    assert "rejected the API key" in proc.stderr and "COCONOT_JUDGE_API_KEY" in proc.stderr
    assert "sk-wrong-key-456" not in proc.stdout + proc.stderr
    missing = tmp_path / "no" / "such" / "run"
    proc = _rescore_cli(run, str(missing), "--output-dir", str(tmp_path / "b"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"coconot rescore: error: {missing}: no such file or directory"
    assert (server.state.judge_requests, server.state.model_requests) == before
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
