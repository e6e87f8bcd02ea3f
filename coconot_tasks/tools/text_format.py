"""Small text formatters shared by the reports and CLI summaries (judge agreement, validation, rescore).

Every number formatter writes ``n/a`` for ``None`` (a statistic that is undefined or has
no data), so callers never need to special-case it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

#: Characters kept by :func:`excerpt` when no limit is given.
EXCERPT_CHARS: Final = 120

#: What the number formatters write for ``None``.
NOT_AVAILABLE: Final = "n/a"


def percent(value: float | None) -> str:
    """A value already in percent, with one decimal: ``59.24`` -> ``"59.2%"``."""
    return NOT_AVAILABLE if value is None else f"{value:.1f}%"


def share(value: float | None, unit: str = "%") -> str:
    """A fraction as a percentage with one decimal (the paper's precision): ``0.5924`` -> ``"59.2%"``.

    ``unit=""`` leaves out the sign (tables whose header says "%").
    """
    return NOT_AVAILABLE if value is None else f"{100 * value:.1f}{unit}"


def decimal(value: float | None) -> str:
    """A statistic such as Cohen's kappa or ``coconot_score``, with three decimals: ``"0.412"``."""
    return NOT_AVAILABLE if value is None else f"{value:.3f}"


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to at most ``limit`` characters (an ellipsis marks a cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)].rstrip() + "…"


def md_cell(text: object) -> str:
    """``text`` as one Markdown table cell: on one line, with ``\\`` and ``|`` escaped."""
    return " ".join(str(text).split()).replace("\\", "\\\\").replace("|", "\\|")


def md_row(cells: Iterable[object]) -> str:
    """One Markdown table row of ``cells`` (each passed through :func:`md_cell`)."""
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"
