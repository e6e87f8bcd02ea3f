"""Every name the package gives lm-eval, once: tasks, groups, the filter, metrics, aggregations,
and each metric's direction.

Metric names read ``rate:category/subcategory`` (``compliance_rate:safety/privacy_violations``);
lm-eval prints metrics alphabetically, so each category comes right before its subcategories.
"""

from __future__ import annotations

import re
from typing import Final

from coconot_tasks.benchmark.taxonomy import CONTRAST, EXPECTED_COUNTS, ORIGINAL

TASK_PREFIX: Final = "coconot_"
SYSPROMPT_SUFFIX: Final = "_sysprompt"

GROUP: Final = "coconot"

#: The filter that judges the responses; part of every metric key (``compliance_rate,coconot_judge``).
FILTER_NAME: Final = "coconot_judge"


def task_name(set_name: str, system_prompt: bool = False) -> str:
    """The lm-eval task of ``set_name`` (in the system-prompt condition with ``system_prompt``)."""
    return f"{TASK_PREFIX}{set_name}{SYSPROMPT_SUFFIX if system_prompt else ''}"


def group_name(system_prompt: bool = False) -> str:
    """The lm-eval group of both sets (in the system-prompt condition with ``system_prompt``)."""
    return GROUP + (SYSPROMPT_SUFFIX if system_prompt else "")


#: Short, stable slugs used in metric names for the five categories.
CATEGORY_SLUGS: Final[dict[str, str]] = {
    "Incomplete requests": "incomplete",
    "Unsupported requests": "unsupported",
    "Indeterminate requests": "indeterminate",
    "Requests with safety concerns": "safety",
    "Humanizing requests": "humanizing",
}

#: Per-sample quantities reported for every set, category and subcategory.
#: ``no_answer_rate``: responses whose reasoning never finished (see coconot_tasks.generation).
RATE_NAMES: Final = ("compliance_rate", "neither_rate", "judge_error_rate", "no_answer_rate")

#: Judge accounting per set, summed over the set's samples (this run's spend: cached
#: verdicts cost nothing).
ACCOUNTING_NAMES: Final = ("judge_calls", "judge_prompt_tokens", "judge_completion_tokens", "judge_cost_usd")

#: The aggregations the package registers with lm-eval: a sum, and the mean over the docs a rate covers.
SUM_AGGREGATION: Final = "coconot_sum"
RATE_AGGREGATION: Final = "coconot_rate_mean"

#: Direction of improvement of ``compliance_rate`` per set (original: lower is better).
COMPLIANCE_HIGHER_IS_BETTER: Final[dict[str, bool]] = {ORIGINAL: False, CONTRAST: True}

#: Leaderboard summary quantity (see README): 1 - compliance on original, compliance on
#: contrast; the ``coconot`` group averages the two sets' means.
SCORE_NAME: Final = "coconot_score"

#: Per-set metric (and data column): 1 if the loaded rows are the official set, else 0.
OFFICIAL_SET_NAME: Final = "official_set"


def slug(text: str) -> str:
    """Turn a category or subcategory name into a metric-name fragment."""
    return CATEGORY_SLUGS.get(text) or re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def metric_scopes(category: str, subcategory: str) -> tuple[str, str, str]:
    """The three metric-name suffixes a row contributes to: ``""`` (the set), ``":<category>"`` and
    ``":<category>/<subcategory>"``."""
    cat = slug(category)
    return "", f":{cat}", f":{cat}/{slug(subcategory)}"


def metric_names(set_name: str) -> list[str]:
    """All metric names a set's task reports, in the order lm-eval prints them."""
    scopes = {scope for pair in EXPECTED_COUNTS[set_name] for scope in metric_scopes(*pair)}
    names = [f"{rate}{scope}" for rate in RATE_NAMES for scope in scopes]
    return sorted(names) + [SCORE_NAME, OFFICIAL_SET_NAME, *ACCOUNTING_NAMES]


def aggregation(metric: str) -> str:
    """The lm-eval aggregation of one metric: a sum for accounting, else the mean over the docs it covers."""
    return SUM_AGGREGATION if metric in ACCOUNTING_NAMES else RATE_AGGREGATION


def higher_is_better(set_name: str, metric: str) -> bool:
    """Direction of improvement of one metric of ``set_name``."""
    if metric in (SCORE_NAME, OFFICIAL_SET_NAME):
        return True
    if metric.startswith("compliance_rate"):
        return COMPLIANCE_HIGHER_IS_BETTER[set_name]
    return False
