"""Run the selected judge checks in one judge batch and collect their reports.

Every check's responses go to the judge engine together (one concurrent wave, one cache,
one budget, one server for a managed local judge), then each check scores its share of
the results. Nothing here depends on the judge backend: the engine does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.official_files import Rubric
from coconot_tasks.judge.cache import VerdictCache
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.provenance import judge_provenance, served_by
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem, JudgeStats
from coconot_tasks.tools.text_format import decimal, percent, share
from coconot_tasks.tools.validate_judge.checks import (
    CHECKS,
    HUMAN_ID,
    XSTEST,
    LabelCheck,
    LabelCheckReport,
    PartialRefusal,
    ValidationReport,
    compute_label_check,
    compute_validation,
    judge_item,
    judge_stats_dict,
    stats_of_results,
)
from coconot_tasks.tools.validate_judge.load import XSTestRow


@dataclass
class XSTestInput:
    """The XSTest rows to judge (partial refusals already left out when excluded)."""

    rows: list[XSTestRow]
    partial_refusal: PartialRefusal
    excluded_partial_refusal: int


@dataclass
class JudgeValidation:
    """The reports of every check that ran, and the ones that were skipped (with the reason)."""

    judge: str
    judge_settings: dict[str, Any]
    xstest: ValidationReport | None
    label_checks: dict[str, LabelCheckReport]
    skipped: dict[str, str]
    judge_stats: JudgeStats = field(default_factory=JudgeStats)

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

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able data (``checks`` holds each check's full report)."""
        checks: dict[str, Any] = {}
        if self.xstest is not None:
            checks[XSTEST] = self.xstest.to_dict()
        checks.update({name: report.to_dict() for name, report in self.label_checks.items()})
        return {
            "judge": self.judge,
            "judge_settings": self.judge_settings,
            "checks_run": self.checks_run,
            "skipped": dict(self.skipped),
            "no_verdict": self.no_verdict,
            "judge_stats": judge_stats_dict(self.judge_stats),
            "summary": self.summary(),
            "checks": {name: checks[name] for name in self.checks_run},
        }

    def to_markdown(self) -> str:
        """``validation.md``: a summary table, then one section per check."""
        lines = [
            f"# Judge validation of `{self.judge}`",
            "",
            *_served_line(self.judge_settings),
            "| check | reference | n | result | no verdict |",
            "|---|---|---:|---|---:|",
        ]
        if self.xstest is not None:
            o = self.xstest.overall
            lines.append(
                f"| {XSTEST} | {HUMAN_ID} | {o.n} | agreement {percent(o.percent_agreement)}, "
                f"kappa {decimal(o.kappa)} | {self.xstest.no_verdict} |"
            )
        for name, report in self.label_checks.items():
            lines.append(
                f"| {name} | every response is {report.check.expected} | {report.overall.n} | "
                f"recall {share(report.recall)} ({len(report.misses)} misses) | {report.no_verdict} |"
            )
        for name, reason in self.skipped.items():
            lines.append(f"| {name} | skipped: {reason} | | | |")
        if self.xstest is not None:
            lines += ["", self.xstest.to_markdown(level=2).rstrip("\n")]
        for report in self.label_checks.values():
            lines += ["", *report.to_markdown()]
        return "\n".join(lines) + "\n"


def run_checks(
    settings: JudgeSettings,
    xstest: XSTestInput | None,
    label_checks: Sequence[LabelCheck],
    *,
    rubric: Rubric | None = None,
    skipped: dict[str, str] | None = None,
    cache: VerdictCache | None = None,
    progress: bool = True,
) -> JudgeValidation:
    """Judge every response of ``xstest`` and ``label_checks`` in one batch; score each check.

    ``rubric``: the official rubric (default: loaded from its default places). Never raises
    for failed judge calls: they are counted per check and left out of its statistics. Call
    :func:`coconot_tasks.judge.preflight.check_judge` first.
    """
    items: list[JudgeItem] = [judge_item(r) for r in xstest.rows] if xstest is not None else []
    spans: list[tuple[LabelCheck, int, int]] = []
    for check in label_checks:
        start = len(items)
        items += check.judge_items()
        spans.append((check, start, len(items)))
    results, stats = judge_items(
        items, settings, rubric=rubric, cache=cache, progress=progress, desc="judge validation"
    )
    xstest_report = None
    if xstest is not None:
        share_of_xstest = results[: len(xstest.rows)]
        xstest_report = compute_validation(
            xstest.rows,
            share_of_xstest,
            judge=settings.judge_id,
            judge_settings=judge_provenance(settings, stats.served_models),
            partial_refusal=xstest.partial_refusal,
            excluded_partial_refusal=xstest.excluded_partial_refusal,
            stats=stats_of_results(share_of_xstest),
        )
    reports = {check.name: compute_label_check(check, results[start:end]) for check, start, end in spans}
    return JudgeValidation(
        judge=settings.judge_id,
        judge_settings=judge_provenance(settings, stats.served_models),
        xstest=xstest_report,
        label_checks=reports,
        skipped=dict(skipped or {}),
        judge_stats=stats,
    )


def _served_line(judge_settings: dict[str, Any]) -> list[str]:
    """The Markdown line naming the model ids that answered (none when the endpoint named none)."""
    served = served_by(judge_settings.get("served_models") or {})
    return [f"Verdicts served by: {served}", ""] if served else []


def write_validation_report(validation: JudgeValidation, output_dir: Path) -> tuple[Path, Path]:
    """Write ``validation.json`` and ``validation.md`` into ``output_dir``; return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "validation.json"
    md_path = output_dir / "validation.md"
    text = json.dumps(validation.to_dict(), indent=2, ensure_ascii=False) + "\n"
    json_path.write_text(text, encoding="utf-8")
    md_path.write_text(validation.to_markdown(), encoding="utf-8")
    return json_path, md_path
