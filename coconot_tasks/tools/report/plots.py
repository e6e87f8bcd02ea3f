"""Charts for the HTML report, drawn with matplotlib's Agg canvas (no pyplot, no global state).

matplotlib is optional (the 'report' extra): this module is imported only to draw (``render._plots``).
"""

from __future__ import annotations

import io
import math

from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from coconot_tasks.tools.report.numbers import RateCell, Report, ReportRow, Scope, arrow, direction


def row_colours(rows: list[ReportRow]) -> list[tuple[tuple[float, float, float, float], str]]:
    """A (colour, hatch) per row: one hue per model, lighter and hatched with the system prompt."""
    palette = colormaps["tab20"]
    models = list(dict.fromkeys(row.model for row in rows))
    return [
        (palette((2 * models.index(row.model)) % 20 + row.system_prompt), "//" if row.system_prompt else "")
        for row in rows
    ]


def _value(cell: RateCell | None) -> tuple[float, float, float]:
    """(rate, lower error, upper error) in percent; NaN rate when missing, 0 errors without CI."""
    if cell is None or cell.rate is None:
        return (math.nan, 0.0, 0.0)
    rate = 100.0 * cell.rate
    if cell.ci95 is None:
        return (rate, 0.0, 0.0)
    return (rate, max(0.0, rate - 100.0 * cell.ci95[0]), max(0.0, 100.0 * cell.ci95[1] - rate))


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def category_chart(report: Report) -> bytes:
    """One bar panel per Table 2 column (categories, original, contrast), bars = rows, Wilson error bars."""
    columns = report.main_columns
    styles = row_colours(report.rows)
    ncols = 4
    nrows = math.ceil((len(columns) + 1) / ncols)
    figure = Figure(figsize=(11, 3.0 * nrows), layout="constrained")
    axes = figure.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, scope in zip(axes, columns, strict=False):
        rates, lower, upper = zip(*[_value(row.cells.get(scope)) for row in report.rows], strict=True)
        x = range(len(rates))
        ax.bar(
            x,
            rates,
            yerr=[lower, upper],
            color=[s[0] for s in styles],
            hatch=None,
            edgecolor="#333333",
            linewidth=0.5,
            capsize=3,
            error_kw={"elinewidth": 1, "ecolor": "#222222"},
        )
        for bar, (_colour, hatch) in zip(ax.patches, styles, strict=True):
            bar.set_hatch(hatch)
        for xi, rate, error in zip(x, rates, upper, strict=True):
            if not math.isnan(rate):
                ax.text(xi, min(rate + error + 2, 104), f"{rate:.1f}", ha="center", fontsize=7)
        ax.set_title(f"{scope.short_label} {arrow(scope.set_name)}", fontsize=10)
        ax.set_ylim(0, 110)
        ax.set_yticks([0, 25, 50, 75, 100])
        ax.set_xticks([])
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in axes[: len(columns)][::ncols]:
        ax.set_ylabel("compliance rate %")
    legend_ax = axes[len(columns)]
    legend_ax.axis("off")
    handles = [
        Patch(facecolor=colour, hatch=hatch, edgecolor="#333333", label=row.label)
        for row, (colour, hatch) in zip(report.rows, styles, strict=True)
    ]
    legend_ax.legend(handles=handles, loc="center", fontsize=9, frameon=False, title="95% Wilson intervals")
    for ax in axes[len(columns) + 1 :]:
        ax.axis("off")
    return _png(figure)


def subcategory_chart(report: Report, set_name: str) -> bytes:
    """Horizontal grouped bars: one group per subcategory of ``set_name``, one bar per row."""
    scopes: list[Scope] = report.scopes_of(set_name, "subcategory")
    styles = row_colours(report.rows)
    nbars = max(1, len(report.rows))
    height = 0.8 / nbars
    figure = Figure(figsize=(10, 1.4 + 0.09 * nbars * len(scopes) + 0.1 * len(scopes)), layout="constrained")
    ax = figure.subplots()
    for index, (row, (colour, hatch)) in enumerate(zip(report.rows, styles, strict=True)):
        rates, lower, upper = zip(*[_value(row.cells.get(scope)) for scope in scopes], strict=True)
        y = [g + (index - (nbars - 1) / 2) * height for g in range(len(scopes))]
        ax.barh(
            y,
            rates,
            height=height,
            xerr=[lower, upper],
            color=colour,
            hatch=hatch,
            edgecolor="#333333",
            linewidth=0.4,
            capsize=2,
            error_kw={"elinewidth": 0.8, "ecolor": "#222222"},
            label=row.label,
        )
    ax.set_yticks(range(len(scopes)))
    ax.set_yticklabels([f"{s.category.capitalize()} / {s.short_label}" for s in scopes], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel(f"compliance rate % {arrow(set_name)} ({direction(set_name)}); 95% Wilson intervals")
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    figure.legend(
        *ax.get_legend_handles_labels(),
        loc="outside upper center",
        ncols=min(4, nbars),
        fontsize=8,
        frameon=False,
    )
    return _png(figure)
