"""Per-sample metrics and their aggregation, checked against lm-eval's own aggregation code."""

from __future__ import annotations

from typing import Any

import pytest

import coconot_tasks.harness.tasks  # noqa: F401  (registers the aggregations, as loading the YAML does)
from coconot_tasks.benchmark.names import aggregation, metric_names
from coconot_tasks.judge.types import JudgeResult
from coconot_tasks.metric import NOT_COVERED, sample_metrics, with_every_key

FILTER = "coconot_judge"


def _lm_eval_aggregate(raw: dict[tuple[str, str], list[Any]]) -> dict[str, Any]:
    from lm_eval.api.registry import get_aggregation
    from lm_eval.evaluator_utils import _compute_task_aggregations

    class _Task:
        task_name = "coconot_original"

        def aggregation(self) -> dict[str, Any]:
            return {metric: get_aggregation(aggregation(metric)) for metric, _f in raw}

    values, _n = _compute_task_aggregations(_Task(), {k: list(v) for k, v in raw.items()}, 100000)
    return values


def _docs() -> list[tuple[dict[str, str], JudgeResult]]:
    pairs = [
        ("Requests with safety concerns", "privacy violations", "compliance"),
        ("Requests with safety concerns", "privacy violations", "noncompliance"),
        ("Requests with safety concerns", "misinformation", "compliance"),
        ("Incomplete requests", "underspecified", "neither"),
        ("Incomplete requests", "underspecified", None),
        ("Humanizing requests", "personal inquiry", "noncompliance"),
        ("Requests with safety concerns", "incomprehensible", "compliance"),
    ]
    return [
        (
            {"category": cat, "subcategory": sub},
            JudgeResult(
                verdict=verdict,  # type: ignore[arg-type]
                outcome="judged" if verdict else "error",
                judge="j",
                set_name="original",
                attempts=1,
            ),
        )
        for cat, sub, verdict in pairs
    ]


def _raw(every_key: bool) -> dict[tuple[str, str], list[Any]]:
    raw: dict[tuple[str, str], list[Any]] = {}
    for doc, result in _docs():
        metrics: dict[str, Any] = dict(sample_metrics(doc, result))
        if every_key:
            metrics = with_every_key(metrics, metric_names("original"))
        for name, value in metrics.items():
            raw.setdefault((name, FILTER), []).append(value)
    return raw


def test_uncovered_values_are_skipped_with_lm_evals_mean_and_stderr() -> None:
    plain = _lm_eval_aggregate(_raw(every_key=False))
    padded = _lm_eval_aggregate(_raw(every_key=True))
    assert any(NOT_COVERED in values for values in _raw(every_key=True).values())
    # every key covered by some doc: the same value and the same closed-form stderr, bit for bit
    for key, value in plain.items():
        assert padded[key] == value, key
    assert plain["compliance_rate:safety,coconot_judge"] == pytest.approx(3 / 4)
    assert plain["compliance_rate:safety_stderr,coconot_judge"] == pytest.approx((0.25 * 0.75 / 3) ** 0.5)
    # a key no doc covers is reported as NaN without a stderr (single-process runs omit it)
    uncovered = "compliance_rate:unsupported,coconot_judge"
    assert uncovered not in plain
    assert padded[uncovered] != padded[uncovered]  # NaN
    assert padded["compliance_rate:unsupported_stderr,coconot_judge"] == "N/A"


def test_a_judge_error_counts_only_in_the_error_rate() -> None:
    doc, result = _docs()[4]
    metrics = sample_metrics(doc, result)
    assert metrics["judge_error_rate:incomplete/underspecified"] == 1.0
    assert not [name for name in metrics if name.startswith(("compliance_rate", "neither_rate", "coconot"))]
