"""The report's tables and its two documents: ``report.md`` and the self-contained ``report.html``."""

from __future__ import annotations

import base64
import importlib
from collections import Counter

from coconot_tasks.benchmark.names import ACCOUNTING_NAMES
from coconot_tasks.benchmark.taxonomy import CONTRAST, SETS
from coconot_tasks.results.judges import describe_judges
from coconot_tasks.results.saved_runs import Sample
from coconot_tasks.tools.report.numbers import (
    FAILURE_VERDICT,
    SET_TITLES,
    Comparison,
    RateCell,
    Report,
    ReportRow,
    Scope,
    arrow,
    direction,
)
from coconot_tasks.tools.report.stats import PairedDifference
from coconot_tasks.tools.report.tables import (
    DASH,
    Block,
    Cell,
    Table,
    difference_cell,
    esc,
    example_html,
    more_html,
    rate_cell,
)
from coconot_tasks.tools.text_format import share

#: Significance level for the "better / worse" word of the paired comparisons.
ALPHA = 0.05
INTRO = (
    "CoCoNot (Brahman, Kumar et al. 2024, arXiv 2407.12043): compliance rates judged by an LLM. "
    "Original set ↓ (should not comply), contrast set ↑ (should comply)."
)
LEAD = (
    '<p class="lead">CoCoNot (Brahman, Kumar et al. 2024, arXiv 2407.12043): compliance rates judged '
    "by an LLM. Original set ↓ (the model should not comply), contrast set ↑ (benign look-alikes it "
    "should comply with).</p>"
)


def _rate_cell(cell: RateCell | None) -> Cell:
    """The rate with its interval and counts; the results value alone when no samples were logged."""
    if cell is None or cell.rate is None:
        return Cell(DASH, title="no data")
    if cell.ci95 is None or cell.k is None or cell.n is None:
        return Cell(share(cell.rate, unit=""), f"({cell.note})" if cell.note else "", title=cell.note)
    title = f"{cell.k} of {cell.n} judged responses complied"
    if cell.judge_errors:
        title += f"; {cell.judge_errors} judge errors excluded"
    return rate_cell(cell.rate, cell.ci95, f"({cell.k}/{cell.n})", title)


def _score_cell(row: ReportRow) -> Cell:
    if row.score is None:
        return Cell(DASH, title="needs both sets")
    if row.score_source == "computed":
        title = "not in the results JSON: mean of (1 - original) and contrast"
        return Cell(share(row.score, unit=""), "(computed)", title=title)
    return Cell(share(row.score, unit=""), title="mean of (1 - original compliance) and contrast compliance")


def main_table(report: Report) -> Table:
    """The paper's Table 2 layout: rows = models/conditions, columns = categories and sets."""
    columns = report.main_columns
    header = ["Model", *[f"{c.short_label} {arrow(c.set_name)}" for c in columns], "CoCoNot score ↑"]
    rows = [
        [Cell(row.label), *[_rate_cell(row.cells.get(c)) for c in columns], _score_cell(row)]
        for row in report.rows
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
    scopes = [*report.scopes_of(set_name, "category", "subcategory"), Scope(set_name)]
    rows = [
        [
            Cell(scope.short_label if scope.level == "subcategory" else scope.label),
            *[_rate_cell(r.cells.get(scope)) for r in report.rows],
        ]
        for scope in scopes
    ]
    return Table(
        f"{SET_TITLES[set_name]} by subcategory: compliance rate % {arrow(set_name)} ({direction(set_name)})",
        ["Subcategory", *[row.label for row in report.rows]],
        rows,
        ["Bold rows are whole categories and the whole set; cells as in the first table."],
        anchor=f"sub-{set_name}",
        strong_rows={i for i, scope in enumerate(scopes) if scope.level != "subcategory"},
    )


def _direction(scope: Scope, result: PairedDifference) -> str:
    if result.difference is None or result.p_value >= ALPHA or result.difference == 0:
        return "n.s."
    improved = (result.difference > 0) == (scope.set_name == CONTRAST)
    return "better" if improved else "worse"


def comparison_table(comparison: Comparison) -> Table:
    """Paired differences per set and category of one comparison (exact McNemar p-values)."""
    ref, cmp_ = comparison.reference.label, comparison.compared.label
    header = ["Scope", "paired n", "A %", "B %", "Δ = B − A, pp [95% CI]", "only A complied",
              "only B complied", "McNemar p", ""]  # fmt: skip
    rows: list[list[Cell]] = []
    strong: set[int] = set()
    for scope, result in comparison.results.items():
        if scope.level == "subcategory" or result.n == 0:
            continue
        if scope.level == "set":
            strong.add(len(rows))
            label = f"{SET_TITLES[scope.set_name]} {arrow(scope.set_name)}"
        else:
            label = f"{scope.set_name.capitalize()} / {scope.short_label} {arrow(scope.set_name)}"
        rates = [label, str(result.n), share(result.rate_a, unit=""), share(result.rate_b, unit="")]
        tests = [str(result.b), str(result.c), f"{result.p_value:.4g}", _direction(scope, result)]
        rows.append([*map(Cell, rates), difference_cell(result), *map(Cell, tests)])
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
    legend = [
        f"A = {ref} ({'without system prompt' if comparison.kind == 'system_prompt' else 'baseline'})",
        f"B = {cmp_}",
    ]
    anchor = "cmp-" + "".join(ch if ch.isalnum() else "-" for ch in f"{cmp_} vs {ref}".lower())
    title = f"{cmp_} vs {ref} ({what})"
    return Table(title, header, rows, notes, anchor, strong_rows=strong, legend=legend, level=3)


def judge_spend(row: ReportRow) -> tuple[int, int, float] | None:
    """Judge calls, tokens and USD the row's run spent on its tasks (``None``: not recorded)."""
    metrics = [[row.run.metric(task, name) for name in ACCOUNTING_NAMES] for task in row.tasks.values()]
    spends = [
        (int(calls), int((prompt or 0) + (completion or 0)), float(cost or 0.0))
        for calls, prompt, completion, cost in metrics
        if calls is not None
    ]
    return _total(spends) if spends else None


def _total(spends: list[tuple[int, int, float]]) -> tuple[int, int, float]:
    return (sum(s[0] for s in spends), sum(s[1] for s in spends), sum(s[2] for s in spends))


def _spend_text(spend: tuple[int, int, float] | None) -> str:
    return DASH if spend is None else f"{spend[0]:,} calls, {spend[1]:,} tokens, ${spend[2]:.4f}"


def runs_table(report: Report) -> Table:
    """Provenance: which file, judge and sample counts each row comes from, and the judge spend."""
    header = ["Row", "Results file", "Judge", *[f"{s} samples" for s in SETS], "limit", "judge spend"]
    rows = []
    spends = []
    for row in report.rows:
        spend = judge_spend(row)
        spends += [spend] if spend is not None else []
        limit = (row.run.results.get("config") or {}).get("limit")
        counts = [
            str(len(row.samples[s])) if row.samples.get(s) else ("not logged" if s in row.tasks else DASH)
            for s in SETS
        ]
        rows.append(
            [
                Cell(row.label),
                Cell(str(row.run.results_path), path=True),
                Cell(describe_judges(row.judge_records)),
                *map(Cell, counts),
                Cell(DASH if limit is None else str(limit)),
                Cell(_spend_text(spend)),
            ]
        )
    notes = [
        "judge spend: what producing the run cost in judge calls (cached verdicts and empty responses "
        f"cost nothing); all rows together: {_spend_text(_total(spends))}"
    ]
    return Table("Runs", header, rows, notes, anchor="runs", text=True)


def judge_error_table(report: Report) -> Table | None:
    """Items without a verdict per row and set (``None`` when there are none)."""
    rows = []
    for row in report.rows:
        for set_name, task in row.tasks.items():
            samples = row.samples.get(set_name) or []
            errors = row.judge_errors(set_name)
            if errors:
                outcomes = Counter(s.result.outcome if s.result else "unreadable verdict" for s in errors)
                first = next((s.result.error for s in errors if s.result and s.result.error), "") or ""
                cells = [str(len(errors)), str(len(samples))]
                cells += [", ".join(f"{k}: {v}" for k, v in sorted(outcomes.items())), first[:200]]
            elif not samples and (rate := row.run.metric(task, "judge_error_rate")):
                cells = [share(rate), DASH, DASH, DASH]
            else:
                continue
            rows.append([Cell(row.label), Cell(set_name), *map(Cell, cells)])
    if not rows:
        return None
    header = ["Row", "Set", "judge errors", "items", "outcomes", "first error"]
    notes = ["Items without a verdict are left out of every rate (never counted as NEITHER or as a label)."]
    return Table("Judge errors", header, rows, notes, anchor="judge-errors", text=True)


def _charts(report: Report, set_name: str | None) -> str:
    """Charts for the main table (``set_name`` None) or one set's subcategories; a note on failure."""
    try:
        # The one import of matplotlib: optional (the 'report' extra) and slow, so only to draw. It is
        # imported by name first because the plots module may already be loaded.
        importlib.import_module("matplotlib")
        from coconot_tasks.tools.report import plots
    except ImportError as exc:
        why = f"matplotlib is not installed ({exc}); install it with pip install 'coconot-tasks[report]'"
        return f'<p class="note">Charts omitted: {esc(why)}.</p>' if set_name is None else ""
    try:
        if set_name is None:
            png, alt = plots.category_chart(report), "compliance rate per category and model"
        elif report.scopes_of(set_name, "subcategory"):
            png, alt = (
                plots.subcategory_chart(report, set_name),
                f"{set_name} compliance rate per subcategory",
            )
        else:
            return ""
    except Exception as exc:  # a chart must never cost the report
        return f'<p class="note">Chart omitted: {esc(type(exc).__name__)}: {esc(exc)}</p>'
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _example_html(sample: Sample, number: int) -> str:
    result = sample.result
    prompt_line = " ".join(sample.prompt.split())
    short = prompt_line if len(prompt_line) <= 140 else prompt_line[:137] + "…"
    judge = f"{result.verdict} ({result.judge}, {result.outcome})" if result else "no verdict"
    rationale = result.output if result else ""
    if not rationale:
        empty = result is not None and result.outcome == "empty_response"
        rationale = "(no judge call: empty response)" if empty else "(no judge output)"
    doc = f"id {sample.doc_id}" if sample.doc_id else f"#{number}"
    verdict = (
        f"<dt>Verdict</dt><dd>{esc(judge)}</dd><dt>Judge rationale</dt><dd><pre>{esc(rationale)}</pre></dd>"
    )
    return example_html(f"{doc}: {short}", sample.prompt, sample.response, verdict)


def examples_html(report: Report, per_row: int) -> str:
    """Per set and subcategory, up to ``per_row`` failed responses per row, collapsible."""
    out = ['<h2 id="examples">Examples of failures</h2>']
    out.append(
        '<p class="note">Original set: responses the judge labelled compliance (the model should not have '
        "complied). Contrast set: responses labelled noncompliance (over-refusals). Up to "
        f"{per_row} per subcategory and row, in data order. Everything below is shown as plain text.</p>"
    )
    rows = [r for r in report.rows if any(r.samples.values())]
    if not rows:
        out.append('<p class="none">No samples were logged (run lm_eval with --log_samples).</p>')
        return "\n".join(out)
    for set_name in SETS:
        scopes = report.scopes_of(set_name, "subcategory")
        if not scopes:
            continue
        heading = f"{SET_TITLES[set_name]}: judged {FAILURE_VERDICT[set_name]}"
        out.append(f'<h3 id="examples-{set_name}">{esc(heading)}</h3>')
        for scope in scopes:
            failed = {row.label: row.failures(scope) for row in rows}
            counts = [
                f"{row.label}: {len(failed[row.label])}/{cell.n}"
                for row in rows
                if (cell := row.cells.get(scope)) is not None and cell.n
            ]
            out.append(
                f'<details class="subcat"><summary>{esc(scope.label)}'
                f'<span class="counts">failures: {esc(" · ".join(counts))}</span></summary>'
            )
            for row in rows:
                failures = failed[row.label]
                out.append(f'<div class="row-label">{esc(row.label)}</div>')
                if not failures:
                    out.append('<p class="none">none</p>')
                out += [_example_html(sample, n) for n, sample in enumerate(failures[:per_row], start=1)]
                out += more_html(per_row, len(failures))
            out.append("</details>")
    return "\n".join(out)


def report_parts(report: Report, title: str, per_row: int) -> list[Table | Block]:
    """Everything ``report.md`` and ``report.html`` show, in order."""
    body: list[Table | Block] = [main_table(report), Block(html=_charts(report, None))]
    for set_name in SETS:
        if report.scopes_of(set_name, "category", "subcategory"):
            body += [subcategory_table(report, set_name), Block(html=_charts(report, set_name))]
    if report.comparisons:
        baseline = report.baseline or DASH
        body.append(
            Block(
                f"## Paired comparisons (baseline: {baseline})\n",
                f'<h2 id="comparisons">Paired comparisons (baseline: {esc(baseline)})</h2>',
            )
        )
        body += [comparison_table(c) for c in report.comparisons]
    errors = judge_error_table(report)
    body += [*([errors] if errors else []), Block(html=examples_html(report, per_row)), runs_table(report)]
    if len(report.rows) >= 2 and not report.comparisons:
        body.append(Block("## Paired comparisons\n\nNo pair of rows shares logged samples.\n"))
    toc = [(t.anchor, t.title) for t in body if isinstance(t, Table) and t.level == 2]
    if report.comparisons:
        toc.insert(-1, ("comparisons", "Paired comparisons"))
    toc.insert(-1, ("examples", "Examples of failures"))
    nav = '<nav class="toc">' + "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in toc) + "</nav>"
    head = [Block(f"# {title}\n\n{INTRO}\n", f"<h1>{esc(title)}</h1>\n{LEAD}\n{nav}")]
    if report.judge_notice:
        notice = report.judge_notice
        head.append(
            Block(f"> **{notice}**\n", f'<p class="warning judges"><strong>{esc(notice)}</strong></p>')
        )
    if report.warnings:
        md = "".join(f"> warning: {w}\n" for w in report.warnings)
        head.append(Block(md, "\n".join(f'<p class="warning">{esc(w)}</p>' for w in report.warnings)))
    return [*head, *body]
