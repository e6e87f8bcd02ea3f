"""Run the selected judge checks in one judge batch (one cache and budget) and collect their reports."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coconot_tasks.benchmark.official_files import Rubric
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeStats
from coconot_tasks.tools.validate_judge.checks import (
    LabelCheck,
    LabelCheckReport,
    ValidationReport,
    XSTestInput,
)


@dataclass
class JudgeValidation:
    """The report of every check that ran (in report order), and the ones skipped (with the reason)."""

    judge: str
    judge_settings: dict[str, Any]
    reports: dict[str, ValidationReport | LabelCheckReport]
    skipped: dict[str, str]
    judge_stats: JudgeStats

    @property
    def checks_run(self) -> list[str]:
        """The names of the checks that ran, in report order."""
        return list(self.reports)

    @property
    def no_verdict(self) -> int:
        """Responses of all checks that got no verdict."""
        return sum(report.no_verdict for report in self.reports.values())

    def summary(self) -> dict[str, dict[str, Any]]:
        """One line of numbers per check that ran."""
        return {name: report.summary() for name, report in self.reports.items()}


def run_checks(
    settings: JudgeSettings,
    checks: Sequence[XSTestInput | LabelCheck],
    *,
    rubric: Rubric | None,
    skipped: dict[str, str],
    progress: bool,
) -> JudgeValidation:
    """Judge every response of ``checks`` (in report order) in one batch; score each check.

    Failed judge calls are counted per check, never raised. Call ``check_judge`` first.
    """
    batches = [check.judge_items() for check in checks]
    items = [item for batch in batches for item in batch]
    results, stats = judge_items(items, settings, rubric=rubric, progress=progress, desc="judge validation")
    reports: dict[str, ValidationReport | LabelCheckReport] = {}
    for check, batch in zip(checks, batches, strict=True):
        reports[check.name] = check.score(results[: len(batch)])
        results = results[len(batch) :]
    return JudgeValidation(
        judge=settings.judge_id,
        judge_settings=judge_provenance(settings, stats.served_models),
        reports=reports,
        skipped=skipped,
        judge_stats=stats,
    )
