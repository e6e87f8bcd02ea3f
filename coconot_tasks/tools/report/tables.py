"""The report's tables, built once and rendered to Markdown (here) or HTML (:mod:`.html`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL, SETS
from coconot_tasks.results.judges import describe_judges
from coconot_tasks.tools.report.numbers import (
    SET_TITLES,
    Comparison,
    RateCell,
    Report,
    ReportRow,
    Scope,
    arrow,
)
from coconot_tasks.tools.report.stats import PairedDifference
from coconot_tasks.tools.text_format import md_cell, share

DASH = "—"
#: Significance level for the "better / worse" word of the paired comparisons.
ALPHA = 0.05


def p_text(p: float) -> str:
    """A p-value with 4 significant digits (``0.02148``, ``1``, ``3.052e-05``)."""
    return f"{p:.4g}"


@dataclass
class Cell:
    """A table cell: main ``text``, smaller ``detail`` (interval, counts) and a tooltip."""

    text: str
    detail: str = ""
    counts: str = ""
    title: str = ""
    strong: bool = False
    path: bool = False  # a file path (monospace, may break anywhere)

    @property
    def plain(self) -> str:
        """Text, detail and counts on one line."""
        return " ".join(part for part in (self.text, self.detail, self.counts) if part)


@dataclass
class Table:
    """A titled table with a header row, body rows and notes printed under it."""

    title: str
    header: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)
    anchor: str = ""
    strong_rows: set[int] = field(default_factory=set)
    legend: list[str] = field(default_factory=list)  # lines printed between the title and the table
    text: bool = False  # left-align every column (not a table of numbers)


def rate_cell(cell: RateCell | None) -> Cell:
    """``59.2 [56.2, 62.2] (593/1001)``; the results value alone when no samples were logged."""
    if cell is None or cell.rate is None:
        return Cell(DASH, title="no data")
    if cell.ci is None or cell.k is None or cell.n is None:
        return Cell(share(cell.rate, unit=""), f"({cell.note})" if cell.note else "", title=cell.note)
    detail = f"[{share(cell.ci[0], unit='')}, {share(cell.ci[1], unit='')}]"
    title = f"{cell.k} of {cell.n} judged responses complied"
    if cell.judge_errors:
        title += f"; {cell.judge_errors} judge errors excluded"
    return Cell(share(cell.rate, unit=""), detail, f"({cell.k}/{cell.n})", title=title)


def score_cell(row: ReportRow) -> Cell:
    """The ``coconot_score`` summary (percent), marked when computed from the two set rates."""
    if row.score is None:
        return Cell(DASH, title="needs both sets")
    if row.score_source == "computed":
        return Cell(
            share(row.score, unit=""),
            "(computed)",
            title="not in the results JSON: mean of (1 - original) and contrast",
        )
    return Cell(share(row.score, unit=""), title="mean of (1 - original compliance) and contrast compliance")


def column_header(scope: Scope) -> str:
    """``Safety ↓``, ``Original (all) ↓``, ``Contrast (all) ↑``."""
    return f"{scope.short_label} {arrow(scope.set_name)}"


def main_table(report: Report) -> Table:
    """The paper's Table 2 layout: rows = models/conditions, columns = categories and sets."""
    columns = report.main_columns
    header = ["Model", *[column_header(c) for c in columns], "CoCoNot score ↑"]
    rows = [
        [Cell(row.label), *[rate_cell(row.cell(c)) for c in columns], score_cell(row)] for row in report.rows
    ]
    notes = [
        "Compliance rate in % with its 95% Wilson score interval and (compliant / judged responses). "
        "Original set (the five categories and 'Original (all)'): the model should NOT comply, ↓ lower is "
        "better. Contrast set: benign look-alikes the model SHOULD comply with, ↑ higher is better.",
        "Judged responses exclude judge errors (no verdict); NEITHER counts in the denominator as not "
        "compliance. CoCoNot score = mean of (100 − original) and contrast, ↑ higher is better.",
    ]
    return Table("Compliance rates (paper Table 2 layout)", header, rows, notes, anchor="main")


def subcategory_table(report: Report, set_name: str) -> Table:
    """Rows = the set's categories and their subcategories, columns = models/conditions."""
    header = ["Subcategory", *[row.label for row in report.rows]]
    rows: list[list[Cell]] = []
    strong: set[int] = set()
    scopes = report.scopes_of(set_name, ("category", "subcategory"))
    for scope in [*scopes, Scope(set_name)]:
        if scope.level != "subcategory":
            strong.add(len(rows))
        label = scope.short_label if scope.level == "subcategory" else scope.label
        rows.append(
            [
                Cell(label, strong=scope.level != "subcategory"),
                *[rate_cell(r.cell(scope)) for r in report.rows],
            ]
        )
    direction = "lower is better" if set_name == ORIGINAL else "higher is better"
    title = f"{SET_TITLES[set_name]} by subcategory: compliance rate % {arrow(set_name)} ({direction})"
    notes = ["Bold rows are whole categories and the whole set; cells as in the first table."]
    return Table(title, header, rows, notes, anchor=f"sub-{set_name}", strong_rows=strong)


def _direction(scope: Scope, result: PairedDifference) -> str:
    if result.difference is None or result.p_value >= ALPHA or result.difference == 0:
        return "n.s."
    improved = (result.difference > 0) == (scope.set_name == CONTRAST)
    return "better" if improved else "worse"


def comparison_table(comparison: Comparison) -> Table:
    """Paired differences per set and category of one comparison (exact McNemar p-values)."""
    ref, cmp_ = comparison.reference.label, comparison.compared.label
    header = [
        "Scope",
        "paired n",
        "A %",
        "B %",
        "Δ = B − A, pp [95% CI]",
        "only A complied",
        "only B complied",
        "McNemar p",
        "",
    ]
    rows: list[list[Cell]] = []
    strong: set[int] = set()
    for scope, result in comparison.results.items():
        if scope.level == "subcategory" or result.n == 0:
            continue
        assert result.rate_a is not None and result.rate_b is not None and result.difference is not None
        lo, hi = result.difference_ci
        if scope.level == "set":
            strong.add(len(rows))
            label = f"{SET_TITLES[scope.set_name]} {arrow(scope.set_name)}"
        else:
            label = f"{scope.set_name.capitalize()} / {scope.short_label} {arrow(scope.set_name)}"
        rows.append(
            [
                Cell(label, strong=scope.level == "set"),
                Cell(str(result.n)),
                Cell(share(result.rate_a, unit="")),
                Cell(share(result.rate_b, unit="")),
                Cell(f"{100.0 * result.difference:+.1f}", f"[{100.0 * lo:+.1f}, {100.0 * hi:+.1f}]"),
                Cell(str(result.b)),
                Cell(str(result.c)),
                Cell(p_text(result.p_value)),
                Cell(_direction(scope, result)),
            ]
        )
    what = "system prompt vs none" if comparison.kind == "system_prompt" else "vs baseline"
    notes = [
        "Δ in percentage points on the prompts both answered with a verdict (matched by set and CoCoNot "
        "row id). Original ↓: a negative Δ is better for B; contrast ↑: a positive Δ is better for B.",
        "p: two-sided exact McNemar test on the discordant pairs; 'better'/'worse' when p < 0.05 "
        "(no correction for multiple comparisons).",
    ]
    for set_name, (only_ref, only_cmp) in comparison.unmatched.items():
        if only_ref or only_cmp:
            notes.append(
                f"{SET_TITLES[set_name]}: {only_ref} prompts only in {ref} and {only_cmp} only in {cmp_} "
                "(with a verdict) are not compared."
            )
    anchor = "cmp-" + "".join(ch if ch.isalnum() else "-" for ch in comparison.title.lower())
    legend = [
        f"A = {ref} ({'without system prompt' if comparison.kind == 'system_prompt' else 'baseline'})",
        f"B = {cmp_}",
    ]
    return Table(
        f"{comparison.title} ({what})", header, rows, notes, anchor=anchor, strong_rows=strong, legend=legend
    )


def judge_spend(row: ReportRow) -> tuple[int, int, float] | None:
    """Judge calls, tokens and USD the row's run spent on its tasks (``None``: not recorded)."""
    calls = tokens = 0
    cost = 0.0
    found = False
    for task in row.tasks.values():
        values = [row.run.metric(task, name) for name in _SPEND_METRICS]
        if values[0] is None:
            continue
        found = True
        calls += int(values[0] or 0)
        tokens += int((values[1] or 0) + (values[2] or 0))
        cost += float(values[3] or 0.0)
    return (calls, tokens, cost) if found else None


_SPEND_METRICS = ("judge_calls", "judge_prompt_tokens", "judge_completion_tokens", "judge_cost_usd")


def _spend_text(spend: tuple[int, int, float] | None) -> str:
    if spend is None:
        return DASH
    calls, tokens, cost = spend
    return f"{calls:,} calls, {tokens:,} tokens, ${cost:.4f}"


def runs_table(report: Report) -> Table:
    """Provenance: which file, judge and sample counts each row comes from, and the judge spend."""
    header = ["Row", "Results file", "Judge", *[f"{s} samples" for s in SETS], "limit", "judge spend"]
    rows = []
    total = [0, 0, 0.0]
    for row in report.rows:
        spend = judge_spend(row)
        if spend is not None:
            total = [total[0] + spend[0], total[1] + spend[1], total[2] + spend[2]]
        config = row.run.results.get("config") or {}
        counts = [
            Cell(
                str(len(row.samples[s])) if row.samples.get(s) else ("not logged" if s in row.tasks else DASH)
            )
            for s in SETS
        ]
        limit = config.get("limit")
        rows.append(
            [
                Cell(row.label),
                Cell(str(row.run.results_path), path=True),
                Cell(describe_judges(row.judge_records)),
                *counts,
                Cell(DASH if limit is None else str(limit)),
                Cell(_spend_text(spend)),
            ]
        )
    notes = [
        "judge spend: what producing the run cost in judge calls (cached verdicts and empty responses "
        f"cost nothing); all rows together: {_spend_text((int(total[0]), int(total[1]), float(total[2])))}"
    ]
    return Table("Runs", header, rows, notes, anchor="runs", text=True)


def judge_error_table(report: Report) -> Table | None:
    """Items without a verdict per row and set (``None`` when there are none)."""
    rows = []
    for row in report.rows:
        for set_name in SETS:
            samples = row.samples.get(set_name) or []
            errors = row.judge_errors(set_name)
            if samples and errors:
                outcomes: dict[str, int] = {}
                for sample in errors:
                    outcome = sample.result.outcome if sample.result else "unreadable verdict"
                    outcomes[outcome] = outcomes.get(outcome, 0) + 1
                first = next((s.result.error for s in errors if s.result and s.result.error), "") or ""
                rows.append(
                    [
                        Cell(row.label),
                        Cell(set_name),
                        Cell(str(len(errors))),
                        Cell(str(len(samples))),
                        Cell(", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))),
                        Cell(first[:200]),
                    ]
                )
            elif not samples and set_name in row.tasks:
                rate = row.run.metric(row.tasks[set_name], "judge_error_rate")
                if rate:
                    rows.append(
                        [
                            Cell(row.label),
                            Cell(set_name),
                            Cell(share(rate)),
                            Cell(DASH),
                            Cell(DASH),
                            Cell(DASH),
                        ]
                    )
    if not rows:
        return None
    header = ["Row", "Set", "judge errors", "items", "outcomes", "first error"]
    notes = ["Items without a verdict are left out of every rate (never counted as NEITHER or as a label)."]
    return Table("Judge errors", header, rows, notes, anchor="judge-errors", text=True)


def all_tables(report: Report) -> list[Table]:
    """Every table of the report in display order (the runs table last)."""
    tables = [main_table(report)]
    tables += [subcategory_table(report, s) for s in SETS if report.scopes_of(s, ("category", "subcategory"))]
    tables += [comparison_table(c) for c in report.comparisons]
    errors = judge_error_table(report)
    if errors is not None:
        tables.append(errors)
    tables.append(runs_table(report))
    return tables


def table_markdown(table: Table, level: int = 2) -> str:
    """One table as GitHub-flavoured Markdown, with its title as a heading and notes below."""
    lines = [f"{'#' * level} {table.title}", ""]
    if table.legend:
        lines.extend([*(f"{line}  " for line in table.legend), ""])
    lines.append("| " + " | ".join(md_cell(h) for h in table.header) + " |")
    align = "---" if table.text else "---:"
    lines.append("|" + "|".join("---" if i == 0 else align for i in range(len(table.header))) + "|")
    for number, row in enumerate(table.rows):
        cells = []
        for cell in row:
            text = md_cell(cell.plain)
            cells.append(f"**{text}**" if (cell.strong or number in table.strong_rows) and text else text)
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"{note}  " for note in table.notes)
    return "\n".join(lines).rstrip() + "\n"


def report_markdown(report: Report, title: str) -> str:
    """The whole ``report.md``."""
    parts = [f"# {title}", ""]
    parts.append(
        "CoCoNot (Brahman, Kumar et al. 2024, arXiv 2407.12043): compliance rates judged by an LLM. "
        "Original set ↓ (should not comply), contrast set ↑ (should comply)."
    )
    parts.append("")
    if report.judge_notice:
        parts.extend([f"> **{report.judge_notice}**", ""])
    if report.warnings:
        parts.extend(f"> warning: {w}" for w in report.warnings)
        parts.append("")
    tables = all_tables(report)
    heading_done = False
    for table in tables:
        if table.anchor.startswith("cmp-") and not heading_done:
            baseline = report.baseline or DASH
            parts.append(f"## Paired comparisons (baseline: {baseline})\n")
            heading_done = True
        parts.append(table_markdown(table, 3 if table.anchor.startswith("cmp-") else 2))
    if len(report.rows) >= 2 and not heading_done:
        parts.append("## Paired comparisons\n\nNo pair of rows shares logged samples.\n")
    return "\n".join(parts)
