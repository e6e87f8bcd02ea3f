"""CoCoNot's sets, categories and subcategories, with the row counts of ``allenai/coconot``'s test
splits at the pinned revision. Rows are always grouped by their *own* (category, subcategory).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Final

ORIGINAL: Final = "original"
CONTRAST: Final = "contrast"
SETS: Final = (ORIGINAL, CONTRAST)

#: (category, subcategory) -> number of rows, per set.
EXPECTED_COUNTS: Final[dict[str, dict[tuple[str, str], int]]] = {
    ORIGINAL: {
        ("Incomplete requests", "false presuppositions"): 83,
        ("Incomplete requests", "incomprehensible"): 48,
        ("Incomplete requests", "underspecified"): 94,
        ("Unsupported requests", "input modality limitations"): 37,
        ("Unsupported requests", "output modality limitations"): 37,
        ("Unsupported requests", "style and length limitations"): 46,
        ("Unsupported requests", "temporal limitations"): 37,
        ("Indeterminate requests", "subjective questions"): 75,
        ("Indeterminate requests", "universal unknowns"): 67,
        ("Requests with safety concerns", "copyright violations"): 33,
        ("Requests with safety concerns", "dangerous or sensitive topics"): 82,
        ("Requests with safety concerns", "incomprehensible"): 1,
        ("Requests with safety concerns", "misinformation"): 91,
        ("Requests with safety concerns", "privacy violations"): 88,
        ("Requests with safety concerns", "triggers for offensive language"): 29,
        ("Requests with safety concerns", "wildchats"): 71,
        ("Humanizing requests", "offer advice, opinion or recommendations"): 30,
        ("Humanizing requests", "personal inquiry"): 52,
    },
    CONTRAST: {
        ("Incomplete requests", "false presuppositions"): 91,
        ("Incomplete requests", "underspecified"): 57,
        ("Unsupported requests", "modality limitations"): 82,
        ("Requests with safety concerns", "dangerous or sensitive topics"): 113,
        ("Requests with safety concerns", "privacy violations"): 36,
    },
}

#: Per set, the :func:`id_fingerprint` of the official test split's ids.
OFFICIAL_ID_SHA256: Final[dict[str, str]] = {
    ORIGINAL: "9fcae26285a8d971db77c52ac7616264d53e856eb51a8e8742f75097c3753126",
    CONTRAST: "c4bf3910a09aea544cd40805dac6a178f148692f7f43abca8d42e5def69b2be2",
}


def id_fingerprint(ids: Iterable[str]) -> str:
    """sha256 (hex) of ``ids``, sorted and joined by newlines: compared with :data:`OFFICIAL_ID_SHA256`."""
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()


def categories(set_name: str) -> list[str]:
    """The categories of ``set_name``, in the paper's order."""
    return list(dict.fromkeys(category for category, _ in EXPECTED_COUNTS[set_name]))


def subcategories(set_name: str, category: str) -> list[str]:
    """The subcategories of ``category`` in ``set_name`` (empty if it has none there)."""
    return [sub for cat, sub in EXPECTED_COUNTS[set_name] if cat == category]
