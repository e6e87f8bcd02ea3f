"""``compare_judges.md``, ``.html`` and ``.json`` (the report's tables and page), and the stdout summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coconot_tasks import __version__
from coconot_tasks.benchmark.taxonomy import SETS
from coconot_tasks.judge.types import JudgeResult
from coconot_tasks.tools.agreement import LABELS
from coconot_tasks.tools.compare_judges.compare import JudgeComparison, JudgeRate, Response, ScopeNumbers
from coconot_tasks.tools.report.numbers import SET_TITLES, arrow, verdict_of
from coconot_tasks.tools.report.tables import (
    DASH,
    Block,
    Cell,
    Table,
    difference_cell,
    esc,
    example_html,
    more_html,
    notes_html,
    rate_cell,
    table_markdown,
    write_document,
)
from coconot_tasks.tools.text_format import decimal, excerpt, percent, share

TITLE = "CoCoNot: how much the judge moves the numbers"
PAIRED_NOTE = (
    "Δ: judge − first judge in percentage points, on the responses both judges gave a verdict, with a "
    "paired 95% interval. Agreement and kappa: on the responses both judges of the pair gave a verdict. "
    "A response without a verdict (judge error, budget cap) is left out of that judge's numbers and counted."
)
#: The judge stats written into the JSON.
STATS_KEYS = ("items", "requests", "cached", "empty", "errors", "not_judged", "prompt_tokens",
              "completion_tokens", "cost_usd", "estimated_calls", "estimated_cost_usd",
              "budget_exhausted")  # fmt: skip


def _rate_cell(rate: JudgeRate) -> Cell:
    if rate.rate is None or rate.ci95 is None:
        return Cell(DASH, counts=f"({rate.no_verdict} without verdict)" if rate.no_verdict else "")
    missing = f", {rate.no_verdict} without verdict" if rate.no_verdict else ""
    return rate_cell(rate.rate, rate.ci95, f"({rate.k}/{rate.n}{missing})")


def _scope_label(numbers: ScopeNumbers) -> str:
    scope = numbers.scope
    if scope.level == "set":
        return f"{SET_TITLES[scope.set_name]} {arrow(scope.set_name)}"
    return scope.short_label if scope.level == "subcategory" else scope.category_name


def judges_table(comparison: JudgeComparison) -> Table:
    """Which judges, from which spec, and what judging cost."""
    rows = []
    for index, (spec, stats) in enumerate(zip(comparison.judges, comparison.stats, strict=True)):
        given = sum(v is not None for v in comparison.verdicts[index])
        missing = len(comparison.responses) - given
        calls = (
            (str(stats.requests), str(stats.cached), f"${stats.cost_usd:.4f}") if stats else ("0", DASH, DASH)
        )
        rows.append([Cell(c) for c in (spec.name, spec.text, str(given), str(missing), *calls)])
    notes = [
        "'saved': the verdicts already in the runs. Judge calls and cost are this invocation's (cached: 0)."
    ]
    header = ["Judge", "spec", "verdicts", "without verdict", "calls", "cached", "cost"]
    return Table("Judges", header, rows, notes, anchor="judges", text=True)


def rates_table(comparison: JudgeComparison, set_name: str) -> Table:
    """Per scope of one set: every judge's rate and every other judge's difference from the first."""
    names = comparison.names
    scopes = [numbers for numbers in comparison.scopes if numbers.scope.set_name == set_name]
    rows = [
        [
            Cell(_scope_label(numbers)),
            *[_rate_cell(rate) for rate in numbers.rates],
            *[difference_cell(diff, f"(n={diff.n})" if diff else "") for diff in numbers.differences[1:]],
        ]
        for numbers in scopes
    ]
    return Table(
        f"{SET_TITLES[set_name]}: compliance rate % per judge {arrow(set_name)}",
        ["Scope", *[f"{n} %" for n in names], *[f"Δ {n} − {names[0]}, pp" for n in names[1:]]],
        rows,
        ["Rate with its 95% Wilson interval and (compliant / responses with a verdict).", PAIRED_NOTE],
        anchor=f"rates-{set_name}",
        strong_rows={i for i, numbers in enumerate(scopes) if numbers.scope.level != "subcategory"},
    )


def kappa_table(comparison: JudgeComparison, numbers: ScopeNumbers) -> Table:
    """The pairwise agreement and Cohen's kappa matrix of one set."""
    names = comparison.names
    rows = []
    for a, name in enumerate(names):
        cells = [Cell(name)]
        for b in range(len(names)):
            stats = numbers.agreement.get((min(a, b), max(a, b)))  # None on the diagonal
            if stats is None:
                cells.append(Cell(DASH))
                continue
            agreed = percent(stats.percent_agreement)
            cells.append(Cell(f"κ {decimal(stats.kappa)}", agreed, f"(n={stats.n})"))
        rows.append(cells)
    notes = [
        "Cohen's kappa over compliance / noncompliance / neither, percent agreement, and the responses "
        "both judges gave a verdict (n)."
    ]
    set_name = numbers.scope.set_name
    title = f"{SET_TITLES[set_name]}: agreement (Cohen's kappa)"
    return Table(title, ["Judge", *names], rows, notes, anchor=f"kappa-{set_name}")


def confusion_tables(comparison: JudgeComparison, numbers: ScopeNumbers) -> list[Table]:
    """One confusion table per pair of judges over one set (rows: first judge of the pair)."""
    names, set_name = comparison.names, numbers.scope.set_name
    tables = []
    for (a, b), stats in numbers.agreement.items():
        totals = [sum(column) for column in zip(*stats.confusion, strict=True)]
        rows = [
            [Cell(label), *[Cell(str(v)) for v in [*row, sum(row)]]]
            for label, row in [*zip(LABELS, stats.confusion, strict=True), ("total", totals)]
        ]
        rows[-1][-1] = Cell(str(stats.n))
        note = (
            f"{stats.excluded} responses left out (no verdict from {names[a]}: {stats.missing_a}, "
            f"from {names[b]}: {stats.missing_b})."
        )
        title = f"{SET_TITLES[set_name]}: {names[a]} (rows) vs {names[b]} (columns)"
        header = [f"{names[a]} \\ {names[b]}", *LABELS, "total"]
        anchor = f"cmp-confusion-{set_name}-{a}-{b}"
        tables.append(Table(title, header, rows, [note], anchor, strong_rows={len(rows) - 1}, level=3))
    return tables


def all_tables(comparison: JudgeComparison) -> list[Table]:
    """Every table, in display order."""
    tables = [judges_table(comparison)]
    for set_name in SETS:
        numbers = comparison.whole_set(set_name)
        if numbers is not None:
            tables += [rates_table(comparison, set_name), kappa_table(comparison, numbers)]
            tables += confusion_tables(comparison, numbers)
    return tables


def _rationale(result: JudgeResult | None) -> str:
    if result is None:
        return "(no verdict in the run)"
    if not result.ok:
        return f"(no verdict: {result.error or result.outcome})"
    return result.output or ("(no judge call: empty response)" if result.outcome == "empty_response" else "")


def _disagreements_markdown(comparison: JudgeComparison, grouped: dict[str, list[int]], limit: int) -> str:
    lines = [f"## Disagreements ({sum(len(v) for v in grouped.values())})", ""]
    if not grouped:
        return "\n".join([*lines, "None.", ""])
    for group, indices in grouped.items():
        rows = []
        for index in indices[:limit]:
            sample = comparison.responses[index].sample
            verdicts = [column[index] or "no verdict" for column in comparison.verdicts]
            cells = [str(sample.doc_id), excerpt(sample.prompt), excerpt(sample.response), *verdicts]
            rows.append([Cell(c) for c in cells])
        header = ["id", "prompt", "response", *comparison.names]
        lines.append(table_markdown(Table(f"{group} ({len(indices)})", header, rows, text=True, level=3)))
        if len(indices) > limit:
            lines += [
                f"... and {len(indices) - limit} more (all of them, with rationales, are in the JSON).\n"
            ]
    return "\n".join(lines)


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


def _disagreements_html(comparison: JudgeComparison, grouped: dict[str, list[int]], limit: int) -> str:
    body = [f'<h2 id="disagreements">Disagreements ({sum(len(v) for v in grouped.values())})</h2>']
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
    return "\n".join(body)


def comparison_parts(comparison: JudgeComparison, notes: Sequence[str], limit: int) -> list[Table | Block]:
    """Everything ``compare_judges.md`` and ``compare_judges.html`` show, in order."""
    head = Block(
        f"# {TITLE}\n\n" + "".join(f"- {note}\n" for note in notes),
        f"<h1>{esc(TITLE)}</h1>\n" + notes_html(list(notes)),
    )
    grouped: dict[str, list[int]] = {}  # "set / category" -> responses
    for index in comparison.disagreements():
        sample = comparison.responses[index].sample
        grouped.setdefault(f"{sample.task.set_name} / {sample.category}", []).append(index)
    disagreements = Block(
        _disagreements_markdown(comparison, grouped, limit), _disagreements_html(comparison, grouped, limit)
    )
    return [head, *all_tables(comparison), disagreements]


def _response_dict(response: Response) -> dict[str, Any]:
    sample = response.sample
    return {
        "run": response.run,
        "task": sample.task.task,
        "set": sample.task.set_name,
        "doc_id": sample.doc_id,
        "category": sample.category,
        "subcategory": sample.subcategory,
    }


def _scope_dict(numbers: ScopeNumbers, names: list[str]) -> dict[str, Any]:
    rates = {name: vars(rate) for name, rate in zip(names, numbers.rates, strict=True)}
    differences = {
        name: diff.to_dict("first", "this")
        for name, diff in zip(names[1:], numbers.differences[1:], strict=True)
        if diff
    }
    agreement = {
        f"{names[a]} | {names[b]}": {
            k: v for k, v in stats.to_dict().items() if not k.startswith("compliance_rate")
        }
        for (a, b), stats in numbers.agreement.items()
    }
    scope = numbers.scope
    return {
        "set": scope.set_name,
        "category": scope.category,
        "subcategory": scope.subcategory,
        "label": scope.label,
        "rates": rates,
        "difference_from_first": differences,
        "agreement": agreement,
    }


def comparison_dict(comparison: JudgeComparison, notes: Sequence[str]) -> dict[str, Any]:
    """All numbers, every response's verdicts and all disagreements as JSON-able data."""
    names, results = comparison.names, comparison.results
    judges = [
        {
            "name": spec.name,
            "spec": spec.text,
            "settings": spec.settings.public() if spec.settings else None,
            "stats": None if stats is None else {key: getattr(stats, key) for key in STATS_KEYS},
        }
        for spec, stats in zip(comparison.judges, comparison.stats, strict=True)
    ]
    responses = [
        {
            **_response_dict(r),
            "verdicts": {name: column[i] for name, column in zip(names, comparison.verdicts, strict=True)},
        }
        for i, r in enumerate(comparison.responses)
    ]
    disagreements = [
        {
            **_response_dict(comparison.responses[i]),
            "prompt": comparison.responses[i].sample.prompt,
            "response": comparison.responses[i].sample.response,
            "judges": {
                name: {"verdict": verdict_of(column[i]), "rationale": _rationale(column[i])}
                for name, column in zip(names, results, strict=True)
            },
        }
        for i in comparison.disagreements()
    ]
    return {
        "title": TITLE,
        "notes": list(notes),
        "judges": judges,
        "scopes": [_scope_dict(numbers, names) for numbers in comparison.scopes],
        "responses": responses,
        "disagreements": disagreements,
    }


def write_comparison(
    comparison: JudgeComparison, output_dir: Path, notes: Sequence[str], limit: int
) -> dict[str, Path]:
    """Write ``compare_judges.md``, ``.html`` and ``.json`` into ``output_dir``; return their paths."""
    footer = f"Generated by coconot_tasks {__version__} (coconot compare-judges)."
    parts = comparison_parts(comparison, notes, limit)
    return write_document(
        output_dir, "compare_judges", TITLE, parts, comparison_dict(comparison, notes), footer
    )


def summary_lines(comparison: JudgeComparison) -> list[str]:
    """The short stdout table: per set and category, each judge's rate and Δ, then the kappa matrix."""
    names = comparison.names
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
        whole = comparison.whole_set(set_name)
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
