"""``report.html``: one self-contained page (inline CSS, charts as base64 PNG, no script).

Everything that comes from a run (model names, prompts, responses, judge rationales) is
HTML-escaped. A Content-Security-Policy forbids any script and any external resource, so
the page renders the same offline and cannot load anything.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable

from coconot_tasks.benchmark.taxonomy import SETS
from coconot_tasks.results.saved_runs import Sample
from coconot_tasks.tools.report import plots
from coconot_tasks.tools.report.numbers import (
    FAILURE_VERDICT,
    SET_TITLES,
    Report,
    ReportRow,
    Scope,
    sample_scopes,
)
from coconot_tasks.tools.report.tables import Cell, Table, all_tables

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

CSS = """
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dee7; --bg-alt: #f5f7fa; --accent: #2457a7; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: var(--fg); margin: 0; background: #fff; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 8px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 16px; margin: 24px 0 6px; }
p.lead, p.note, .notes p { color: var(--muted); }
.notes p { margin: 4px 0; font-size: 12.5px; }
nav.toc { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px;
          margin: 14px 0; font-size: 13px; display: flex; flex-wrap: wrap; gap: 4px 18px; }
nav.toc a { color: var(--accent); text-decoration: none; }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { padding: 5px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--bg-alt); text-align: right; font-weight: 600; }
th:first-child, td:first-child { text-align: left; min-width: 13em; }
table.text td, table.text th { text-align: left; }
p.legend { margin: 2px 0 6px; font-size: 13px; }
td { text-align: right; font-variant-numeric: tabular-nums; }
td:first-child { font-variant-numeric: normal; }
tr.strong td { font-weight: 600; background: #fbfcfe; }
tbody tr:hover td { background: #eef3fb; }
td .main { display: block; }
td .detail { display: block; font-size: 11px; color: var(--muted); white-space: nowrap; font-weight: 400; }
td.path { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 11.5px; text-align: left;
          word-break: break-all; }
img.chart { max-width: 100%; height: auto; display: block; margin: 10px 0; border: 1px solid var(--line);
            border-radius: 6px; }
.warning { background: #fff4e5; border: 1px solid #f0c36d; border-radius: 6px; padding: 8px 12px; }
.warning.judges { background: #fdecea; border-color: #e3928a; font-size: 15px; }
details { margin: 6px 0; }
details > summary { cursor: pointer; }
details.subcat { border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; background: #fff; }
details.subcat > summary { font-weight: 600; }
details.subcat > summary .counts { display: block; font-weight: 400; color: var(--muted); font-size: 12px;
                                   margin-left: 16px; }
details.example { border-left: 3px solid #c8d3e6; padding: 2px 0 2px 10px; margin: 6px 0 6px 4px; }
details.example > summary { color: var(--fg); font-size: 13px; }
.row-label { font-size: 13px; margin: 10px 0 2px; color: var(--accent); font-weight: 600; }
dl.ex { margin: 6px 0 10px; display: grid; grid-template-columns: 90px 1fr; gap: 4px 10px; }
dl.ex dt { font-weight: 600; color: var(--muted); font-size: 12px; }
dl.ex dd { margin: 0; }
pre { white-space: pre-wrap; word-wrap: break-word; overflow-wrap: anywhere; margin: 0;
      font: 12.5px/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: var(--bg-alt);
      border: 1px solid var(--line); border-radius: 4px; padding: 6px 8px; max-height: 320px;
      overflow: auto; }
.none { color: var(--muted); font-style: italic; font-size: 12.5px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def esc(text: object) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(text), quote=True)


def _cell_html(cell: Cell, tag: str = "td", extra_class: str = "") -> str:
    title = f' title="{esc(cell.title)}"' if cell.title else ""
    cls = f' class="{extra_class}"' if extra_class else ""
    if cell.detail or cell.counts:
        body = f'<span class="main">{esc(cell.text)}</span>' + "".join(
            f'<span class="detail">{esc(part)}</span>' for part in (cell.detail, cell.counts) if part
        )
    else:
        body = esc(cell.text)
    return f"<{tag}{cls}{title}>{body}</{tag}>"


def table_html(table: Table) -> str:
    """One table with its title (``h2``/``h3``) and notes."""
    level = "h3" if table.anchor.startswith("cmp-") else "h2"
    out = [f'<{level} id="{esc(table.anchor)}">{esc(table.title)}</{level}>']
    out.extend(f'<p class="legend">{esc(line)}</p>' for line in table.legend)
    css = ' class="text"' if table.text else ""
    out.append(f'<div class="table-wrap"><table{css}>')
    out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.header) + "</tr></thead><tbody>")
    for number, row in enumerate(table.rows):
        strong = number in table.strong_rows
        cells = "".join(_cell_html(c, extra_class="path" if c.path else "") for c in row)
        out.append(f'<tr class="strong">{cells}</tr>' if strong else f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    if table.notes:
        out.append('<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in table.notes) + "</div>")
    return "\n".join(out)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img class="chart" alt="{esc(alt)}" src="data:image/png;base64,{data}">'


def _charts(report: Report, set_name: str | None) -> str:
    """Charts for the main table (``set_name`` None) or one set's subcategories; a note on failure."""
    missing = plots.matplotlib_missing()
    if missing is not None:
        return f'<p class="note">Charts omitted: {esc(missing)}.</p>' if set_name is None else ""
    try:
        if set_name is None:
            return _img(plots.category_chart(report), "compliance rate per category and model")
        if not report.scopes_of(set_name, ("subcategory",)):
            return ""
        return _img(plots.subcategory_chart(report, set_name), f"{set_name} compliance rate per subcategory")
    except Exception as exc:  # a chart must never cost the report
        return f'<p class="note">Chart omitted: {esc(type(exc).__name__)}: {esc(exc)}</p>'


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
    return (
        f'<details class="example"><summary>{esc(doc)}: {esc(short)}</summary><dl class="ex">'
        f"<dt>Prompt</dt><dd><pre>{esc(sample.prompt)}</pre></dd>"
        f"<dt>Response</dt><dd><pre>{esc(sample.response) or '(empty)'}</pre></dd>"
        f"<dt>Verdict</dt><dd>{esc(judge)}</dd>"
        f"<dt>Judge rationale</dt><dd><pre>{esc(rationale)}</pre></dd></dl></details>"
    )


def _grouped_failures(row: ReportRow, set_name: str) -> dict[Scope, list[Sample]]:
    grouped: dict[Scope, list[Sample]] = {}
    for sample in row.failures(set_name):
        grouped.setdefault(sample_scopes(sample)[2], []).append(sample)
    return grouped


def examples_html(report: Report, per_row: int) -> str:
    """Per set and subcategory, up to ``per_row`` failed responses per row, collapsible."""
    out = ['<h2 id="examples">Examples of failures</h2>']
    out.append(
        '<p class="note">Original set: responses the judge labelled compliance (the model should not have '
        "complied). Contrast set: responses labelled noncompliance (over-refusals). Up to "
        f"{per_row} per subcategory and row, in data order. Everything below is shown as plain text.</p>"
    )
    rows_with_samples = [r for r in report.rows if any(r.samples.values())]
    if not rows_with_samples:
        out.append('<p class="none">No samples were logged (run lm_eval with --log_samples).</p>')
        return "\n".join(out)
    for set_name in SETS:
        scopes = report.scopes_of(set_name, ("subcategory",))
        if not scopes:
            continue
        bad = FAILURE_VERDICT[set_name]
        out.append(f'<h3 id="examples-{set_name}">{esc(SET_TITLES[set_name])}: judged {esc(bad)}</h3>')
        grouped = {row.label: _grouped_failures(row, set_name) for row in rows_with_samples}
        for scope in scopes:
            counts = []
            for row in rows_with_samples:
                cell = row.cell(scope)
                if cell is not None and cell.n:
                    failed = len(grouped[row.label].get(scope, []))
                    counts.append(f"{row.label}: {failed}/{cell.n}")
            out.append(
                f'<details class="subcat"><summary>{esc(scope.label)}'
                f'<span class="counts">failures: {esc(" · ".join(counts))}</span></summary>'
            )
            for row in rows_with_samples:
                failures = grouped[row.label].get(scope, [])
                out.append(f'<div class="row-label">{esc(row.label)}</div>')
                if not failures:
                    out.append('<p class="none">none</p>')
                for number, sample in enumerate(failures[:per_row], start=1):
                    out.append(_example_html(sample, number))
                if len(failures) > per_row:
                    out.append(f'<p class="none">… and {len(failures) - per_row} more</p>')
            out.append("</details>")
    return "\n".join(out)


def report_html(report: Report, title: str, per_row: int = 3, footer: str = "") -> str:
    """The whole page."""
    tables = all_tables(report)
    toc: list[tuple[str, str]] = [(t.anchor, t.title) for t in tables if not t.anchor.startswith("cmp-")]
    if report.comparisons:
        toc.insert(-1, ("comparisons", "Paired comparisons"))
    toc.insert(-1, ("examples", "Examples of failures"))
    body: list[str] = [
        f"<h1>{esc(title)}</h1>",
        '<p class="lead">CoCoNot (Brahman, Kumar et al. 2024, arXiv 2407.12043): compliance rates judged '
        "by an LLM. Original set ↓ (the model should not comply), contrast set ↑ (benign look-alikes it "
        "should comply with).</p>",
        '<nav class="toc">' + "".join(f'<a href="#{esc(a)}">{esc(t)}</a>' for a, t in toc) + "</nav>",
    ]
    if report.judge_notice:
        body.append(f'<p class="warning judges"><strong>{esc(report.judge_notice)}</strong></p>')
    body.extend(f'<p class="warning">{esc(w)}</p>' for w in report.warnings)
    renderers: dict[str, Callable[[], str]] = {
        "main": lambda: _charts(report, None),
        **{f"sub-{s}": (lambda s=s: _charts(report, s)) for s in SETS},  # type: ignore[misc]
    }
    comparisons_started = False
    for table in tables:
        if table.anchor.startswith("cmp-") and not comparisons_started:
            body.append(
                f'<h2 id="comparisons">Paired comparisons (baseline: {esc(report.baseline or "—")})</h2>'
            )
            comparisons_started = True
        if table.anchor == "runs":
            body.append(examples_html(report, per_row))
        body.append(table_html(table))
        if table.anchor in renderers:
            body.append(renderers[table.anchor]())
    return page_html(title, body, footer)


def page_html(title: str, body: list[str], footer: str = "") -> str:
    """A self-contained page (the report's CSS, no script) around the HTML fragments ``body``."""
    if footer:
        body = [*body, f"<footer>{esc(footer)}</footer>"]
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )
