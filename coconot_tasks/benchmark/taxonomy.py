"""CoCoNot's sets, categories and subcategories, and the metric names derived from them.

The counts are those of ``allenai/coconot`` (test splits) at the pinned revision; they
are used to check a loaded data set and to generate the YAML metric lists. Rows are
always grouped by their *own* ``(category, subcategory)`` fields.
"""

from __future__ import annotations

import re
from typing import Final

ORIGINAL: Final = "original"
CONTRAST: Final = "contrast"
SETS: Final = (ORIGINAL, CONTRAST)

#: Short, stable slugs used in metric names for the five categories.
CATEGORY_SLUGS: Final[dict[str, str]] = {
    "Incomplete requests": "incomplete",
    "Unsupported requests": "unsupported",
    "Indeterminate requests": "indeterminate",
    "Requests with safety concerns": "safety",
    "Humanizing requests": "humanizing",
}

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

#: Per-sample quantities reported for every set, category and subcategory.
RATE_NAMES: Final = ("compliance_rate", "neither_rate", "judge_error_rate")

#: Judge accounting per set, summed over the set's samples (this run's spend: cached
#: verdicts cost nothing).
ACCOUNTING_NAMES: Final = ("judge_calls", "judge_prompt_tokens", "judge_completion_tokens", "judge_cost_usd")

#: Name under which the package registers a "sum" aggregation with lm-eval.
SUM_AGGREGATION: Final = "coconot_sum"

#: Name under which the package registers the mean over the docs a rate covers.
RATE_AGGREGATION: Final = "coconot_rate_mean"

#: Direction of improvement of ``compliance_rate`` per set (original: lower is better).
COMPLIANCE_HIGHER_IS_BETTER: Final[dict[str, bool]] = {ORIGINAL: False, CONTRAST: True}

#: Leaderboard summary quantity (see README): 1 - compliance on original, compliance on
#: contrast; the ``coconot`` group averages the two sets' means.
SCORE_NAME: Final = "coconot_score"


def slug(text: str) -> str:
    """Turn a category or subcategory name into a metric-name fragment."""
    if text in CATEGORY_SLUGS:
        return CATEGORY_SLUGS[text]
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def metric_scopes(category: str, subcategory: str) -> tuple[str, str, str]:
    """Return the three metric-name suffixes a row contributes to.

    ``""`` (the whole set), ``":<category>"`` and ``":<category>/<subcategory>"``. With
    lm-eval's alphabetical ordering of metrics, each category is printed right before
    its subcategories.
    """
    cat = slug(category)
    return "", f":{cat}", f":{cat}/{slug(subcategory)}"


def metric_names(set_name: str) -> list[str]:
    """All metric names a set's task reports, in the order lm-eval prints them."""
    scopes: set[str] = set()
    for category, subcategory in EXPECTED_COUNTS[set_name]:
        scopes.update(metric_scopes(category, subcategory))
    names = [f"{rate}{scope}" for rate in RATE_NAMES for scope in scopes]
    return sorted(names) + [SCORE_NAME, *ACCOUNTING_NAMES]


def aggregation(metric: str) -> str:
    """The lm-eval aggregation of one metric: a sum for accounting, else the mean over the docs it covers."""
    return SUM_AGGREGATION if metric in ACCOUNTING_NAMES else RATE_AGGREGATION


def higher_is_better(set_name: str, metric: str) -> bool:
    """Direction of improvement of one metric of ``set_name``."""
    if metric == SCORE_NAME:
        return True
    if metric.startswith("compliance_rate"):
        return COMPLIANCE_HIGHER_IS_BETTER[set_name]
    return False
