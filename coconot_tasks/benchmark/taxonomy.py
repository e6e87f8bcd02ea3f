"""CoCoNot's sets, categories and subcategories (the metric names derived from them: :mod:`.names`).

The counts are those of ``allenai/coconot`` (test splits) at the pinned revision; they
are used to check a loaded data set and to generate the YAML metric lists. Rows are
always grouped by their *own* ``(category, subcategory)`` fields.
"""

from __future__ import annotations

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
