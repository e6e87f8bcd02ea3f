"""lm-eval's results JSON recomputed from per-sample metrics with lm-eval 0.4.13's own aggregation code
(tasks: ``_compute_task_aggregations``; groups: ``Group.aggregate`` of the group's YAML), in the
original file's shape: given the same per-sample values in the same order, bit for bit lm-eval's."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from lm_eval.api.group import Group
from lm_eval.api.metrics import mean
from lm_eval.api.registry import get_aggregation
from lm_eval.api.task import Task
from lm_eval.config.group import AggMetricConfig
from lm_eval.evaluator_utils import _compute_task_aggregations  # lm-eval's own; no public name
from lm_eval.tasks import TaskManager

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

#: lm-eval's default number of bootstrap iterations (``0`` turns every stderr into "N/A").
DEFAULT_BOOTSTRAP_ITERS = 100000

#: Used for a CoCoNot group of the run whose YAML is not found (renamed or removed since).
_DEFAULT_GROUP_METRICS = (AggMetricConfig(SCORE_NAME, [FILTER_NAME], "mean", weight_by_size=False),)


# --- tasks -------------------------------------------------------------------------------------


def aggregate_task(
    raw_metrics: Mapping[tuple[str, str], Sequence[float]],
    aggregations: Mapping[str, str],
    bootstrap_iters: int = DEFAULT_BOOTSTRAP_ITERS,
    task: str = "coconot",
) -> dict[str, Any]:
    """A task's ``sample_len`` and ``"<metric>,<filter>"`` / ``"<metric>_stderr,<filter>"`` values, by
    lm-eval's aggregation with each metric's ``aggregations`` name; ``raw_metrics`` maps
    ``(metric, filter)`` to per-sample values in document order (float sums depend on it)."""
    values, sample_len = _compute_task_aggregations(
        _SavedTask(task, aggregations),
        {key: list(items) for key, items in raw_metrics.items()},
        bootstrap_iters,
    )
    return {"sample_len": sample_len, **values}


class _SavedTask(Task):
    """A task of a saved run as lm-eval's aggregation code reads one: a name and aggregation functions
    (nothing is evaluated again, so the evaluation methods are left out)."""

    has_training_docs = has_validation_docs = has_test_docs = None
    doc_to_text = doc_to_target = construct_requests = process_results = higher_is_better = None

    def __init__(self, name: str, aggregations: Mapping[str, str] | None = None) -> None:  # no data to load
        self._name = name
        self._aggregations = dict(aggregations or {})

    @property
    def task_name(self) -> str:
        return self._name

    def aggregation(self) -> dict[str, Callable[..., float]]:
        """The function of each metric: the package's own, else lm-eval's registered one, else ``mean``."""
        ours: dict[str, Callable[..., float]] = {SUM_AGGREGATION: total, RATE_AGGREGATION: rate_mean}
        return {
            metric: ours.get(name) or get_aggregation(name) or mean
            for metric, name in self._aggregations.items()
        }


def task_block(
    original: Mapping[str, Any], task: str, raw_metrics: Mapping[tuple[str, str], Sequence[float]]
) -> dict[str, Any]:
    """``task``'s entry of ``results``: name, alias and :func:`aggregate_task` of ``raw_metrics``, as
    ``original`` shows and computed them (alias, aggregations, bootstrap iterations)."""
    config = (original.get("configs") or {}).get(task) or {}
    aggregations = {
        str(entry["metric"]): entry["aggregation"]
        for entry in config.get("metric_list") or []
        if isinstance(entry, dict) and isinstance(entry.get("aggregation"), str)
    }
    if not aggregations:  # a results file without configs: the package's own definitions
        info = task_info(task)
        if info is None:  # pragma: no cover - only CoCoNot tasks reach here
            raise RunError(f"{task} is not a CoCoNot task")
        aggregations = {metric: aggregation(metric) for metric in metric_names(info.set_name)}
    iterations = int((original.get("config") or {}).get("bootstrap_iters", DEFAULT_BOOTSTRAP_ITERS))
    # lm-eval warns that a task's metrics cover different numbers of documents: the category and
    # subcategory rates do so by design (see the README)
    quiet = logging.getLogger("lm_eval.evaluator_utils")
    previous, quiet.disabled = quiet.disabled, True
    try:
        block = aggregate_task(raw_metrics, aggregations, iterations, task)
    finally:
        quiet.disabled = previous
    alias = ((original.get("results") or {}).get(task) or {}).get("alias") or config.get("task_alias") or task
    return {"name": task, "alias": str(alias), **block}


# --- groups ------------------------------------------------------------------------------------


@cache
def _group_configs() -> dict[str, dict[str, Any]]:
    """The group YAMLs of the package's task directory, as lm-eval's own task index reads them."""
    index = TaskManager(include_path=str(task_dir()), include_defaults=False).task_index
    return {name: dict(entry.cfg) for name, entry in index.items() if entry.cfg and "group" in entry.cfg}


def aggregate_groups(
    original: Mapping[str, Any], task_metrics: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The groups of ``original`` (its ``group_subtasks``, their YAML's aggregation) recomputed from
    ``task_metrics`` by lm-eval's ``Group.aggregate``; only groups with every leaf task in it."""
    subtasks: dict[str, list[str]] = original.get("group_subtasks") or {}
    old = original.get("results") or {}
    groups: dict[str, Group] = {}
    for name in subtasks:
        config = _group_configs().get(name)  # a group without YAML: the default aggregation
        groups[name] = (
            Group.from_config(config)
            if config
            else Group(name, aggregate_metric_list=list(_DEFAULT_GROUP_METRICS))
        )
        groups[name].alias = str((old.get(name) or {}).get("alias") or name)  # as the original run showed it
    for name, children in subtasks.items():
        for child in children:
            groups[name].add(groups.get(child) or _SavedTask(child))
    aggregated: dict[str, dict[str, Any]] = {}
    for name, group in groups.items():
        leaves = [task.task_name for task in group.get_all_tasks()]
        if leaves and all(leaf in task_metrics for leaf in leaves):
            aggregated[name] = dict(group.aggregate(dict(task_metrics)))
    return aggregated


# --- the document ------------------------------------------------------------------------------


def build_results(
    original: Mapping[str, Any],
    task_metrics: Mapping[str, Mapping[str, Any]],
    group_metrics: Mapping[str, Mapping[str, Any]],
    *,
    started: float,
    rewrite_config: Callable[[Mapping[str, Any]], dict[str, Any]],
    config_update: Mapping[str, Any],
) -> dict[str, Any]:
    """A results JSON in ``original``'s shape (its keys, in its order) holding only the tasks and
    groups given, with their new blocks; ``date`` is ``started``, each kept task config goes through
    ``rewrite_config`` and ``config_update`` is merged into ``config``."""
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
            document[key] = {**dict(value or {}), **config_update}
        elif key == "date":
            document[key] = started
        elif key == "total_evaluation_time_seconds":
            document[key] = str(time.time() - started)
        else:
            document[key] = value
    if group_metrics and "groups" not in document:
        document["groups"] = {name: dict(m) for name, m in group_metrics.items()}
    document.setdefault("config", dict(config_update))
    document.setdefault("date", started)
    return document
