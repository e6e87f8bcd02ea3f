"""Reports on saved CoCoNot runs: ``report.md``, a self-contained ``report.html`` and ``report.json``.

Use from Python::

    from coconot_tasks.tools.report import write_report
    from coconot_tasks.results.saved_runs import load_runs
    write_report(load_runs([Path("out/")]), Path("report/"))

or from the shell: ``coconot report out/ --output-dir report/``. matplotlib (the ``report``
extra) is imported only to draw the HTML charts; without it the charts are omitted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coconot_tasks import __version__
from coconot_tasks.results.saved_runs import Run
from coconot_tasks.tools.report.html import report_html
from coconot_tasks.tools.report.numbers import (
    Comparison,
    MixedJudgesError,
    RateCell,
    Report,
    ReportError,
    ReportRow,
    Scope,
    build_report,
)
from coconot_tasks.tools.report.stats import mcnemar_exact, paired_difference, wilson
from coconot_tasks.tools.report.tables import report_markdown

DEFAULT_TITLE = "CoCoNot report"

__all__ = [
    "DEFAULT_TITLE",
    "MixedJudgesError",
    "Comparison",
    "RateCell",
    "Report",
    "ReportError",
    "ReportRow",
    "Scope",
    "build_report",
    "mcnemar_exact",
    "paired_difference",
    "report_dict",
    "wilson",
    "write_report",
]


def _row_dict(row: ReportRow) -> dict[str, Any]:
    cells: dict[str, dict[str, Any]] = {}
    for scope, cell in sorted(row.cells.items(), key=lambda item: item[0].sort_key()):
        cells.setdefault(scope.set_name, {})[scope.metric] = cell.to_json()
    return {
        "label": row.label,
        "model": row.model,
        "system_prompt": row.system_prompt,
        "results_file": str(row.run.results_path),
        "tasks": row.tasks,
        "judges": row.judges,
        "judge": [record.to_dict() for record in row.judge_records],
        "samples_logged": {s: len(v) for s, v in row.samples.items()},
        "judge_errors": {s: len(row.judge_errors(s)) for s in row.samples},
        "coconot_score": {"value": row.score, "source": row.score_source},
        "compliance_rate": cells,
    }


def _comparison_dict(comparison: Comparison) -> dict[str, Any]:
    scopes: dict[str, dict[str, Any]] = {}
    for scope, result in comparison.results.items():
        scopes.setdefault(scope.set_name, {})[scope.metric] = {
            "n": result.n,
            "rate_reference": result.rate_a,
            "rate_compared": result.rate_b,
            "difference": result.difference,
            "difference_ci95": list(result.difference_ci),
            "only_reference_complied": result.b,
            "only_compared_complied": result.c,
            "mcnemar_exact_p": result.p_value,
        }
    return {
        "kind": comparison.kind,
        "reference": comparison.reference.label,
        "compared": comparison.compared.label,
        "unmatched": {
            s: {"only_reference": a, "only_compared": b} for s, (a, b) in comparison.unmatched.items()
        },
        "compliance_rate": scopes,
    }


def report_dict(report: Report, title: str = DEFAULT_TITLE) -> dict[str, Any]:
    """All numbers of the report as JSON-able data (rates are fractions, not percent)."""
    return {
        "title": title,
        "generator": f"coconot_tasks {__version__}",
        "notes": {
            "rate": "compliance rate = compliant / judged responses (judge errors excluded)",
            "ci95": "Wilson score interval",
            "direction": {"original": "lower is better", "contrast": "higher is better"},
            "difference": "compared - reference, paired on (set, CoCoNot row id); p = exact McNemar",
        },
        "judges": {
            "mixed": report.judges.mixed,
            "notice": report.judge_notice,
            "runs": {name: [r.to_dict() for r in records] for name, records in report.judges.judges.items()},
        },
        "baseline": report.baseline,
        "rows": [_row_dict(row) for row in report.rows],
        "comparisons": [_comparison_dict(c) for c in report.comparisons],
        "warnings": report.warnings,
    }


def write_report(
    runs: Sequence[Run],
    output_dir: Path,
    title: str = DEFAULT_TITLE,
    baseline: str | None = None,
    examples: int = 3,
    allow_mixed_judges: bool = False,
) -> dict[str, Path]:
    """Write ``report.md``, ``report.html`` and ``report.json`` into ``output_dir``.

    Returns the written paths by format. Raises :class:`ReportError` for inconsistent runs
    and (before writing anything) :class:`MixedJudgesError` for runs scored by different
    judges unless ``allow_mixed_judges``; with it, every format carries the notice.
    """
    report = build_report(runs, baseline=baseline, allow_mixed_judges=allow_mixed_judges)
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "md": output_dir / "report.md",
        "html": output_dir / "report.html",
        "json": output_dir / "report.json",
    }
    paths["md"].write_text(report_markdown(report, title), encoding="utf-8")
    footer = f"Generated by coconot_tasks {__version__} (coconot report)."
    paths["html"].write_text(report_html(report, title, per_row=examples, footer=footer), encoding="utf-8")
    paths["json"].write_text(
        json.dumps(report_dict(report, title), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return paths
