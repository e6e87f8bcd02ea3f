"""Tables built once and rendered to Markdown or to a self-contained HTML page.

Shared by ``coconot report`` and ``coconot compare-judges``. The page has inline CSS, charts as
base64 PNG and no script; a Content-Security-Policy forbids any script and any external resource,
and everything that comes from a run is HTML-escaped.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from coconot_tasks.tools.report.stats import PairedDifference
from coconot_tasks.tools.text_format import md_cell, share

DASH = "—"

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"

#: The page's style sheet, a data file of this package (read when a page is written, not at start-up).
CSS_FILE = files("coconot_tasks.tools.report") / "report.css"


@dataclass
class Cell:
    """A table cell: main ``text``, smaller ``detail`` (interval) and ``counts``, and a tooltip."""

    text: str
    detail: str = ""
    counts: str = ""
    title: str = ""
    path: bool = False  # a file path (monospace, may break anywhere)


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
    level: int = 2  # heading level of the title (3: a table inside a section)


def rate_cell(rate: float, ci: tuple[float, float], counts: str, title: str = "") -> Cell:
    """``59.2 [56.2, 62.2] (593/1001)``: a rate in percent, its 95% interval and its counts."""
    interval = f"[{share(ci[0], unit='')}, {share(ci[1], unit='')}]"
    return Cell(share(rate, unit=""), interval, counts, title=title)


def difference_cell(diff: PairedDifference | None, counts: str = "") -> Cell:
    """``+3.1 [-0.4, +6.6]``: a paired difference in percentage points with its 95% interval."""
    if diff is None or diff.difference is None:
        return Cell(DASH)
    lo, hi = diff.difference_ci
    return Cell(f"{100 * diff.difference:+.1f}", f"[{100 * lo:+.1f}, {100 * hi:+.1f}]", counts)


def table_markdown(table: Table) -> str:
    """One table as GitHub-flavoured Markdown, with its title as a heading and notes below."""
    lines = [f"{'#' * table.level} {table.title}", ""]
    if table.legend:
        lines.extend([*(f"{line}  " for line in table.legend), ""])
    lines.append("| " + " | ".join(md_cell(h) for h in table.header) + " |")
    align = "---" if table.text else "---:"
    lines.append("|" + "|".join("---" if i == 0 else align for i in range(len(table.header))) + "|")
    for number, row in enumerate(table.rows):
        cells = []
        for cell in row:
            text = md_cell(" ".join(part for part in (cell.text, cell.detail, cell.counts) if part))
            cells.append(f"**{text}**" if number in table.strong_rows and text else text)
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"{note}  " for note in table.notes)
    return "\n".join(lines).rstrip() + "\n"


def esc(text: object) -> str:
    """HTML-escape any value (quotes included)."""
    return html.escape(str(text), quote=True)


def _cell_html(cell: Cell) -> str:
    title = f' title="{esc(cell.title)}"' if cell.title else ""
    cls = ' class="path"' if cell.path else ""
    if cell.detail or cell.counts:
        body = f'<span class="main">{esc(cell.text)}</span>' + "".join(
            f'<span class="detail">{esc(part)}</span>' for part in (cell.detail, cell.counts) if part
        )
    else:
        body = esc(cell.text)
    return f"<td{cls}{title}>{body}</td>"


def table_html(table: Table) -> str:
    """One table with its title (``h2``/``h3``) and notes."""
    level = f"h{table.level}"
    out = [f'<{level} id="{esc(table.anchor)}">{esc(table.title)}</{level}>']
    out.extend(f'<p class="legend">{esc(line)}</p>' for line in table.legend)
    css = ' class="text"' if table.text else ""
    out.append(f'<div class="table-wrap"><table{css}>')
    out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.header) + "</tr></thead><tbody>")
    for number, row in enumerate(table.rows):
        cells = "".join(_cell_html(c) for c in row)
        out.append(f'<tr class="strong">{cells}</tr>' if number in table.strong_rows else f"<tr>{cells}</tr>")
    out.append("</tbody></table></div>")
    if table.notes:
        out.append(notes_html(table.notes))
    return "\n".join(out)


def notes_html(notes: list[str]) -> str:
    """Notes in the muted small print."""
    return '<div class="notes">' + "".join(f"<p>{esc(n)}</p>" for n in notes) + "</div>"


def example_html(summary: str, prompt: str, response: str, verdicts: str) -> str:
    """One collapsible response: prompt, response and the (already rendered) ``verdicts`` entries."""
    return (
        f'<details class="example"><summary>{esc(summary)}</summary><dl class="ex">'
        f"<dt>Prompt</dt><dd><pre>{esc(prompt)}</pre></dd>"
        f"<dt>Response</dt><dd><pre>{esc(response) or '(empty)'}</pre></dd>{verdicts}</dl></details>"
    )


def more_html(shown: int, total: int) -> list[str]:
    """``… and N more`` when ``total`` exceeds what was ``shown``."""
    return [f'<p class="none">… and {total - shown} more</p>'] if total > shown else []


@dataclass
class Block:
    """A part of a document other than a table, as Markdown and as HTML (``None``: not in that format)."""

    markdown: str | None = None
    html: str | None = None


def write_document(
    output_dir: Path, stem: str, title: str, parts: list[Table | Block], data: Any, footer: str
) -> dict[str, Path]:
    """Write ``parts`` as ``STEM.md`` and a self-contained ``STEM.html``, and ``data`` as ``STEM.json``.

    Returns the paths by format. The page has the CSS inline and no script."""
    style = "\n" + CSS_FILE.read_text(encoding="utf-8")
    markdown = [table_markdown(p) if isinstance(p, Table) else p.markdown for p in parts]
    body = [table_html(p) if isinstance(p, Table) else p.html for p in parts]
    page = (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{style}</style></head>\n<body><main>\n"
        + "\n".join([*(b for b in body if b is not None), f"<footer>{esc(footer)}</footer>"])
        + "\n</main></body></html>\n"
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    paths = {ext: output_dir / f"{stem}.{ext}" for ext in ("md", "html", "json")}
    paths["md"].write_text("\n".join(m for m in markdown if m is not None), encoding="utf-8")
    paths["html"].write_text(page, encoding="utf-8")
    paths["json"].write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return paths
