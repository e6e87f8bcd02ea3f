"""What ``coconot validate-judge`` writes: ``validation.json``, ``validation.md`` and the console summary."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL
from coconot_tasks.judge.pricing import format_cost
from coconot_tasks.judge.provenance import served_by
from coconot_tasks.tools.agreement import (
    LABELS,
    AgreementStats,
    capped_table,
    confusion_table,
    stats_table,
)
from coconot_tasks.tools.common import report_no_verdict
from coconot_tasks.tools.text_format import decimal, excerpt, md_cell, md_row, percent, share
from coconot_tasks.tools.validate_judge.checks import (
    HUMAN_ID,
    SUBCATEGORY,
    JudgeValidation,
    LabelCheckReport,
    RecallCount,
    ValidationReport,
)
from coconot_tasks.tools.validate_judge.load import (
    FULL_COMPLIANCE,
    FULL_REFUSAL,
    PARTIAL_REFUSAL,
    SET_OF_SAFETY,
    safety_of,
)

# --------------------------------------------------------------------------- validation.json


def _recall_dict(count: RecallCount) -> dict[str, Any]:
    return {**asdict(count), "recall": count.recall}


def xstest_json(report: ValidationReport, validation: JudgeValidation) -> dict[str, Any]:
    """The ``xstest`` check of ``validation`` as JSON-able data (per-item decisions included)."""
    return {
        "reference": HUMAN_ID,
        "judge": validation.judge,
        "judge_settings": validation.judge_settings,
        "mapping": {
            "unsafe prompts (contrast_* types)": f"CoCoNot set {ORIGINAL!r}",
            "safe prompts": f"CoCoNot set {CONTRAST!r}",
            "subcategory": SUBCATEGORY,
            FULL_COMPLIANCE: "compliance",
            FULL_REFUSAL: "noncompliance",
            PARTIAL_REFUSAL: "left out" if report.partial_refusal == "exclude" else "noncompliance",
        },
        "partial_refusal": report.partial_refusal,
        "files": report.files,
        "rows": report.rows,
        "excluded_partial_refusal": report.excluded_partial_refusal,
        "judged_items": len(report.items),
        "no_verdict": report.no_verdict,
        "judge_stats": report.judge_stats.to_dict(),
        "overall": report.overall.to_dict(),
        "by_safety": {name: stats.to_dict() for name, stats in report.by_safety.items()},
        "by_type": {name: stats.to_dict() for name, stats in report.by_type.items()},
        "by_model": {name: stats.to_dict() for name, stats in report.by_model.items()},
        "unsafe_compliance_detection": asdict(report.unsafe_compliance),
        "safe_noncompliance_detection": asdict(report.safe_noncompliance),
        "human_baseline": report.human_baseline.to_dict(),
        "disagreements": [d.to_dict() for d in report.disagreements],
        "items": report.items,
    }


def label_check_json(report: LabelCheckReport) -> dict[str, Any]:
    """A CoCoNot-native check as JSON-able data (every miss included)."""
    c = report.check
    return {
        "title": c.title,
        "source": c.source,
        "judged_as_set": c.set_name,
        "expected": c.expected,
        "caveat": c.caveat or None,
        "rows_in_source": c.total_rows,
        "responses": len(c.responses),
        "no_verdict": report.no_verdict,
        **_recall_dict(report.overall),
        "verdicts": dict(report.verdicts),
        "judge_stats": report.stats.to_dict(),
        "by_subcategory": [
            {"category": cat, "subcategory": sub, **_recall_dict(count)}
            for (cat, sub), count in report.by_subcategory.items()
        ],
        "misses": report.misses,
        "no_verdict_items": report.no_verdict_items,
    }


def validation_json(validation: JudgeValidation) -> dict[str, Any]:
    """``validation.json``: the summary, and each check's full report under ``checks``."""
    checks = {
        name: xstest_json(report, validation)
        if isinstance(report, ValidationReport)
        else label_check_json(report)
        for name, report in validation.reports.items()
    }
    return {
        "judge": validation.judge,
        "judge_settings": validation.judge_settings,
        "checks_run": validation.checks_run,
        "skipped": validation.skipped,
        "no_verdict": validation.no_verdict,
        "judge_stats": validation.judge_stats.to_dict(),
        "summary": {name: report.summary() for name, report in validation.reports.items()},
        "checks": checks,
    }


# --------------------------------------------------------------------------- validation.md

#: Rows of a table of disagreements or misses in validation.md (all of them are in validation.json).
MAX_TABLE_ROWS = 100


def _stats_table(title: str, rows: Iterable[tuple[str, AgreementStats]]) -> list[str]:
    """An agreement table of human (A) and judge (B) that counts the responses the judge gave no verdict."""
    return stats_table(
        title,
        rows,
        left_out_title="no verdict",
        left_out=lambda stats: stats.missing_b,
        judges=("human", "judge"),
    )


def xstest_markdown(report: ValidationReport, validation: JudgeValidation) -> list[str]:
    """The ``xstest`` section of ``validation.md`` (a ``##`` heading first)."""
    o, served = report.overall, served_by(validation.judge_stats.served_models)
    partial = "left out (not judged)" if report.partial_refusal == "exclude" else "counted as noncompliance"
    lines = [
        "## Judge validation against XSTest human labels",
        "",
        f"- judge: `{validation.judge}` (B) against {HUMAN_ID} (A)"
        + (f"; verdicts served by {served}" if served else ""),
        "- files: " + ", ".join(f"{m} (`{f}`)" for m, f in report.files.items()),
        f"- responses read: {report.rows}; partial refusals {partial}"
        + (f": {report.excluded_partial_refusal} left out" if report.partial_refusal == "exclude" else ""),
        "- unsafe prompts (`contrast_*` types, should be refused) are judged as CoCoNot `original`, "
        f"safe prompts as CoCoNot `contrast`; subcategory `{SUBCATEGORY}`",
        f"- compared: {o.n}; **no verdict from the judge: {report.no_verdict}** (left out; "
        f"{report.judge_stats.errors} errors, {report.judge_stats.not_judged} not judged)",
        f"- **percent agreement: {percent(o.percent_agreement)}; Cohen's kappa: {decimal(o.kappa)}** "
        f"(the two human annotators: {percent(report.human_baseline.percent_agreement)}, "
        f"kappa {decimal(report.human_baseline.kappa)})",
        "",
        "### Confusion matrix (rows: human, columns: judge)",
        "",
        *confusion_table(o, "human \\ judge"),
    ]
    lines += ["", "### Detection", "", "| task | TP | FP | FN | TN | precision | recall | F1 |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for title, det in (
        ("compliance on unsafe prompts (harmful compliance)", report.unsafe_compliance),
        ("noncompliance on safe prompts (over-refusal)", report.safe_noncompliance),
    ):
        counts = (det.true_positive, det.false_positive, det.false_negative, det.true_negative)
        lines.append(md_row((title, *counts, share(det.precision), share(det.recall), share(det.f1))))
    lines += ["", "### Per set", ""]
    lines += _stats_table(
        "set", [(f"{k} (CoCoNot {SET_OF_SAFETY[k]})", v) for k, v in report.by_safety.items()]
    )
    lines += ["", "### Per source model", ""]
    lines += _stats_table("model", report.by_model.items())
    lines += ["", "### Per XSTest prompt type", ""]
    lines += _stats_table("type", [(f"{t} ({safety_of(t)})", v) for t, v in report.by_type.items()])
    lines += ["", f"### Disagreements ({len(report.disagreements)})", ""]
    lines += capped_table(
        ("model:id", "set", "prompt", "human", "judge", "judge's rationale"),
        [
            (d.doc_id, d.task, d.prompt_excerpt, d.verdict_a, d.verdict_b, excerpt(d.rationale_b, 240))
            for d in report.disagreements
        ],
        MAX_TABLE_ROWS,
        "validation.json",
    )
    if report.judge_stats.error_messages:
        lines += ["", "### Judge errors (first ones)", ""]
        lines += [f"- {md_cell(m)}" for m in report.judge_stats.error_messages]
    return lines


def label_check_markdown(report: LabelCheckReport) -> list[str]:
    """The check's section of ``validation.md`` (a ``##`` heading first)."""
    c, o = report.check, report.overall
    lines = [
        f"## {c.name}: {c.title}",
        "",
        f"- source: `{c.source}`; {len(c.responses)} of {c.total_rows} rows"
        + (" (evenly spaced)" if len(c.responses) < c.total_rows else ""),
        f"- judged with the CoCoNot `{c.set_name}` prompt; expected class: **{c.expected}**",
        f"- **recall: {share(o.recall)}** ({o.hits} of {o.n} responses with a "
        f"verdict); verdicts: " + ", ".join(f"{k} {v}" for k, v in report.verdicts.items()),
        f"- no verdict from the judge: {report.no_verdict} (left out)",
    ]
    if c.caveat:
        lines.append(f"- caveat: {c.caveat}")
    lines += ["", "| category | subcategory | n | hits | recall |", "|---|---|---:|---:|---:|"]
    for (cat, sub), count in report.by_subcategory.items():
        lines.append(md_row((cat, sub, count.n, count.hits, share(count.recall))))
    lines += ["", f"### Misses ({len(report.misses)})", ""]
    rows = [
        (m["id"], m["subcategory"], excerpt(m["prompt"]), excerpt(m["response_excerpt"]), m["judge_verdict"],
         excerpt(m["judge_rationale"], 240))
        for m in report.misses
    ]  # fmt: skip
    header = ("id", "subcategory", "prompt", "response", "judge", "judge's rationale")
    lines += capped_table(header, rows, MAX_TABLE_ROWS, "validation.json")
    if report.misses and report.stats.error_messages:  # only under a table of misses, as ever
        lines += ["", "Judge errors (first ones):", ""]
        lines += [f"- {md_cell(m)}" for m in report.stats.error_messages]
    return lines


def validation_markdown(validation: JudgeValidation) -> str:
    """``validation.md``: a summary table, then one section per check."""
    served = served_by(validation.judge_stats.served_models)
    lines = [
        f"# Judge validation of `{validation.judge}`",
        "",
        *([f"Verdicts served by: {served}", ""] if served else []),
        "| check | reference | n | result | no verdict |",
        "|---|---|---:|---|---:|",
    ]
    sections: list[str] = []
    for name, report in validation.reports.items():
        if isinstance(report, ValidationReport):
            o = report.overall
            result = (
                f"{HUMAN_ID} | {o.n} | agreement {percent(o.percent_agreement)}, kappa {decimal(o.kappa)}"
            )
            sections += ["", *xstest_markdown(report, validation)]
        else:
            result = (
                f"every response is {report.check.expected} | {report.overall.n} | "
                f"recall {share(report.overall.recall)} ({len(report.misses)} misses)"
            )
            sections += ["", *label_check_markdown(report)]
        lines.append(f"| {name} | {result} | {report.no_verdict} |")
    lines += [f"| {name} | skipped: {reason} | | | |" for name, reason in validation.skipped.items()]
    lines += sections
    return "\n".join(lines) + "\n"


def write_validation_report(validation: JudgeValidation, output_dir: Path) -> tuple[Path, Path]:
    """Write ``validation.json`` and ``validation.md`` into ``output_dir``; return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "validation.json"
    md_path = output_dir / "validation.md"
    text = json.dumps(validation_json(validation), indent=2, ensure_ascii=False) + "\n"
    json_path.write_text(text, encoding="utf-8")
    md_path.write_text(validation_markdown(validation), encoding="utf-8")
    return json_path, md_path


# --------------------------------------------------------------------------- console summary


def print_summary(validation: JudgeValidation, priced: bool) -> None:
    """Print the short report: judge spend, each check's numbers, judge errors (``priced``: price known)."""
    s = validation.judge_stats
    served = served_by(s.served_models)
    print(
        f"\nJudge validation of {validation.judge}{f' (served by {served})' if served else ''}: "
        f"checks {', '.join(validation.checks_run)}"
    )
    print(
        f"  {s.items} responses: {s.requests} judge calls, {s.cached} cached; "
        f"{s.prompt_tokens + s.completion_tokens} tokens, cost {format_cost(s.cost_usd, priced)}"
    )
    for report in validation.reports.values():
        if isinstance(report, ValidationReport):
            print_xstest(report)
            continue
        c = report.check
        print(f"\n{c.name}: {c.title}")
        print(
            f"  source: {c.source}; {len(c.responses)} of {c.total_rows} rows, judged as CoCoNot {c.set_name}"
        )
        verdicts = ", ".join(f"{k} {v}" for k, v in report.verdicts.items())
        print(
            f"  recall of {c.expected}: {share(report.overall.recall)} "
            f"({report.overall.hits} of {report.overall.n}); "
            f"verdicts: {verdicts}; {len(report.misses)} misses; no verdict: {report.no_verdict}"
        )
        if c.caveat:
            print(f"  caveat: {c.caveat}")
    for name, reason in validation.skipped.items():
        print(f"\n{name}: skipped ({reason})")
    if validation.no_verdict:
        consequence = "they are left out of every statistic above."
        report_no_verdict("validate-judge", validation.judge, validation.no_verdict, s, consequence)


def print_xstest(report: ValidationReport) -> None:
    """Print the XSTest check: agreement and kappa per group, confusion, detection, ceiling."""
    print(f"\nxstest: agreement with {HUMAN_ID}")
    folders = {str(Path(f).parent) for f in report.files.values()}
    if len(folders) == 1:
        print(f"  files: {', '.join(report.files)} (in {folders.pop()})")
    else:
        print("  files: " + ", ".join(f"{m} ({f})" for m, f in report.files.items()))
    partial = (
        f"{report.excluded_partial_refusal} partial refusals left out"
        if report.partial_refusal == "exclude"
        else "partial refusals counted as noncompliance"
    )
    print(f"  {report.rows} responses read, {len(report.items)} judged ({partial})")
    rows = [("overall", report.overall)]
    rows += [(f"{k} prompts (CoCoNot {SET_OF_SAFETY[k]})", v) for k, v in report.by_safety.items()]
    rows += [(f"model {k}", v) for k, v in report.by_model.items()]
    width = max(len(name) for name, _ in rows)
    print(f"  {'':<{width}}  {'n':>5}  {'agree':>6}  {'kappa':>6}  human/judge compliance")
    for name, st in rows:
        print(
            f"  {name:<{width}}  {st.n:>5}  {percent(st.percent_agreement):>6}  {decimal(st.kappa):>6}  "
            f"{share(st.rate('a', 'compliance'))} / {share(st.rate('b', 'compliance'))}"
        )
    print("  confusion (rows: human, columns: judge " + " / ".join(LABELS) + "):")
    for label, row in zip(LABELS, report.overall.confusion, strict=True):
        print(f"    {label:<13} " + " ".join(f"{v:>6}" for v in row))
    d = report.unsafe_compliance
    print(
        f"  compliance on unsafe prompts: judge precision {share(d.precision)}, recall {share(d.recall)} "
        f"({d.true_positive} found, {d.false_negative} missed, {d.false_positive} false alarms)"
    )
    h = report.human_baseline
    print(f"  the two human annotators: {percent(h.percent_agreement)} agreement, kappa {decimal(h.kappa)}")
    print(f"  {len(report.disagreements)} disagreements; judge errors: {report.no_verdict}")
