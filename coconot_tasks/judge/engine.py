"""Judge many question-response pairs concurrently, with cache, retries and accounting.

One engine serves every scoring path. Requests run concurrently under an adaptive
(AIMD) bound, each retried with exponential backoff and jitter that honours
``Retry-After`` (429, 5xx, timeouts, dropped connections). :func:`judge_items` never
raises for a failed judge call: a call that still fails after its retries, or whose
output holds no recognisable label after ``label_retries`` re-asks, becomes a result
with ``outcome="error"`` -- counted and reported, never turned into a label. Verdicts
go to the cache as they arrive, so an interrupted batch resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from coconot_tasks.benchmark.official_files import rubric_for
from coconot_tasks.judge.backends.heuristic import heuristic_judge_output
from coconot_tasks.judge.cache import CachedOutput, VerdictCache, request_key
from coconot_tasks.judge.limiter import AdaptiveLimiter
from coconot_tasks.judge.pricing import cost_usd, price_per_million
from coconot_tasks.judge.prompt import PROMPT_VERSION, judge_messages
from coconot_tasks.judge.retry import retrying
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import (
    OUTCOME_CACHED,
    OUTCOME_EMPTY,
    OUTCOME_ERROR,
    OUTCOME_JUDGED,
    OUTCOME_NOT_JUDGED,
    JudgeItem,
    JudgeResult,
    JudgeStats,
)
from coconot_tasks.judge.verdict import parse_verdict

T = TypeVar("T")

#: Typical completion length of the paper's judge (a short rationale plus the label),
#: used only by dry-run estimates.
TYPICAL_COMPLETION_TOKENS = 80


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
    """One batch of judgments: shared client, limiter, budget and accounting."""

    def __init__(self, settings: JudgeSettings, cache: VerdictCache | None, stats: JudgeStats) -> None:
        self.settings = settings
        self.cache = cache
        self.stats = stats
        self.client: Any = None
        self.limiter = AdaptiveLimiter(settings.concurrency)
        self.prices = price_per_million(settings.model, settings.price_input, settings.price_output)
        self.reserved_usd = 0.0

    def _result(self, item: JudgeItem, **kwargs: Any) -> JudgeResult:
        return JudgeResult(
            judge=self.settings.judge_id,
            set_name=item.set_name,
            category=item.category,
            subcategory=item.subcategory,
            **kwargs,
        )

    async def judge(self, item: JudgeItem) -> JudgeResult:
        if not item.response.strip():
            return self._result(item, verdict="noncompliance", outcome=OUTCOME_EMPTY)
        if self.settings.backend == "heuristic":
            output = heuristic_judge_output(item.set_name, item.response)
            verdict = parse_verdict(item.set_name, output)
            return self._result(item, verdict=verdict, outcome=OUTCOME_JUDGED, output=output)
        messages = judge_messages(item.set_name, item.prompt, item.response, rubric_for(item.subcategory))
        decoding = decoding_params(self.settings)
        key = request_key(self.settings.judge_id, PROMPT_VERSION, messages, decoding)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                verdict = parse_verdict(item.set_name, hit.output)
                if verdict is not None:
                    return self._result(item, verdict=verdict, outcome=OUTCOME_CACHED, output=hit.output)
        if self.settings.dry_run:
            return self._estimate(item, messages)
        return await self._call(item, messages, decoding, key)

    def _estimate(self, item: JudgeItem, messages: list[dict[str, str]]) -> JudgeResult:
        prompt_tokens = estimate_tokens(messages)
        self.stats.estimated_calls += 1
        self.stats.estimated_cost_usd += cost_usd(self.prices, prompt_tokens, TYPICAL_COMPLETION_TOKENS)
        self.stats.estimated_max_cost_usd += cost_usd(self.prices, prompt_tokens, self.settings.max_tokens)
        return self._result(item, verdict=None, outcome=OUTCOME_NOT_JUDGED, error="dry run: not judged")

    def _reserve(self, messages: list[dict[str, str]]) -> float | None:
        """Reserve the worst-case cost of one call; ``None`` if the budget does not allow it."""
        cap = self.settings.max_cost_usd
        if cap is None:
            return 0.0
        worst = cost_usd(self.prices, estimate_tokens(messages), self.settings.max_tokens)
        if self.stats.cost_usd + self.reserved_usd + worst > cap:
            self.stats.budget_exhausted = True
            return None
        self.reserved_usd += worst
        return worst

    async def _request(self, messages: list[dict[str, str]], decoding: dict[str, Any]) -> dict[str, Any]:
        import openai

        body = {"model": self.settings.model, "messages": messages, **decoding}
        async for attempt in retrying(self.settings.max_retries):
            with attempt:
                if attempt.retry_state.attempt_number > 1:
                    self.stats.retried += 1
                await self.limiter.acquire()
                try:
                    # The SDK's documented raw route (``client.post``): its auth, base URL,
                    # timeouts and typed errors, without the per-call cost of building and
                    # validating typed request/response models (half of the client's CPU).
                    completion = await self.client.post("/chat/completions", body=body, cast_to=object)
                except openai.RateLimitError:
                    self.stats.throttled += 1
                    self.limiter.on_throttle()
                    raise
                finally:
                    await self.limiter.release()
                self.limiter.on_success()
        if not isinstance(completion, dict):
            raise openai.OpenAIError(f"the judge endpoint did not return a JSON object: {completion!r:.200}")
        return completion

    async def _call(
        self, item: JudgeItem, messages: list[dict[str, str]], decoding: dict[str, Any], key: str
    ) -> JudgeResult:
        import openai

        output, prompt_tokens, completion_tokens, spent = "", 0, 0, 0.0
        attempts = 0
        for _ in range(1 + max(0, self.settings.label_retries)):
            reserved = self._reserve(messages)
            if reserved is None:
                return self._result(
                    item,
                    verdict=None,
                    outcome=OUTCOME_NOT_JUDGED,
                    error=f"budget cap of ${self.settings.max_cost_usd} reached: not judged",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost_usd=spent,
                )
            attempts += 1
            try:
                completion = await self._request(messages, decoding)
            except openai.OpenAIError as exc:
                return self._result(
                    item,
                    verdict=None,
                    outcome=OUTCOME_ERROR,
                    error=describe_error(exc),
                    prompt_tokens=prompt_tokens,  # spent on earlier, label-less answers
                    completion_tokens=completion_tokens,
                    cost_usd=spent,
                    attempts=attempts,
                )
            finally:
                self.reserved_usd -= reserved
            self.stats.api_calls += 1
            usage = completion.get("usage") or {}
            call_prompt = int(usage.get("prompt_tokens") or 0)
            call_completion = int(usage.get("completion_tokens") or 0)
            call_cost = cost_usd(self.prices, call_prompt, call_completion)
            prompt_tokens += call_prompt
            completion_tokens += call_completion
            spent += call_cost
            self.stats.prompt_tokens += call_prompt
            self.stats.completion_tokens += call_completion
            self.stats.cost_usd += call_cost
            output = completion_text(completion)
            verdict = parse_verdict(item.set_name, output)
            if verdict is not None:
                if self.cache is not None:
                    self.cache.put(
                        key, self.settings.judge_id, CachedOutput(output, call_prompt, call_completion)
                    )
                return self._result(
                    item,
                    verdict=verdict,
                    outcome=OUTCOME_JUDGED,
                    output=output,
                    prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens,
                    cost_usd=spent,
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
            cost_usd=spent,
            attempts=attempts,
        )

    async def run(self, items: Sequence[JudgeItem], progress: bool, desc: str) -> list[JudgeResult]:
        from tqdm.auto import tqdm

        if self.settings.backend == "openai" and not self.settings.dry_run:
            self.client = make_async_client(self.settings)
        results: list[JudgeResult | None] = [None] * len(items)
        started = time.perf_counter()

        async def guarded(index: int, item: JudgeItem) -> None:
            try:
                result = await self.judge(item)
            except Exception as exc:  # never let one item abort the run
                result = self._result(
                    item, verdict=None, outcome=OUTCOME_ERROR, error=f"internal error: {exc!r}"
                )
            if result.outcome == OUTCOME_ERROR:
                self.stats.errors_so_far += 1
            results[index] = result

        bar = tqdm(total=len(items), desc=desc, unit="item", disable=not progress, dynamic_ncols=True)
        errors = 0
        try:
            pending = [asyncio.ensure_future(guarded(i, it)) for i, it in enumerate(items)]
            for future in asyncio.as_completed(pending):
                await future
                bar.update(1)
                errors = self.stats.errors_so_far
                if bar.n % 8 == 0 or bar.n == len(items):
                    elapsed = max(time.perf_counter() - started, 1e-9)
                    bar.set_postfix(
                        calls=self.stats.api_calls,
                        errors=errors,
                        rate=f"{self.stats.api_calls / elapsed:.1f}/s",
                        tokens=self.stats.prompt_tokens + self.stats.completion_tokens,
                        limit=int(self.limiter.limit),
                        refresh=False,
                    )
        finally:
            bar.close()
            if self.client is not None:
                await self.client.close()
        self.stats.peak_in_flight = self.limiter.peak_in_flight
        self.stats.lowest_concurrency = self.limiter.lowest
        self.stats.final_concurrency = self.limiter.limit
        return [r for r in results if r is not None]


def completion_text(completion: dict[str, Any]) -> str:
    """The assistant text of a chat completion (empty when the endpoint sent none)."""
    choices = completion.get("choices") or []
    message = (choices[0] or {}).get("message") or {} if choices else {}
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def estimate_tokens(messages: Sequence[dict[str, str]]) -> int:
    """A rough token count of chat messages (4 characters per token, plus overhead)."""
    return sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages)


def describe_error(exc: BaseException) -> str:
    """A one-line description of an API error that never includes credentials."""
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    text = str(getattr(exc, "message", "") or exc)
    message = text.splitlines()[0][:300] if text else ""
    return f"{name}{f' (HTTP {status})' if status else ''}: {message}"


def make_async_client(settings: JudgeSettings) -> Any:
    """An ``openai.AsyncOpenAI`` client for the judge endpoint.

    Uses the SDK's aiohttp transport when available (``openai[aiohttp]``: about a third
    less CPU per call than the default one, which matters at high concurrency on few
    cores). The SDK's own retries are off: :mod:`coconot_tasks.judge.retry` retries
    instead, so that every 429 reaches the adaptive concurrency limiter.
    """
    import openai

    http_client: Any = None
    factory = getattr(openai, "DefaultAioHttpClient", None)
    if factory is not None:
        try:
            http_client = factory(timeout=settings.timeout)
        except (ImportError, RuntimeError):  # the aiohttp extra is not installed
            http_client = None
    return openai.AsyncOpenAI(
        api_key=settings.api_key or "no-key-set",
        base_url=settings.base_url,
        max_retries=0,
        timeout=settings.timeout,
        http_client=http_client,
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
    use_cache = settings.cache and settings.backend != "heuristic"
    own_cache = use_cache and cache is None
    if own_cache:
        cache = VerdictCache()
    if not use_cache:
        cache = None
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        results = run_sync(_Engine(settings, cache, stats).run(items, progress, desc))
    finally:
        if own_cache and cache is not None:
            cache.close()
    stats.wall_seconds = time.perf_counter() - started
    stats.cpu_seconds = time.process_time() - cpu_started
    for result in results:
        stats.count_outcome(result)
    return results, stats
