"""lm-eval's results JSON, recomputed from per-sample metrics: what lm-eval would have written.

Mirrors lm-eval 0.4.13:

- a task's block (:func:`task_block`, :func:`aggregate_task`): each metric aggregated
  with the aggregation the task names (``mean`` by default, the package's sum for judge
  accounting) and the stderr lm-eval pairs with it;
- a group's block (:func:`aggregate_groups`): its metrics aggregated over its leaf tasks
  like ``lm_eval.api.group.Group.aggregate``, following the group's YAML
  (:func:`group_definitions`; for the CoCoNot groups the unweighted mean of
  ``coconot_score`` with lm-eval's stderr of that mean);
- the document around them (:func:`build_results`): the original results file's keys
  (``configs``, ``versions``, ``n-shot``, ``higher_is_better``, ``n-samples``, ...)
  restricted to the recomputed tasks and groups.

Given the same per-sample values in the same order, the values and stderrs are lm-eval's,
bit for bit. ``original`` is always a results JSON as lm-eval wrote it (a parsed
``results_<date>.json``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from coconot_tasks.benchmark.names import (
    FILTER_NAME,
    RATE_AGGREGATION,
    SCORE_NAME,
    SUM_AGGREGATION,
    aggregation,
    metric_names,
)
from coconot_tasks.metric import rate_mean, total
from coconot_tasks.paths import task_dir
from coconot_tasks.results.saved_runs import RunError, task_info

#: lm-eval's filter name of the CoCoNot tasks (part of every metric key).
#: lm-eval's default number of bootstrap iterations (``0`` turns every stderr into "N/A").
DEFAULT_BOOTSTRAP_ITERS = 100000

#: One entry of a group's ``aggregate_metric_list``: (metric, its filters or ``None`` for
#: every filter found, ``weight_by_size``).
GroupMetric = tuple[str, tuple[str, ...] | None, bool]

#: Used for a CoCoNot group of the run whose YAML is not found (renamed or removed since).
_DEFAULT_GROUP_METRICS: tuple[GroupMetric, ...] = ((SCORE_NAME, (FILTER_NAME,), False),)


# --- tasks -------------------------------------------------------------------------------------


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
    maps ``(metric, filter)`` to the per-sample values, which must be in document order
    (float sums depend on the order).
    """
    from lm_eval.api.metrics import mean, stderr_for_metric
    from lm_eval.api.registry import get_aggregation

    values: dict[str, Any] = {}
    sample_len = 0
    for (metric, filter_key), items in raw_metrics.items():
        name = aggregations.get(metric, "mean")
        ours: dict[str, Callable[..., float]] = {SUM_AGGREGATION: total, RATE_AGGREGATION: rate_mean}
        fn: Callable[..., float] = ours.get(name) or get_aggregation(name) or mean
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


def task_block(
    original: Mapping[str, Any], task: str, raw_metrics: Mapping[tuple[str, str], Sequence[float]]
) -> dict[str, Any]:
    """``task``'s entry of ``results``: its name and alias, then :func:`aggregate_task` of ``raw_metrics``.

    The aggregations and the number of bootstrap iterations are those ``original`` was
    computed with (see :func:`task_aggregations` and :func:`bootstrap_iters`).
    """
    return {
        "name": task,
        "alias": task_alias(original, task),
        **aggregate_task(raw_metrics, task_aggregations(original, task), bootstrap_iters(original)),
    }


def task_aggregations(original: Mapping[str, Any], task: str) -> dict[str, str]:
    """Metric -> aggregation name, from the task config saved in ``original`` (else the package's)."""
    config = (original.get("configs") or {}).get(task) or {}
    names: dict[str, str] = {}
    for entry in config.get("metric_list") or []:
        if isinstance(entry, dict) and isinstance(entry.get("aggregation"), str):
            names[str(entry["metric"])] = entry["aggregation"]
    if not names:  # a results file without configs: the package's own definitions
        info = task_info(task)
        if info is None:  # pragma: no cover - only CoCoNot tasks reach here
            raise RunError(f"{task} is not a CoCoNot task")
        names = {metric: aggregation(metric) for metric in metric_names(info.set_name)}
    return names


def task_alias(original: Mapping[str, Any], task: str) -> str:
    """The alias ``original`` shows for ``task`` (its results entry, else its config, else the name)."""
    old = (original.get("results") or {}).get(task) or {}
    config = (original.get("configs") or {}).get(task) or {}
    return str(old.get("alias") or config.get("task_alias") or task)


def bootstrap_iters(original: Mapping[str, Any]) -> int:
    """The ``--bootstrap_iters`` ``original`` was computed with (lm-eval's default if not recorded)."""
    return int((original.get("config") or {}).get("bootstrap_iters", DEFAULT_BOOTSTRAP_ITERS))


def effective_samples(original: Mapping[str, Any], task: str) -> int | None:
    """The number of documents ``task`` was evaluated on (``n-samples.<task>.effective``), if recorded."""
    counts = (original.get("n-samples") or {}).get(task) or {}
    effective = counts.get("effective") if isinstance(counts, dict) else None
    return int(effective) if isinstance(effective, (int, float)) else None


# --- groups ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupDefinition:
    """A group's aggregation, from its YAML (``aggregate_metric_list``)."""

    name: str
    metrics: tuple[GroupMetric, ...]


class _TolerantLoader(yaml.SafeLoader):
    """A safe YAML loader that reads lm-eval tags (``!function ...``) as plain strings."""


_TolerantLoader.add_multi_constructor(
    "!",
    lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None,
)


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
        metrics: list[GroupMetric] = []
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


def aggregate_groups(
    original: Mapping[str, Any], task_metrics: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The groups of ``original``, recomputed from ``task_metrics``.

    As ``lm_eval.api.group.Group.aggregate`` computes them. Only groups whose leaf tasks
    all have an entry in ``task_metrics`` are kept.
    """
    from lm_eval.api.metrics import aggregate_subtask_metrics, pooled_sample_stderr, unweighted_mean_stderr

    subtasks: dict[str, list[str]] = original.get("group_subtasks") or {}
    definitions = group_definitions()
    old = original.get("results") or {}
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


def _leaves(group: str, subtasks: Mapping[str, list[str]], seen: frozenset[str] = frozenset()) -> list[str]:
    """The leaf tasks below ``group`` (subgroups expanded, cycles cut)."""
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
    """The filters under which any of ``leaves`` reports ``metric`` (for an entry without ``filter_list``)."""
    found = {
        key[len(metric) + 1 :]
        for leaf in leaves
        for key in task_metrics[leaf]
        if key.startswith(f"{metric},") and "_stderr" not in key
    }
    return sorted(found)


# --- the document ------------------------------------------------------------------------------


def build_results(
    original: Mapping[str, Any],
    task_metrics: Mapping[str, Mapping[str, Any]],
    group_metrics: Mapping[str, Mapping[str, Any]],
    *,
    started: float,
    rewrite_config: Callable[[Mapping[str, Any]], dict[str, Any]] = dict,
    config_update: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A results JSON in ``original``'s shape, holding only the tasks and groups given.

    Keys are kept in ``original``'s order; the per-task and per-group ones (``results``,
    ``groups``, ``group_subtasks``, ``configs``, ``versions``, ``n-shot``,
    ``higher_is_better``, ``task_hashes``, ``n-samples``) are restricted to
    ``task_metrics`` and ``group_metrics``, whose blocks replace the original ones, and
    ``n-samples.<task>.effective`` is the new ``sample_len``. ``date`` is ``started`` and
    ``total_evaluation_time_seconds`` the time since. Each kept task config goes through
    ``rewrite_config``; ``config_update`` is merged into ``config``. Every other key is
    copied as it is.
    """
    update = dict(config_update or {})
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
            document[key] = {name: rewrite_config(config) for name, config in value.items() if name in kept}
        elif key in ("versions", "n-shot", "higher_is_better", "task_hashes") and isinstance(value, dict):
            document[key] = {name: v for name, v in value.items() if name in kept}
        elif key == "n-samples" and isinstance(value, dict):
            document[key] = {
                name: {**dict(v), "effective": task_metrics[name]["sample_len"]}
                for name, v in value.items()
                if name in task_metrics
            }
        elif key == "config":
            document[key] = {**dict(value or {}), **update}
        elif key == "date":
            document[key] = started
        elif key == "total_evaluation_time_seconds":
            document[key] = str(time.time() - started)
        else:
            document[key] = value
    document.setdefault("results", {name: dict(m) for name, m in task_metrics.items()})
    if group_metrics and "groups" not in document:
        document["groups"] = {name: dict(m) for name, m in group_metrics.items()}
    document.setdefault("config", update)
    document.setdefault("date", started)
    return document
