"""Run the selected judge checks in one judge batch (one cache and budget) and collect their reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coconot_tasks.benchmark.official_files import Rubric
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem, JudgeStats
from coconot_tasks.tools.validate_judge.checks import (
    CHECKS,
    XSTEST,
    LabelCheck,
    LabelCheckReport,
    ValidationReport,
    XSTestInput,
    compute_label_check,
    compute_validation,
    judge_item,
)


@dataclass
class JudgeValidation:
    """The reports of every check that ran, and the ones that were skipped (with the reason)."""

    judge: str
    judge_settings: dict[str, Any]
    xstest: ValidationReport | None
    label_checks: dict[str, LabelCheckReport]
    skipped: dict[str, str]
    judge_stats: JudgeStats

    @property
    def checks_run(self) -> list[str]:
        """The names of the checks that ran, in report order."""
        ran = {*self.label_checks, *([XSTEST] if self.xstest is not None else [])}
        return [c for c in CHECKS if c in ran]

    @property
    def no_verdict(self) -> int:
        """Responses of all checks that got no verdict."""
        xstest = self.xstest.no_verdict if self.xstest is not None else 0
        return xstest + sum(r.no_verdict for r in self.label_checks.values())

    def summary(self) -> dict[str, dict[str, Any]]:
        """One line of numbers per check that ran."""
        lines: dict[str, dict[str, Any]] = {}
        if self.xstest is not None:
            o = self.xstest.overall
            lines[XSTEST] = {
                "n": o.n,
                "percent_agreement": o.percent_agreement,
                "kappa": o.kappa,
                "no_verdict": self.xstest.no_verdict,
            }
        for name, report in self.label_checks.items():
            lines[name] = {
                "n": report.overall.n,
                "expected": report.check.expected,
                "recall": report.recall,
                "misses": len(report.misses),
                "no_verdict": report.no_verdict,
            }
        return {name: lines[name] for name in self.checks_run}


def run_checks(
    settings: JudgeSettings,
    xstest: XSTestInput | None,
    label_checks: Sequence[LabelCheck],
    *,
    rubric: Rubric | None = None,
    skipped: dict[str, str] | None = None,
    progress: bool = True,
) -> JudgeValidation:
    """Judge every response of ``xstest`` and ``label_checks`` in one batch; score each check.

    Failed judge calls are counted per check, never raised. Call ``check_judge`` first.
    """
    items: list[JudgeItem] = [judge_item(r) for r in xstest.rows] if xstest is not None else []
    spans: list[tuple[LabelCheck, int, int]] = []
    for check in label_checks:
        start = len(items)
        items += check.judge_items()
        spans.append((check, start, len(items)))
    results, stats = judge_items(items, settings, rubric=rubric, progress=progress, desc="judge validation")
    provenance = judge_provenance(settings, stats.served_models)
    xstest_report = None
    if xstest is not None:
        xstest_report = compute_validation(xstest, results[: len(xstest.rows)], settings.judge_id, provenance)
    reports = {check.name: compute_label_check(check, results[start:end]) for check, start, end in spans}
    return JudgeValidation(
        judge=settings.judge_id,
        judge_settings=provenance,
        xstest=xstest_report,
        label_checks=reports,
        skipped=dict(skipped or {}),
        judge_stats=stats,
    )
