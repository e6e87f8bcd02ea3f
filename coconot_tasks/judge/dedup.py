"""Judge a batch that repeats requests (both conditions often hold the same pair), sending each
distinct judge request once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.cache import VerdictCache
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import (
    JUDGE_VERDICT_OUTCOMES,
    OUTCOME_CACHED,
    JudgeItem,
    JudgeResult,
    JudgeStats,
)


def judge_unique(
    items: Sequence[JudgeItem],
    settings: JudgeSettings,
    *,
    cache: VerdictCache | None = None,
    progress: bool = True,
    desc: str = "CoCoNot judge",
) -> tuple[list[JudgeResult], JudgeStats]:
    """:func:`judge_items`; with the cache on, a repeated item gets the first copy's verdict as a
    cache hit would (no calls, tokens or cost). Without a cache every item is sent, as asked."""
    if not settings.cache or not backend_for(settings).remote:
        return judge_items(items, settings, cache=cache, progress=progress, desc=desc)
    first: dict[tuple[str, str, str, str], int] = {}
    unique: list[JudgeItem] = []
    source: list[int] = []
    for item in items:
        key = (item.set_name, item.subcategory, item.prompt, item.response)
        if key not in first:
            first[key] = len(unique)
            unique.append(item)
        source.append(first[key])
    judged, stats = judge_items(unique, settings, cache=cache, progress=progress, desc=desc)
    results: list[JudgeResult] = []
    seen: set[int] = set()
    for item, index in zip(items, source, strict=True):
        result = judged[index]
        if index in seen:
            result = _repeat(result, item)
            stats.items += 1  # counted as judge_items counts each of its own items
            stats.count_outcome(result, keep_error=False)  # an error message is the first copy's
        seen.add(index)
        results.append(result)
    return results, stats


def _repeat(result: JudgeResult, item: JudgeItem) -> JudgeResult:
    """The result of a repeated request: a cache hit if the first copy got a verdict; no spend."""
    outcome = OUTCOME_CACHED if result.outcome in JUDGE_VERDICT_OUTCOMES else result.outcome
    return replace(
        result,
        outcome=outcome,
        category=item.category,
        subcategory=item.subcategory,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        attempts=0,
    )
