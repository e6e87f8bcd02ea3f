"""Judge many question-response pairs concurrently, with cache, retries and accounting.

One engine serves every scoring path. :func:`judge_items` never raises for a failed
judge call: a call that still fails after the SDK's retries (exponential backoff with
jitter, ``Retry-After`` honoured on 429/5xx/connection errors), or whose output holds no
recognisable label after ``label_retries`` re-asks, becomes a result with
``outcome="error"`` -- counted and reported, never turned into a label.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import time
from collections.abc import Coroutine, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from coconot_tasks.judge.cache import CachedOutput, VerdictCache, request_key
from coconot_tasks.judge.heuristic import heuristic_judge_output
from coconot_tasks.labels import Verdict, parse_verdict
from coconot_tasks.prompts import PROMPT_VERSION, judge_messages
from coconot_tasks.resources import rubric_for
from coconot_tasks.settings import JudgeSettings

T = TypeVar("T")

OUTCOME_JUDGED = "judged"
OUTCOME_CACHED = "cached"
OUTCOME_EMPTY = "empty_response"
OUTCOME_ERROR = "error"


@dataclass(frozen=True)
class JudgeItem:
    """One response to judge."""

    set_name: str
    prompt: str
    response: str
    subcategory: str
    category: str = ""
    doc_id: str = ""


@dataclass
class JudgeResult:
    """The judge's decision on one item, as logged with each lm-eval sample."""

    verdict: Verdict | None
    outcome: str
    judge: str
    set_name: str
    category: str = ""
    subcategory: str = ""
    output: str = ""
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 0

    @property
    def ok(self) -> bool:
        """True when the item has a verdict (judged, cached or empty response)."""
        return self.outcome != OUTCOME_ERROR and self.verdict is not None

    def to_json(self) -> str:
        """Serialise for lm-eval's ``filtered_resps`` (logged via ``str()``)."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> JudgeResult:
        """Inverse of :meth:`to_json`."""
        return cls(**json.loads(text))


@dataclass
class JudgeStats:
    """Accounting for one :func:`judge_items` call."""

    items: int = 0
    api_calls: int = 0
    cached: int = 0
    empty: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)


def decoding_params(settings: JudgeSettings) -> dict[str, Any]:
    """The paper's judge decoding parameters (part of the cache key)."""
    return {
        "temperature": settings.temperature,
        "max_tokens": settings.max_tokens,
        "top_p": settings.top_p,
        "frequency_penalty": 0,
        "presence_penalty": 0,
    }


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also from inside a running event loop (e.g. Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class _Engine:
    def __init__(self, settings: JudgeSettings, cache: VerdictCache | None, stats: JudgeStats) -> None:
        self.settings = settings
        self.cache = cache
        self.stats = stats
        self.client: Any = None

    def _result(self, item: JudgeItem, **kwargs: Any) -> JudgeResult:
        return JudgeResult(
            judge=self.settings.judge_id,
            set_name=item.set_name,
            category=item.category,
            subcategory=item.subcategory,
            **kwargs,
        )

    async def judge(self, item: JudgeItem, semaphore: asyncio.Semaphore) -> JudgeResult:
        if not item.response.strip():
            return self._result(item, verdict="noncompliance", outcome=OUTCOME_EMPTY)
        if self.settings.backend == "heuristic":
            output = heuristic_judge_output(item.set_name, item.response)
            return self._result(
                item, verdict=parse_verdict(item.set_name, output), outcome=OUTCOME_JUDGED, output=output
            )
        messages = judge_messages(item.set_name, item.prompt, item.response, rubric_for(item.subcategory))
        decoding = decoding_params(self.settings)
        key = request_key(self.settings.judge_id, PROMPT_VERSION, messages, decoding)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                verdict = parse_verdict(item.set_name, hit.output)
                if verdict is not None:
                    return self._result(item, verdict=verdict, outcome=OUTCOME_CACHED, output=hit.output)
        async with semaphore:
            return await self._call(item, messages, decoding, key)

    async def _call(
        self, item: JudgeItem, messages: list[dict[str, str]], decoding: dict[str, Any], key: str
    ) -> JudgeResult:
        import openai

        output, prompt_tokens, completion_tokens = "", 0, 0
        attempts = 0
        for _ in range(1 + max(0, self.settings.label_retries)):
            attempts += 1
            try:
                completion = await self.client.chat.completions.create(
                    model=self.settings.model, messages=messages, **decoding
                )
            except openai.OpenAIError as exc:
                return self._result(
                    item, verdict=None, outcome=OUTCOME_ERROR, error=_describe(exc), attempts=attempts
                )
            self.stats.api_calls += 1
            usage = getattr(completion, "usage", None)
            prompt_tokens += int(getattr(usage, "prompt_tokens", 0) or 0)
            completion_tokens += int(getattr(usage, "completion_tokens", 0) or 0)
            output = (completion.choices[0].message.content or "") if completion.choices else ""
            verdict = parse_verdict(item.set_name, output)
            if verdict is not None:
                if self.cache is not None:
                    self.cache.put(
                        key, self.settings.judge_id, CachedOutput(output, prompt_tokens, completion_tokens)
                    )
                return self._result(
                    item,
                    verdict=verdict,
                    outcome=OUTCOME_JUDGED,
                    output=output,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    attempts=attempts,
                )
        return self._result(
            item,
            verdict=None,
            outcome=OUTCOME_ERROR,
            output=output,
            error=f"no recognisable label in the judge output after {attempts} attempts",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            attempts=attempts,
        )

    async def run(self, items: Sequence[JudgeItem], progress: bool, desc: str) -> list[JudgeResult]:
        from tqdm.auto import tqdm

        if self.settings.backend == "openai":
            self.client = make_async_client(self.settings)
        semaphore = asyncio.Semaphore(self.settings.concurrency)
        results: list[JudgeResult | None] = [None] * len(items)

        async def guarded(index: int, item: JudgeItem) -> None:
            try:
                results[index] = await self.judge(item, semaphore)
            except Exception as exc:  # never let one item abort the run
                results[index] = self._result(
                    item, verdict=None, outcome=OUTCOME_ERROR, error=f"internal error: {exc!r}"
                )

        bar = tqdm(total=len(items), desc=desc, unit="item", disable=not progress, dynamic_ncols=True)
        try:
            pending = [asyncio.ensure_future(guarded(i, it)) for i, it in enumerate(items)]
            for future in asyncio.as_completed(pending):
                await future
                bar.update(1)
                if bar.n % 16 == 0 or bar.n == len(items):
                    bar.set_postfix(calls=self.stats.api_calls, errors=_count_errors(results), refresh=False)
        finally:
            bar.close()
            if self.client is not None:
                await self.client.close()
        return [r for r in results if r is not None]


def _count_errors(results: Sequence[JudgeResult | None]) -> int:
    return sum(1 for r in results if r is not None and r.outcome == OUTCOME_ERROR)


def _describe(exc: BaseException) -> str:
    """A one-line description of an API error that never includes credentials."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    message = str(getattr(exc, "message", "") or exc).splitlines()[0][:300] if str(exc) else ""
    return f"{name}{f' (HTTP {status})' if status else ''}: {message}"


def make_async_client(settings: JudgeSettings) -> Any:
    """An ``openai.AsyncOpenAI`` client for the judge endpoint."""
    import openai

    return openai.AsyncOpenAI(
        api_key=settings.api_key or "no-key-set",
        base_url=settings.base_url,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
    )


def judge_items(
    items: Sequence[JudgeItem],
    settings: JudgeSettings,
    *,
    cache: VerdictCache | None = None,
    progress: bool = True,
    desc: str = "CoCoNot judge",
) -> tuple[list[JudgeResult], JudgeStats]:
    """Judge ``items`` concurrently; return one result per item (same order) and stats.

    A cache is opened at the default location when ``settings.cache`` is true and none
    is given. Never raises because of a failed judge call.
    """
    stats = JudgeStats(items=len(items))
    own_cache = cache is None and settings.cache and settings.backend != "heuristic"
    if own_cache:
        cache = VerdictCache()
    if not settings.cache:
        cache = None
    started = time.perf_counter()
    try:
        results = run_sync(_Engine(settings, cache, stats).run(items, progress, desc))
    finally:
        if own_cache and cache is not None:
            cache.close()
    stats.wall_seconds = time.perf_counter() - started
    for result in results:
        stats.prompt_tokens += result.prompt_tokens
        stats.completion_tokens += result.completion_tokens
        if result.outcome == OUTCOME_CACHED:
            stats.cached += 1
        elif result.outcome == OUTCOME_EMPTY:
            stats.empty += 1
        elif result.outcome == OUTCOME_ERROR:
            stats.errors += 1
            if result.error and len(stats.error_messages) < 5:
                stats.error_messages.append(result.error)
    return results, stats
