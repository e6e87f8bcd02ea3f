"""Re-judge the saved responses of a CoCoNot run with another (or the same) judge.

No generation: every logged response of every CoCoNot task of the run is judged again
through the one judge engine (:func:`~coconot_tasks.judge.engine.judge_items`, cached by
default), turned into per-sample metrics by the task's own
:func:`~coconot_tasks.lm_eval_hooks.process_results`, and aggregated exactly as lm-eval
0.4.13 aggregates them (``mean`` with lm-eval's closed-form stderr, the package's sum for
judge accounting, the group's unweighted mean of ``coconot_score`` with lm-eval's
stderr of that mean). Rescoring with the judge that produced the run therefore
reproduces the run's results JSON, values and stderrs, bit for bit -- except the judge
accounting (``judge_calls``, tokens, cost), which is what *this* judging spent (zero for
cached verdicts).

Written into ``<output_dir>/<model_name_sanitized>/``: a ``results_<date>.json`` in
lm-eval's shape (read by ``coconot report`` like any run; ``config.rescore`` says what
was rescored and by which judge), one ``samples_<task>_<date>.jsonl`` per task (the
original lines with the new verdict in ``filtered_resps`` and the new metrics), and the
agreement of the run's verdicts (judge A) with the new ones (judge B) as
``agreement.json`` and ``agreement.md``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from coconot_tasks.agreement import AgreementReport, VerdictPair, compare_verdicts
from coconot_tasks.judge.cache import VerdictCache
from coconot_tasks.judge.engine import (
    OUTCOME_CACHED,
    OUTCOME_EMPTY,
    OUTCOME_ERROR,
    OUTCOME_JUDGED,
    OUTCOME_NOT_JUDGED,
    JudgeItem,
    JudgeResult,
    JudgeStats,
    judge_items,
)
from coconot_tasks.paths import task_dir
from coconot_tasks.runs import Run, RunError, Sample, TaskInfo
from coconot_tasks.settings import JudgeConfigError, JudgeSettings
from coconot_tasks.taxonomy import SCORE_NAME, aggregation

logger = logging.getLogger("coconot_tasks")

#: lm-eval's filter name of the CoCoNot tasks (part of every metric key).
FILTER_NAME = "coconot_judge"
#: lm-eval's default number of bootstrap iterations (``0`` turns every stderr into "N/A").
DEFAULT_BOOTSTRAP_ITERS = 100000
#: Keys of a task's config ``metadata`` that describe the judge (replaced on rescoring).
_JUDGE_METADATA = ("judge_backend", "judge_model", "judge_base_url")


@dataclass
class TaskRescore:
    """Old and new headline numbers of one task."""

    task: str
    set_name: str
    system_prompt: bool
    samples: int
    old_compliance_rate: float | None
    new_compliance_rate: float | None
    old_score: float | None
    new_score: float | None
    changed: int  # samples whose verdict changed (both sides with a verdict)
    no_verdict: int  # samples the new judge gave no verdict (errors, budget cap)


@dataclass
class RescoreSummary:
    """What :func:`rescore_run` did and where it wrote."""

    source: Path
    model: str
    old_judges: list[str]
    judge: str
    output_dir: Path
    results_path: Path
    samples_paths: dict[str, Path]
    agreement_json: Path
    agreement_md: Path
    tasks: list[TaskRescore]
    groups: dict[str, tuple[float | None, float | None]]  # group -> (old, new) coconot_score
    agreement: AgreementReport
    stats: JudgeStats
    results: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def no_verdict(self) -> int:
        """Samples the new judge gave no verdict (judge errors plus items not judged)."""
        return self.stats.errors + self.stats.not_judged


def target_dir(run: Run, output_dir: Path) -> Path:
    """Where the rescore of ``run`` goes: ``output_dir/<model_name_sanitized>``, like lm-eval."""
    return output_dir / model_name_sanitized(run)


def model_name_sanitized(run: Run) -> str:
    """lm-eval's ``model_name_sanitized`` of the run (recomputed the way lm-eval does if absent)."""
    name = run.results.get("model_name_sanitized")
    if name:
        return str(name)
    from lm_eval.utils import sanitize_model_name

    return str(sanitize_model_name(run.base_model))


def check_rescorable(run: Run, output_dir: Path) -> None:
    """Raise :class:`RunError` if ``run`` cannot be rescored into ``output_dir`` (before any judging).

    Every CoCoNot task of the results must have its samples file (``--log_samples``) with
    one line per evaluated document, and the output must not be the run's own directory.
    """
    for info in run.tasks:
        samples = run.samples.get(info.task)
        if samples is None:
            raise RunError(
                f"{run.results_path}: no samples file for task {info.task} next to it (expected "
                f"samples_{info.task}_<date>.jsonl); rescoring needs the responses, so the run must be "
                "made with lm_eval --log_samples"
            )
        expected = _effective_samples(run, info.task)
        if expected is not None and expected != len(samples):
            raise RunError(
                f"{run.results_path}: the samples file of {info.task} holds {len(samples)} samples but "
                f"the results were computed on {expected}"
            )
        for number, sample in enumerate(samples, start=1):
            if not isinstance(sample.raw.get("doc"), dict) or not sample.prompt:
                raise RunError(f"{run.results_path}: sample {number} of {info.task} has no CoCoNot doc")
    target = target_dir(run, output_dir).resolve()
    if target == run.results_path.parent.resolve():
        raise RunError(
            f"{target}: is the directory of the run being rescored; choose another --output-dir "
            "(a newer results file there would hide the original run)"
        )


def judge_items_for(run: Run) -> list[JudgeItem]:
    """One :class:`JudgeItem` per logged sample of every CoCoNot task, as the judge filter builds them."""
    return [_item(sample) for info in run.tasks for sample in run.samples.get(info.task, [])]


def rescore_run(
    run: Run,
    settings: JudgeSettings,
    output_dir: Path,
    *,
    cache: VerdictCache | None = None,
    progress: bool = True,
    date_id: str | None = None,
) -> RescoreSummary:
    """Re-judge every CoCoNot response of ``run`` with ``settings`` and write the rescored run.

    The judge is not checked here (call :func:`~coconot_tasks.judge.preflight.check_judge`
    first); failed judge calls never raise, they become samples without a verdict,
    counted in ``judge_error_rate`` and in :attr:`RescoreSummary.no_verdict`.

    Raises:
        RunError: the run cannot be rescored (see :func:`check_rescorable`); nothing is judged.
        JudgeConfigError: ``settings.dry_run`` is set (nothing would be judged).
    """
    from coconot_tasks.lm_eval_hooks import process_results  # registers the "sum" aggregation

    if settings.dry_run:
        raise JudgeConfigError(
            "a dry run judges nothing: estimate with judge_unique(judge_items_for(run), ...)"
        )
    check_rescorable(run, output_dir)
    started = time.time()
    tasks = run.tasks
    samples = [(info, sample) for info in tasks for sample in run.samples[info.task]]
    results, stats = judge_unique(
        [_item(sample) for _info, sample in samples],
        settings,
        cache=cache,
        progress=progress,
        desc=f"CoCoNot rescore ({run.model})",
    )
    new_results: dict[str, list[JudgeResult]] = {info.task: [] for info in tasks}
    for (info, _sample), result in zip(samples, results, strict=True):
        new_results[info.task].append(result)

    bootstrap_iters = int((run.results.get("config") or {}).get("bootstrap_iters", DEFAULT_BOOTSTRAP_ITERS))
    task_metrics: dict[str, dict[str, Any]] = {}
    sample_lines: dict[str, list[dict[str, Any]]] = {}
    for info in tasks:
        raw_metrics: dict[tuple[str, str], list[float]] = {}
        lines: list[dict[str, Any]] = []
        for sample, result in zip(run.samples[info.task], new_results[info.task], strict=True):
            verdict_json = result.to_json()
            metrics = process_results(sample.raw["doc"], [verdict_json])
            filter_key = str(sample.raw.get("filter") or FILTER_NAME)
            for name, value in metrics.items():
                raw_metrics.setdefault((name, filter_key), []).append(value)
            lines.append(_rescored_line(sample.raw, verdict_json, metrics))
        sample_lines[info.task] = lines
        task_metrics[info.task] = {
            "name": info.task,
            "alias": _task_alias(run, info.task),
            **aggregate_task(raw_metrics, _aggregations(run, info.task), bootstrap_iters),
        }
    group_metrics = aggregate_groups(run, task_metrics)

    agreement = compare_verdicts(
        _pairs(run, new_results),
        judge_a=" + ".join(_old_judges(run)) or "original",
        judge_b=settings.judge_id,
    )
    date_id = date_id or datetime.now().isoformat().replace(":", "-")
    out = target_dir(run, output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / f"results_{date_id}.json"
    samples_paths: dict[str, Path] = {}
    for task, lines in sample_lines.items():
        path = out / f"samples_{task}_{date_id}.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
        samples_paths[task] = path
    agreement_json, agreement_md = out / "agreement.json", out / "agreement.md"
    agreement_payload = {
        "source": str(run.results_path),
        "results_file": results_path.name,
        "model": run.base_model,
        **agreement.to_dict(),
    }
    agreement_json.write_text(json.dumps(agreement_payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
    notes = [f"judge A's verdicts: `{run.results_path}`", f"judge B's verdicts: `{results_path}`"]
    agreement_md.write_text(agreement.to_markdown(notes=notes), "utf-8")
    document = build_results(run, task_metrics, group_metrics, settings, stats, started)
    # written last: a results file is only ever found together with its samples
    results_path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str), "utf-8")

    return RescoreSummary(
        source=run.results_path,
        model=run.base_model,
        old_judges=_old_judges(run),
        judge=settings.judge_id,
        output_dir=out,
        results_path=results_path,
        samples_paths=samples_paths,
        agreement_json=agreement_json,
        agreement_md=agreement_md,
        tasks=[_task_summary(run, info, task_metrics[info.task], new_results[info.task]) for info in tasks],
        groups={
            group: (_metric(run.results["results"].get(group, {}), SCORE_NAME), _metric(values, SCORE_NAME))
            for group, values in group_metrics.items()
        },
        agreement=agreement,
        stats=stats,
        results=document,
    )


def judge_unique(
    items: Sequence[JudgeItem],
    settings: JudgeSettings,
    *,
    cache: VerdictCache | None = None,
    progress: bool = True,
    desc: str = "CoCoNot rescore",
) -> tuple[list[JudgeResult], JudgeStats]:
    """:func:`judge_items`, sending each distinct judge request once when the cache is on.

    A run with both conditions (with and without the system prompt) often holds the same
    response to the same prompt twice. Judged one task after another (as lm-eval does),
    the second copy is a cache hit; judged in one concurrent batch, both would be sent.
    So with the cache on, repeats are judged once and get the first copy's verdict as a
    cached result (no calls, tokens or cost: what the cache would have given). With the
    cache off (``--no-cache``) every item is sent, as asked.
    """
    if not settings.cache or settings.backend == "heuristic":
        return judge_items(items, settings, cache=cache, progress=progress, desc=desc)
    first: dict[tuple[str, str, str, str], int] = {}
    unique: list[JudgeItem] = []
    source: list[int] = []
    for item in items:
        key = (item.set_name, item.subcategory, item.prompt, item.response)
        if key not in first:
            first[key] = len(unique)
            unique.append(item)
        source.append(first[key])
    judged, stats = judge_items(unique, settings, cache=cache, progress=progress, desc=desc)
    results: list[JudgeResult] = []
    seen: set[int] = set()
    for item, index in zip(items, source, strict=True):
        result = judged[index]
        if index in seen:
            result = _repeat(result, item)
            stats.items += 1
            if result.outcome == OUTCOME_CACHED:
                stats.cached += 1
            elif result.outcome == OUTCOME_EMPTY:
                stats.empty += 1
            elif result.outcome == OUTCOME_NOT_JUDGED:
                stats.not_judged += 1
            elif result.outcome == OUTCOME_ERROR:
                stats.errors += 1
        seen.add(index)
        results.append(result)
    return results, stats


def _repeat(result: JudgeResult, item: JudgeItem) -> JudgeResult:
    """The result of a repeated request: a cache hit if the first copy got a verdict; no spend."""
    outcome = OUTCOME_CACHED if result.outcome in (OUTCOME_JUDGED, OUTCOME_CACHED) else result.outcome
    return replace(
        result,
        outcome=outcome,
        category=item.category,
        subcategory=item.subcategory,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        attempts=0,
    )


# --- aggregation, as lm-eval does it ---------------------------------------------------------


def aggregate_task(
    raw_metrics: Mapping[tuple[str, str], Sequence[float]],
    aggregations: Mapping[str, str],
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS,
) -> dict[str, Any]:
    """A task's ``sample_len`` and ``"<metric>,<filter>"`` / ``"<metric>_stderr,<filter>"`` values.

    Mirrors ``lm_eval.evaluator_utils._compute_task_aggregations``: lm-eval's registered
    aggregation of each metric (``mean`` when the task names none), and the stderr
    lm-eval pairs with it (:func:`lm_eval.api.metrics.stderr_for_metric`: ``mean_stderr``
    for means, "N/A" for the accounting sums and for a single value). ``raw_metrics``
    must hold the per-sample values in document order (float sums depend on the order).
    """
    from lm_eval.api.metrics import mean, stderr_for_metric
    from lm_eval.api.registry import get_aggregation

    values: dict[str, Any] = {}
    sample_len = 0
    for (metric, filter_key), items in raw_metrics.items():
        fn: Callable[..., float] = get_aggregation(aggregations.get(metric, "mean")) or mean
        key = f"{metric},{filter_key}"
        values[key] = fn(list(items))
        sample_len = max(sample_len, len(items))
        stderr_fn = (
            stderr_for_metric(metric=fn, bootstrap_iters=bootstrap_iters) if bootstrap_iters > 0 else None
        )
        values[f"{metric}_stderr,{filter_key}"] = (
            stderr_fn(list(items)) if stderr_fn and len(items) > 1 else "N/A"
        )
    return {"sample_len": sample_len, **values}


@dataclass(frozen=True)
class GroupDefinition:
    """A group's aggregation, from its YAML (``aggregate_metric_list``)."""

    name: str
    metrics: tuple[tuple[str, tuple[str, ...] | None, bool], ...]  # (metric, filters or None, weight_by_size)


def group_definitions(directory: Path | None = None) -> dict[str, GroupDefinition]:
    """The groups defined in the package's task YAML files (those with an ``aggregate_metric_list``)."""
    definitions: dict[str, GroupDefinition] = {}
    for path in sorted((directory or task_dir()).glob("*.yaml")):
        try:
            config = yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader)
        except yaml.YAMLError:
            continue
        if not isinstance(config, dict) or "group" not in config:
            continue
        metrics = []
        for entry in config.get("aggregate_metric_list") or []:
            filters = entry.get("filter_list")
            if isinstance(filters, str):
                filters = [filters]
            metrics.append(
                (
                    str(entry["metric"]),
                    tuple(str(f) for f in filters) if filters else None,
                    bool(entry.get("weight_by_size", True)),
                )
            )
        definitions[str(config["group"])] = GroupDefinition(str(config["group"]), tuple(metrics))
    return definitions


#: Used for a CoCoNot group of the run whose YAML is not found (renamed or removed since).
_DEFAULT_GROUP_METRICS: tuple[tuple[str, tuple[str, ...] | None, bool], ...] = (
    (SCORE_NAME, (FILTER_NAME,), False),
)


def aggregate_groups(run: Run, task_metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """The run's CoCoNot groups, recomputed from ``task_metrics`` like ``lm_eval.api.group.Group.aggregate``.

    Only groups whose leaf tasks are all rescored CoCoNot tasks are kept.
    """
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr, unweighted_mean_stderr

    subtasks: dict[str, list[str]] = run.results.get("group_subtasks") or {}
    definitions = group_definitions()
    old = run.results.get("results") or {}
    groups: dict[str, dict[str, Any]] = {}
    for group in subtasks:
        leaves = _leaves(group, subtasks)
        if not leaves or any(leaf not in task_metrics for leaf in leaves):
            continue
        definition = definitions.get(group)
        metrics = definition.metrics if definition is not None else _DEFAULT_GROUP_METRICS
        values: dict[str, Any] = {
            "alias": (old.get(group) or {}).get("alias") or group,
            "name": group,
            "sample_len": sum(int(task_metrics[leaf].get("sample_len", 0)) for leaf in leaves),
        }
        sample_count: dict[str, int] = {}
        for metric, filters, weight_by_size in metrics:
            for filter_name in filters or _discover_filters(metric, leaves, task_metrics):
                key, stderr_key = f"{metric},{filter_name}", f"{metric}_stderr,{filter_name}"
                present = [task_metrics[leaf] for leaf in leaves if key in task_metrics[leaf]]
                if not present:
                    continue
                scores = [m[key] for m in present]
                sizes = [int(m.get("sample_len", 0)) for m in present]
                stderrs = [m[stderr_key] for m in present if m.get(stderr_key) is not None]
                values[key] = aggregate_subtask_metrics(scores, sizes, weight_by_size)
                sample_count[key] = sum(sizes)
                if len(stderrs) == len(scores) and "N/A" not in stderrs:
                    stderr = (
                        pooled_sample_stderr(stderrs, sizes)
                        if weight_by_size
                        else unweighted_mean_stderr(stderrs)
                    )
                    values[stderr_key] = float(stderr)
                else:
                    values[stderr_key] = "N/A"
        if sample_count:
            values["sample_count"] = sample_count
        groups[group] = values
    return groups


def build_results(
    run: Run,
    task_metrics: Mapping[str, dict[str, Any]],
    group_metrics: Mapping[str, dict[str, Any]],
    settings: JudgeSettings,
    stats: JudgeStats,
    started: float,
) -> dict[str, Any]:
    """The rescored run's results JSON: the original's shape, its CoCoNot tasks and groups only."""
    original = run.results
    kept = set(task_metrics) | set(group_metrics)
    document: dict[str, Any] = {}
    for key, value in original.items():
        if key == "results":
            document[key] = {
                name: dict(task_metrics.get(name) or group_metrics[name]) for name in value if name in kept
            }
        elif key == "groups":
            document[key] = {name: dict(group_metrics[name]) for name in value if name in group_metrics}
        elif key == "group_subtasks":
            document[key] = {name: list(tasks) for name, tasks in value.items() if name in group_metrics}
        elif key == "configs":
            document[key] = {
                name: _rescored_config(config, settings) for name, config in value.items() if name in kept
            }
        elif key in ("versions", "n-shot", "higher_is_better", "task_hashes") and isinstance(value, dict):
            document[key] = {name: v for name, v in value.items() if name in kept}
        elif key == "n-samples" and isinstance(value, dict):
            document[key] = {
                name: {**dict(v), "effective": task_metrics[name]["sample_len"]}
                for name, v in value.items()
                if name in task_metrics
            }
        elif key == "config":
            document[key] = {**dict(value or {}), "rescore": _provenance(run, settings, stats)}
        elif key == "date":
            document[key] = started
        elif key == "total_evaluation_time_seconds":
            document[key] = str(time.time() - started)
        else:
            document[key] = value
    document.setdefault("results", {name: dict(m) for name, m in task_metrics.items()})
    if group_metrics and "groups" not in document:
        document["groups"] = {name: dict(m) for name, m in group_metrics.items()}
    document.setdefault("config", {"rescore": _provenance(run, settings, stats)})
    document.setdefault("date", started)
    return document


# --- helpers ---------------------------------------------------------------------------------


class _TolerantLoader(yaml.SafeLoader):
    """A safe YAML loader that reads lm-eval tags (``!function ...``) as plain strings."""


_TolerantLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None,
)


def _item(sample: Sample) -> JudgeItem:
    return JudgeItem(
        set_name=sample.task.set_name,
        prompt=sample.prompt,
        response=sample.response,
        subcategory=sample.subcategory,
        category=sample.category,
        doc_id=sample.doc_id,
    )


def _rescored_line(raw: Mapping[str, Any], verdict_json: str, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The original samples line with the new verdict and metrics (lm-eval's layout)."""
    old_metrics = set(raw.get("metrics") or [])
    line = {key: value for key, value in raw.items() if key not in old_metrics}
    line["filtered_resps"] = [verdict_json]
    line["metrics"] = list(metrics)
    line.update(metrics)
    return line


def _effective_samples(run: Run, task: str) -> int | None:
    counts = (run.results.get("n-samples") or {}).get(task) or {}
    effective = counts.get("effective") if isinstance(counts, dict) else None
    return int(effective) if isinstance(effective, (int, float)) else None


def _aggregations(run: Run, task: str) -> dict[str, str]:
    """Metric -> aggregation name, from the task config saved in the run (else the package's)."""
    config = (run.results.get("configs") or {}).get(task) or {}
    names: dict[str, str] = {}
    for entry in config.get("metric_list") or []:
        if isinstance(entry, dict) and isinstance(entry.get("aggregation"), str):
            names[str(entry["metric"])] = entry["aggregation"]
    if not names:  # a results file without configs: the package's own definitions
        from coconot_tasks.taxonomy import metric_names

        info = _info(task)
        names = {metric: aggregation(metric) for metric in metric_names(info.set_name)}
    return names


def _info(task: str) -> TaskInfo:
    from coconot_tasks.runs import task_info

    info = task_info(task)
    if info is None:  # pragma: no cover - only CoCoNot tasks reach here
        raise RunError(f"{task} is not a CoCoNot task")
    return info


def _task_alias(run: Run, task: str) -> str:
    old = (run.results.get("results") or {}).get(task) or {}
    config = (run.results.get("configs") or {}).get(task) or {}
    return str(old.get("alias") or config.get("task_alias") or task)


def _leaves(group: str, subtasks: Mapping[str, list[str]], seen: frozenset[str] = frozenset()) -> list[str]:
    leaves: list[str] = []
    for child in subtasks.get(group, []):
        if child in subtasks and child not in seen:
            leaves.extend(_leaves(child, subtasks, seen | {group}))
        elif child not in subtasks:
            leaves.append(child)
    return leaves


def _discover_filters(
    metric: str, leaves: list[str], task_metrics: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    found = {
        key[len(metric) + 1 :]
        for leaf in leaves
        for key in task_metrics[leaf]
        if key.startswith(f"{metric},") and "_stderr" not in key
    }
    return sorted(found)


def _rescored_config(config: Mapping[str, Any], settings: JudgeSettings) -> dict[str, Any]:
    """A task config with the judge keys of its ``metadata`` describing the new judge."""
    updated = dict(config)
    metadata = dict(updated.get("metadata") or {})
    for key in _JUDGE_METADATA:
        metadata.pop(key, None)
    metadata.update({"judge_backend": settings.backend, "judge_model": settings.model})
    if settings.base_url:
        metadata["judge_base_url"] = settings.base_url
    updated["metadata"] = metadata
    return updated


def _provenance(run: Run, settings: JudgeSettings, stats: JudgeStats) -> dict[str, Any]:
    """What ``config.rescore`` records: the source run, both judges, the judge's accounting."""
    from coconot_tasks import __version__

    previous_config = run.results.get("config") or {}
    source_metadata = {
        task: {k: v for k, v in ((config or {}).get("metadata") or {}).items() if k in _JUDGE_METADATA}
        for task, config in (run.results.get("configs") or {}).items()
    }
    provenance: dict[str, Any] = {
        "tool": "coconot rescore",
        "coconot_tasks_version": __version__,
        "rescored_from": str(run.results_path.resolve()),
        "source_date": run.results.get("date"),
        "source_judges": _old_judges(run),
        "source_judge_metadata": {task: meta for task, meta in source_metadata.items() if meta},
        "judge": settings.judge_id,
        "judge_settings": settings.public(),
        "judge_stats": {
            "items": stats.items,
            "api_calls": stats.api_calls,
            "cached": stats.cached,
            "empty": stats.empty,
            "errors": stats.errors,
            "not_judged": stats.not_judged,
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "cost_usd": stats.cost_usd,
        },
    }
    if isinstance(previous_config, dict) and "rescore" in previous_config:
        provenance["previous_rescore"] = previous_config["rescore"]
    return provenance


def _old_judges(run: Run) -> list[str]:
    return sorted(
        {
            sample.result.judge
            for samples in run.samples.values()
            for sample in samples
            if sample.result is not None and sample.result.judge
        }
    )


def _verdict(result: JudgeResult | None) -> str | None:
    return str(result.verdict) if result is not None and result.ok else None


def _pairs(run: Run, new_results: Mapping[str, list[JudgeResult]]) -> list[VerdictPair]:
    pairs: list[VerdictPair] = []
    for task, results in new_results.items():
        for sample, new in zip(run.samples[task], results, strict=True):
            old = sample.result
            pairs.append(
                VerdictPair(
                    set_name=sample.task.set_name,
                    subcategory=sample.subcategory,
                    doc_id=sample.doc_id,
                    prompt=sample.prompt,
                    verdict_a=_verdict(old),
                    verdict_b=_verdict(new),
                    rationale_a=old.output if old is not None else "",
                    rationale_b=new.output,
                    category=sample.category,
                    task=task,
                )
            )
    return pairs


def _metric(values: Mapping[str, Any], name: str) -> float | None:
    value = values.get(f"{name},{FILTER_NAME}")
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None


def _task_summary(
    run: Run, info: TaskInfo, metrics: Mapping[str, Any], new: list[JudgeResult]
) -> TaskRescore:
    samples = run.samples[info.task]
    changed = sum(
        1
        for sample, result in zip(samples, new, strict=True)
        if _verdict(sample.result) is not None
        and _verdict(result) is not None
        and _verdict(sample.result) != _verdict(result)
    )
    return TaskRescore(
        task=info.task,
        set_name=info.set_name,
        system_prompt=info.system_prompt,
        samples=len(samples),
        old_compliance_rate=run.metric(info.task, "compliance_rate"),
        new_compliance_rate=_metric(metrics, "compliance_rate"),
        old_score=run.metric(info.task, SCORE_NAME),
        new_score=_metric(metrics, SCORE_NAME),
        changed=changed,
        no_verdict=sum(1 for result in new if not result.ok),
    )
