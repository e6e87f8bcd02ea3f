"""``compare_judges.md``, ``.html`` (the report's look) and ``.json``, and the stdout summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coconot_tasks import __version__
from coconot_tasks.benchmark.taxonomy import SETS
from coconot_tasks.judge.types import JudgeResult, JudgeStats
from coconot_tasks.tools.agreement import LABELS, AgreementStats
from coconot_tasks.tools.compare_judges.compare import JudgeComparison, JudgeRate, ScopeNumbers, verdict_of
from coconot_tasks.tools.report.numbers import SET_TITLES, arrow
from coconot_tasks.tools.report.stats import PairedDifference
from coconot_tasks.tools.report.tables import (
    DASH,
    Cell,
    Table,
    difference_cell,
    esc,
    example_html,
    more_html,
    notes_html,
    page_html,
    rate_cell,
    table_html,
    table_markdown,
    write_outputs,
)
from coconot_tasks.tools.text_format import decimal, excerpt, md_row, percent, share

TITLE = "CoCoNot: how much the judge moves the numbers"
PAIRED_NOTE = (
    "Δ: judge − first judge in percentage points, on the responses both judges gave a verdict, with a "
    "paired 95% interval. Agreement and kappa: on the responses both judges of the pair gave a verdict. "
    "A response without a verdict (judge error, budget cap) is left out of that judge's numbers and counted."
)


def _rate_cell(rate: JudgeRate) -> Cell:
    if rate.rate is None or rate.ci is None:
        return Cell(DASH, counts=f"({rate.no_verdict} without verdict)" if rate.no_verdict else "")
    missing = f", {rate.no_verdict} without verdict" if rate.no_verdict else ""
    return rate_cell(rate.rate, rate.ci, f"({rate.k}/{rate.n}{missing})")


def _scope_label(numbers: ScopeNumbers) -> str:
    scope = numbers.scope
    if scope.level == "set":
        return f"{SET_TITLES.get(scope.set_name, scope.set_name)} {arrow(scope.set_name)}"
    return scope.short_label if scope.level == "subcategory" else scope.category_name


def judges_table(comparison: JudgeComparison) -> Table:
    """Which judges, from which spec, and what judging cost."""
    header = ["Judge", "spec", "verdicts", "without verdict", "calls", "cached", "cost"]
    rows = []
    for index, spec in enumerate(comparison.judges):
        verdicts = comparison.verdicts(index)
        stats = comparison.stats[index]
        given = sum(v is not None for v in verdicts)
        calls = (
            (str(stats.requests), str(stats.cached), f"${stats.cost_usd:.4f}") if stats else ("0", DASH, DASH)
        )
        rows.append(
            [
                Cell(spec.name),
                Cell(spec.text),
                Cell(str(given)),
                Cell(str(len(verdicts) - given)),
                *(Cell(c) for c in calls),
            ]
        )
    notes = [
        "'saved': the verdicts already in the runs. Judge calls and cost are this invocation's (cached: 0)."
    ]
    return Table("Judges", header, rows, notes, anchor="judges", text=True)


def rates_table(comparison: JudgeComparison, set_name: str) -> Table:
    """Per scope of one set: every judge's rate and every other judge's difference from the first."""
    names = [spec.name for spec in comparison.judges]
    header = ["Scope", *[f"{n} %" for n in names], *[f"Δ {n} − {names[0]}, pp" for n in names[1:]]]
    rows: list[list[Cell]] = []
    strong: set[int] = set()
    for numbers in comparison.scopes:
        if numbers.scope.set_name != set_name:
            continue
        if numbers.scope.level != "subcategory":
            strong.add(len(rows))
        rows.append(
            [
                Cell(_scope_label(numbers)),
                *[_rate_cell(rate) for rate in numbers.rates],
                *[difference_cell(diff, f"(n={diff.n})" if diff else "") for diff in numbers.differences[1:]],
            ]
        )
    title = f"{SET_TITLES.get(set_name, set_name)}: compliance rate % per judge {arrow(set_name)}"
    notes = ["Rate with its 95% Wilson interval and (compliant / responses with a verdict).", PAIRED_NOTE]
    return Table(title, header, rows, notes, anchor=f"rates-{set_name}", strong_rows=strong)


def _set_numbers(comparison: JudgeComparison, set_name: str) -> ScopeNumbers | None:
    return next(
        (s for s in comparison.scopes if s.scope.set_name == set_name and s.scope.level == "set"), None
    )


def kappa_table(comparison: JudgeComparison, numbers: ScopeNumbers) -> Table:
    """The pairwise agreement and Cohen's kappa matrix of one set."""
    names = [spec.name for spec in comparison.judges]
    rows = []
    for a, name in enumerate(names):
        cells = [Cell(name)]
        for b in range(len(names)):
            stats = numbers.agreement.get((min(a, b), max(a, b)))
            if a == b or stats is None:
                cells.append(Cell(DASH))
            else:
                cells.append(
                    Cell(f"κ {decimal(stats.kappa)}", percent(stats.percent_agreement), f"(n={stats.n})")
                )
        rows.append(cells)
    title = f"{SET_TITLES.get(numbers.scope.set_name, numbers.scope.set_name)}: agreement (Cohen's kappa)"
    notes = [
        "Cohen's kappa over compliance / noncompliance / neither, percent agreement, and the responses "
        "both judges gave a verdict (n)."
    ]
    return Table(title, ["Judge", *names], rows, notes, anchor=f"kappa-{numbers.scope.set_name}")


def confusion_tables(comparison: JudgeComparison, numbers: ScopeNumbers) -> list[Table]:
    """One confusion table per pair of judges over one set (rows: first judge of the pair)."""
    names = [spec.name for spec in comparison.judges]
    tables = []
    for (a, b), stats in numbers.agreement.items():
        rows = [
            [Cell(label), *[Cell(str(v)) for v in row], Cell(str(sum(row)))]
            for label, row in zip(LABELS, stats.confusion, strict=True)
        ]
        totals = [sum(row[j] for row in stats.confusion) for j in range(len(LABELS))]
        rows.append([Cell("total"), *[Cell(str(v)) for v in totals], Cell(str(stats.n))])
        set_name = numbers.scope.set_name
        tables.append(
            Table(
                f"{SET_TITLES.get(set_name, set_name)}: {names[a]} (rows) vs {names[b]} (columns)",
                [f"{names[a]} \\ {names[b]}", *LABELS, "total"],
                rows,
                [
                    f"{stats.excluded} responses left out (no verdict from {names[a]}: {stats.missing_a}, "
                    f"from {names[b]}: {stats.missing_b})."
                ],
                anchor=f"cmp-confusion-{set_name}-{a}-{b}",
                strong_rows={len(rows) - 1},
                level=3,
            )
        )
    return tables


def all_tables(comparison: JudgeComparison) -> list[Table]:
    """Every table, in display order."""
    tables = [judges_table(comparison)]
    for set_name in SETS:
        numbers = _set_numbers(comparison, set_name)
        if numbers is None:
            continue
        tables += [rates_table(comparison, set_name), kappa_table(comparison, numbers)]
        tables += confusion_tables(comparison, numbers)
    return tables


def _rationale(result: JudgeResult | None) -> str:
    if result is None:
        return "(no verdict in the run)"
    if not result.ok:
        return f"(no verdict: {result.error or result.outcome})"
    return result.output or ("(no judge call: empty response)" if result.outcome == "empty_response" else "")


def _grouped_disagreements(comparison: JudgeComparison) -> dict[str, list[int]]:
    grouped: dict[str, list[int]] = {}
    for index in comparison.disagreements():
        sample = comparison.responses[index].sample
        grouped.setdefault(f"{sample.task.set_name} / {sample.category}", []).append(index)
    return grouped


def disagreement_dict(comparison: JudgeComparison, index: int) -> dict[str, Any]:
    """One response with every judge's verdict and rationale."""
    response = comparison.responses[index]
    sample = response.sample
    return {
        "run": response.run,
        "task": sample.task.task,
        "set": sample.task.set_name,
        "doc_id": sample.doc_id,
        "category": sample.category,
        "subcategory": sample.subcategory,
        "prompt": sample.prompt,
        "response": sample.response,
        "judges": {
            spec.name: {"verdict": verdict_of(column[index]), "rationale": _rationale(column[index])}
            for spec, column in zip(comparison.judges, comparison.results, strict=True)
        },
    }


def disagreements_markdown(comparison: JudgeComparison, limit: int) -> str:
    """The disagreements grouped by category (the first ``limit`` per category)."""
    names = [spec.name for spec in comparison.judges]
    grouped = _grouped_disagreements(comparison)
    lines = [f"## Disagreements ({sum(len(v) for v in grouped.values())})", ""]
    if not grouped:
        return "\n".join([*lines, "None.", ""])
    for group, indices in grouped.items():
        lines += [
            f"### {group} ({len(indices)})",
            "",
            md_row(["id", "prompt", "response", *names]),
            "|" + "---|" * (3 + len(names)),
        ]
        for index in indices[:limit]:
            sample = comparison.responses[index].sample
            verdicts = [verdict_of(column[index]) or "no verdict" for column in comparison.results]
            lines.append(md_row([sample.doc_id, excerpt(sample.prompt), excerpt(sample.response), *verdicts]))
        if len(indices) > limit:
            lines += [
                "",
                f"... and {len(indices) - limit} more (all of them, with rationales, are in the JSON).",
            ]
        lines.append("")
    return "\n".join(lines)


def comparison_markdown(comparison: JudgeComparison, notes: Sequence[str], limit: int) -> str:
    """The whole ``compare_judges.md``."""
    parts = [f"# {TITLE}", "", *(f"- {note}" for note in notes), ""]
    parts += [table_markdown(t) for t in all_tables(comparison)]
    parts.append(disagreements_markdown(comparison, limit))
    return "\n".join(parts)


def _disagreement_html(comparison: JudgeComparison, index: int) -> str:
    response = comparison.responses[index]
    sample = response.sample
    judges = "".join(
        f"<dt>{esc(spec.name)}</dt><dd>{esc(verdict_of(column[index]) or 'no verdict')}"
        f"<pre>{esc(_rationale(column[index]))}</pre></dd>"
        for spec, column in zip(comparison.judges, comparison.results, strict=True)
    )
    summary = f"{response.run}, id {sample.doc_id} ({sample.subcategory}): {excerpt(sample.prompt, 140)}"
    return example_html(summary, sample.prompt, sample.response, judges)


def comparison_html(comparison: JudgeComparison, notes: Sequence[str], limit: int, footer: str) -> str:
    """The whole ``compare_judges.html`` (the report's page, CSS and tables)."""
    tables = all_tables(comparison)
    body = [
        f"<h1>{esc(TITLE)}</h1>",
        notes_html(list(notes)),
    ]
    body += [table_html(t) for t in tables]
    grouped = _grouped_disagreements(comparison)
    body.append(f'<h2 id="disagreements">Disagreements ({sum(len(v) for v in grouped.values())})</h2>')
    body.append(f'<p class="note">The first {limit} per category; all of them are in the JSON.</p>')
    for group, indices in grouped.items():
        body.append(
            f'<details class="subcat" open><summary>{esc(group)}'
            f'<span class="counts">{len(indices)} responses</span></summary>'
        )
        body += [_disagreement_html(comparison, i) for i in indices[:limit]]
        body += [*more_html(limit, len(indices)), "</details>"]
    if not grouped:
        body.append('<p class="none">None.</p>')
    return page_html(TITLE, body, footer)


def _rate_dict(rate: JudgeRate) -> dict[str, Any]:
    return {
        "rate": rate.rate,
        "k": rate.k,
        "n": rate.n,
        "ci95": list(rate.ci) if rate.ci else None,
        "no_verdict": rate.no_verdict,
    }


def _difference_dict(diff: PairedDifference) -> dict[str, Any]:
    return {
        "n": diff.n,
        "difference": diff.difference,
        "difference_ci95": list(diff.difference_ci),
        "only_first_complied": diff.b,
        "only_this_complied": diff.c,
        "mcnemar_exact_p": diff.p_value,
    }


def _stats_dict(stats: JudgeStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    keys = (
        "items",
        "requests",
        "cached",
        "empty",
        "errors",
        "not_judged",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "estimated_calls",
        "estimated_cost_usd",
        "budget_exhausted",
    )
    return {key: getattr(stats, key) for key in keys}


def comparison_dict(comparison: JudgeComparison, notes: Sequence[str]) -> dict[str, Any]:
    """All numbers, every response's verdicts and all disagreements as JSON-able data."""
    names = [spec.name for spec in comparison.judges]
    scopes = []
    for numbers in comparison.scopes:
        agreement: dict[str, dict[str, Any]] = {}
        for (a, b), stats in numbers.agreement.items():
            agreement[f"{names[a]} | {names[b]}"] = _agreement_dict(stats)
        scopes.append(
            {
                "set": numbers.scope.set_name,
                "category": numbers.scope.category,
                "subcategory": numbers.scope.subcategory,
                "label": numbers.scope.label,
                "rates": {name: _rate_dict(rate) for name, rate in zip(names, numbers.rates, strict=True)},
                "difference_from_first": {
                    name: _difference_dict(diff)
                    for name, diff in zip(names[1:], numbers.differences[1:], strict=True)
                    if diff
                },
                "agreement": agreement,
            }
        )
    return {
        "title": TITLE,
        "notes": list(notes),
        "judges": [
            {
                "name": spec.name,
                "spec": spec.text,
                "settings": spec.settings.public() if spec.settings else None,
                "stats": _stats_dict(stats),
            }
            for spec, stats in zip(comparison.judges, comparison.stats, strict=True)
        ],
        "scopes": scopes,
        "responses": [
            {
                "run": r.run,
                "task": r.sample.task.task,
                "set": r.sample.task.set_name,
                "doc_id": r.sample.doc_id,
                "category": r.sample.category,
                "subcategory": r.sample.subcategory,
                "verdicts": {
                    name: verdict_of(column[i])
                    for name, column in zip(names, comparison.results, strict=True)
                },
            }
            for i, r in enumerate(comparison.responses)
        ],
        "disagreements": [disagreement_dict(comparison, i) for i in comparison.disagreements()],
    }


def _agreement_dict(stats: AgreementStats) -> dict[str, Any]:
    return {key: value for key, value in stats.to_dict().items() if not key.startswith("compliance_rate")}


def write_comparison(
    comparison: JudgeComparison, output_dir: Path, notes: Sequence[str], limit: int
) -> dict[str, Path]:
    """Write ``compare_judges.md``, ``.html`` and ``.json`` into ``output_dir``; return their paths."""
    footer = f"Generated by coconot_tasks {__version__} (coconot compare-judges)."
    markdown = comparison_markdown(comparison, notes, limit)
    page = comparison_html(comparison, notes, limit, footer)
    return write_outputs(output_dir, "compare_judges", markdown, page, comparison_dict(comparison, notes))


def summary_lines(comparison: JudgeComparison) -> list[str]:
    """The short stdout table: per set and category, each judge's rate and Δ, then the kappa matrix."""
    names = [spec.name for spec in comparison.judges]
    width = max(24, *(len(n) for n in names))
    lines = [f"{'scope':<34} " + " ".join(f"{n[:width]:>{width}}" for n in names)]
    for numbers in comparison.scopes:
        if numbers.scope.level == "subcategory":
            continue
        cells = []
        for rate, diff in zip(numbers.rates, numbers.differences, strict=True):
            text = share(rate.rate)
            if diff is not None and diff.difference is not None:
                lo, hi = diff.difference_ci
                text += f" Δ{100 * diff.difference:+.1f} [{100 * lo:+.1f},{100 * hi:+.1f}]"
            cells.append(f"{text:>{width}}")
        label = f"{numbers.scope.set_name} / {numbers.scope.short_label}"
        lines.append(f"{label[:34]:<34} " + " ".join(cells))
    for set_name in SETS:
        whole = _set_numbers(comparison, set_name)
        if whole is None:
            continue
        lines.append(f"Cohen's kappa, {set_name}:")
        for a, name in enumerate(names):
            row = [
                DASH if a == b else decimal(whole.agreement[(min(a, b), max(a, b))].kappa)
                for b in range(len(names))
            ]
            lines.append(f"  {name[:34]:<34} " + " ".join(f"{v:>7}" for v in row))
    return lines
