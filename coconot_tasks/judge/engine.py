"""Judge many question-response pairs concurrently, with cache, budget, retries and accounting.

One engine for every scoring path and backend (:meth:`_Engine.grade`: prompt, call, parse, verdict).
A call that still fails, or an output without a label, is a result without a verdict: counted, never
a label. A bug in the engine itself propagates.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from tqdm.auto import tqdm

from coconot_tasks.benchmark.official_files import Rubric, load_rubric, rubric_entry
from coconot_tasks.judge.backends import backend_for, request_shape
from coconot_tasks.judge.backends.base import Completion, JudgeBackend
from coconot_tasks.judge.cache import CachedOutput, CacheError, VerdictCache, request_key
from coconot_tasks.judge.errors import (
    JudgeCallError,
    JudgeOutOfTokens,
    JudgeRateLimited,
    JudgeRequestRejected,
)
from coconot_tasks.judge.limiter import AdaptiveLimiter
from coconot_tasks.judge.pricing import cost_usd, judge_prices
from coconot_tasks.judge.prompt import PROMPT_VERSION, judge_messages
from coconot_tasks.judge.retry import CircuitBreaker, is_retryable, retrying
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import (
    JUDGE_VERDICT_OUTCOMES,
    NO_VERDICT_OUTCOMES,
    OUTCOME_CACHED,
    OUTCOME_EMPTY,
    OUTCOME_ERROR,
    OUTCOME_JUDGED,
    OUTCOME_NOT_JUDGED,
    JudgeItem,
    JudgeResult,
    JudgeStats,
)
from coconot_tasks.judge.verdict import Verdict, parse_verdict

T = TypeVar("T")

#: Typical completion length of the paper's judge (rationale and label), for dry-run estimates.
TYPICAL_COMPLETION_TOKENS = 80

#: The circuit breaker opens after this many failed requests in a row (or twice the concurrency).
BREAKER_MIN_FAILURES = 20


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` to completion, also from inside a running event loop (e.g. Jupyter)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


class NoVerdict(Exception):
    """An item ends without a verdict (``outcome`` says why): a judge error or not judged."""

    def __init__(self, outcome: str, reason: str, output: str = "") -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.output = output


class _Engine:
    """One batch of judgments: shared backend, limiter, breaker, budget and accounting."""

    def __init__(
        self,
        settings: JudgeSettings,
        backend: JudgeBackend,
        rubric: Rubric,
        cache: VerdictCache | None,
        stats: JudgeStats,
    ) -> None:
        self.settings = settings
        self.rubric = rubric
        self.backend = backend
        self.cache = cache
        self.stats = stats
        self.shape = request_shape(settings)
        self.limiter = AdaptiveLimiter(settings.concurrency)
        self.breaker = CircuitBreaker(max(BREAKER_MIN_FAILURES, 2 * settings.concurrency))
        self.prices = judge_prices(settings)
        self.reserved_usd = 0.0

    async def grade(self, item: JudgeItem) -> JudgeResult:
        """Prompt -> call -> parse -> verdict, for one item (cache, dry run and re-asks around the call).

        The result counts what the item cost as it goes (every request, label-less answers included).
        """
        result = JudgeResult(
            None, OUTCOME_JUDGED, self.settings.judge_id, item.set_name, item.category, item.subcategory
        )
        if not item.response.strip():
            return replace(result, verdict="noncompliance", outcome=OUTCOME_EMPTY)
        result.endpoint = self.backend.endpoint
        if not self.backend.remote:  # an offline rule-based judge: no prompt, cache, cost or retries
            answer = await self.backend.complete(item, [], self.shape.params)
            return replace(result, verdict=parse_verdict(item.set_name, answer.text), output=answer.text)
        rubric = rubric_entry(self.rubric, item.subcategory)
        messages = judge_messages(item.set_name, item.prompt, item.response, rubric)
        key = request_key(
            self.settings.judge_id, self.backend.endpoint or "", PROMPT_VERSION, messages, self.shape.params
        )
        cached = self.cache.get(key) if self.cache is not None else None  # a failed read is a miss
        if cached is not None and (verdict := parse_verdict(item.set_name, cached.output)) is not None:
            return replace(
                result,
                verdict=verdict,
                outcome=OUTCOME_CACHED,
                output=cached.output,
                served_model=cached.served_model,
            )
        try:
            if self.settings.dry_run:
                raise self._estimate(messages)
            answer, verdict = await self._ask_for_label(item, messages, result)
        except NoVerdict as missing:
            return replace(result, outcome=missing.outcome, output=missing.output, error=str(missing))
        self._remember(key, answer)
        return replace(result, verdict=verdict, output=answer.text, served_model=answer.served_model)

    async def _ask_for_label(
        self, item: JudgeItem, messages: list[dict[str, str]], result: JudgeResult
    ) -> tuple[Completion, Verdict]:
        """An answer with a label, re-asked up to ``label_retries`` times; else :class:`NoVerdict`."""
        for _ in range(1 + max(0, self.settings.label_retries)):
            answer = await self.ask(item, messages, result)
            verdict = parse_verdict(item.set_name, answer.text)
            if verdict is not None:
                return answer, verdict
        reason = f"no recognisable label in the judge output after {result.attempts} requests"
        self.stats.note_permanent(reason)
        raise NoVerdict(OUTCOME_ERROR, reason, output=answer.text)

    async def ask(self, item: JudgeItem, messages: list[dict[str, str]], result: JudgeResult) -> Completion:
        """One answer from the backend: within budget, retried, limited, accounted for in ``result``."""
        reserved = self._reserve(messages)
        try:
            async for attempt in retrying(self.settings.max_retries):
                with attempt:
                    if attempt.retry_state.attempt_number > 1:
                        self.stats.retried += 1
                    answer = await self._send(item, messages, result)
        except JudgeCallError as exc:
            if not is_retryable(exc):
                self.stats.note_permanent(str(exc), exc.status)
            raise NoVerdict(OUTCOME_ERROR, str(exc)) from None
        except JudgeRequestRejected as exc:  # every request would be refused: stop the batch
            self.stats.config_error = self.stats.config_error or str(exc)
            raise NoVerdict(OUTCOME_ERROR, str(exc)) from None
        except JudgeOutOfTokens as exc:  # the same request would run out again: no re-ask
            self.stats.reasoning_out_of_tokens += 1
            raise NoVerdict(OUTCOME_ERROR, str(exc)) from None
        finally:
            self.reserved_usd -= reserved
        cost = cost_usd(self.prices, answer.prompt_tokens, answer.completion_tokens)
        for tally in (result, self.stats):
            tally.prompt_tokens += answer.prompt_tokens
            tally.completion_tokens += answer.completion_tokens
            tally.cost_usd += cost
        return answer

    async def _send(self, item: JudgeItem, messages: list[dict[str, str]], result: JudgeResult) -> Completion:
        """One request under the adaptive limit; feeds the limiter and the circuit breaker."""
        await self.limiter.acquire()
        try:
            if self.breaker.open:
                raise NoVerdict(OUTCOME_NOT_JUDGED, f"not judged: {self.breaker.reason}")
            if self.stats.config_error:
                raise NoVerdict(OUTCOME_NOT_JUDGED, f"not judged: {self.stats.config_error}")
            result.attempts += 1
            self.stats.requests += 1
            answer = await self.backend.complete(item, messages, self.shape.params)
        except JudgeRateLimited:
            self.stats.throttled += 1
            self.limiter.on_throttle()
            raise
        except JudgeCallError as exc:
            self.breaker.on_failure(str(exc))
            raise
        finally:
            await self.limiter.release()
        self.limiter.on_success()
        self.breaker.on_success()
        return answer

    def _estimate(self, messages: list[dict[str, str]]) -> NoVerdict:
        prompt_tokens = estimate_tokens(messages)
        self.stats.estimated_calls += 1
        self.stats.estimated_cost_usd += cost_usd(self.prices, prompt_tokens, TYPICAL_COMPLETION_TOKENS)
        worst = cost_usd(self.prices, prompt_tokens, self.shape.max_completion_tokens)
        self.stats.estimated_max_cost_usd += worst
        return NoVerdict(OUTCOME_NOT_JUDGED, "dry run: not judged")

    def _reserve(self, messages: list[dict[str, str]]) -> float:
        """Reserve the worst-case cost of one call, or end the item as not judged (budget cap)."""
        cap = self.settings.max_cost_usd
        if cap is None:
            return 0.0
        worst = cost_usd(self.prices, estimate_tokens(messages), self.shape.max_completion_tokens)
        if self.stats.cost_usd + self.reserved_usd + worst > cap:
            self.stats.budget_exhausted = True
            raise NoVerdict(OUTCOME_NOT_JUDGED, f"budget cap of ${cap} reached: not judged")
        self.reserved_usd += worst
        return worst

    def _remember(self, key: str, answer: Completion) -> None:
        """Store a verdict; a failed write is counted by the cache and the verdict still stands."""
        if self.cache is not None:
            entry = CachedOutput(
                answer.text, answer.prompt_tokens, answer.completion_tokens, answer.served_model
            )
            self.cache.put(key, self.settings.judge_id, entry, self.backend.endpoint or "")

    async def run(self, items: Sequence[JudgeItem], progress: bool, desc: str) -> list[JudgeResult]:
        results: list[JudgeResult | None] = [None] * len(items)
        started = time.perf_counter()
        errors = 0

        async def grade_into(index: int, item: JudgeItem) -> None:
            nonlocal errors
            result = await self.grade(item)
            errors += result.outcome == OUTCOME_ERROR
            results[index] = result

        bar = tqdm(total=len(items), desc=desc, unit="item", disable=not progress, dynamic_ncols=True)
        pending = [asyncio.ensure_future(grade_into(i, items[i])) for i in submission_order(items)]
        try:
            for future in asyncio.as_completed(pending):
                await future
                bar.update(1)
                if bar.n % 8 == 0 or bar.n == len(items):
                    elapsed = max(time.perf_counter() - started, 1e-9)
                    bar.set_postfix(
                        calls=self.stats.requests,
                        errors=errors,
                        rate=f"{self.stats.requests / elapsed:.1f}/s",
                        tokens=self.stats.prompt_tokens + self.stats.completion_tokens,
                        limit=int(self.limiter.limit),
                        refresh=False,
                    )
        finally:
            for future in pending:  # only when something raised: a bug, or Ctrl-C
                future.cancel()
            bar.close()
            await self.backend.aclose()
        self.stats.peak_in_flight = self.limiter.peak_in_flight
        self.stats.lowest_concurrency = self.limiter.lowest
        self.stats.endpoint_down = self.breaker.reason
        return [r for r in results if r is not None]


def submission_order(items: Sequence[JudgeItem]) -> list[int]:
    """Indices of ``items`` grouped by (set, subcategory): consecutive requests share the rubric
    prefix, which servers with prefix caching compute once."""
    return sorted(range(len(items)), key=lambda i: (items[i].set_name, items[i].subcategory.lower()))


def estimate_tokens(messages: Sequence[dict[str, str]]) -> int:
    """A rough token count of chat messages (4 characters per token, plus overhead)."""
    return sum(len(m["content"]) for m in messages) // 4 + 4 * len(messages)


def judge_items(
    items: Sequence[JudgeItem],
    settings: JudgeSettings,
    *,
    cache: VerdictCache | None = None,
    rubric: Rubric | None = None,
    progress: bool = True,
    desc: str = "CoCoNot judge",
) -> tuple[list[JudgeResult], JudgeStats]:
    """Judge ``items`` concurrently; return one result per item (same order) and stats.

    Opens the default cache (``settings.cache``) and rubric when none is given; a cache that
    cannot be opened is skipped (``stats.cache_problem``). Judge and cache failures never raise.
    """
    stats = JudgeStats(items=len(items))
    backend = backend_for(settings)(settings)  # one batch's connection
    if rubric is None and backend.remote and any(item.response.strip() for item in items):
        rubric = load_rubric()
    own_cache = cache is None  # opened here, closed here
    if not (settings.cache and backend.remote):
        cache = None
    elif own_cache:
        try:
            cache = VerdictCache()
        except CacheError as exc:
            stats.cache_problem = str(exc)
    failures_before = (cache.read_failures, cache.write_failures) if cache is not None else (0, 0)
    started, cpu_started = time.perf_counter(), time.process_time()
    try:
        engine = _Engine(settings, backend, rubric or {}, cache, stats)
        results = run_sync(engine.run(items, progress, desc))
    finally:
        if cache is not None:
            stats.cache_read_failures = cache.read_failures - failures_before[0]
            stats.cache_write_failures = cache.write_failures - failures_before[1]
            if stats.cache_read_failures or stats.cache_write_failures:
                stats.cache_problem = cache.first_failure
        if own_cache and cache is not None:
            cache.close()
    stats.wall_seconds = time.perf_counter() - started
    stats.cpu_seconds = time.process_time() - cpu_started
    results = _without_rates_over_nothing(results)
    for result in results:
        stats.count_outcome(result)
    return results, stats


def _without_rates_over_nothing(results: list[JudgeResult]) -> list[JudgeResult]:
    """When the judge gave no verdict at all (dry run, budget cap, endpoint down), the empty
    responses get none either: a rate over them alone would look like a real result."""
    from_judge = sum(result.outcome in JUDGE_VERDICT_OUTCOMES for result in results)
    missing = sum(result.outcome in NO_VERDICT_OUTCOMES for result in results)
    if from_judge or not missing:
        return results
    reason = "not judged: the judge gave no verdict in this batch"
    return [
        replace(result, verdict=None, outcome=OUTCOME_NOT_JUDGED, error=reason)
        if result.outcome == OUTCOME_EMPTY
        else result
        for result in results
    ]
