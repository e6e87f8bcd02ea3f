"""When and how long to retry a failed judge request (used with ``tenacity``).

Retried: what the backend classified as transient (:class:`~coconot_tasks.judge.errors.JudgeTransientError`:
for the OpenAI protocol HTTP 408, 409, 429 and 5xx, timeouts, connection errors and HTTP 200
bodies that are not a chat completion). Not retried: every other
:class:`~coconot_tasks.judge.errors.JudgeCallError` (a bad key or an unknown model does not heal
by waiting). The wait honours the delay the endpoint asked for (``retry_after``, capped at
60 s), else exponential backoff with full jitter.
:class:`CircuitBreaker` decides when to stop trying altogether.
"""

from __future__ import annotations

from typing import Any

import tenacity

from coconot_tasks.judge.errors import JudgeCallError

MAX_RETRY_AFTER = 60.0


def is_retryable(exc: BaseException) -> bool:
    """True for transient judge failures worth another attempt (as the backend classified them)."""
    return isinstance(exc, JudgeCallError) and exc.retryable


class WaitRetryAfterOrJitter(tenacity.wait.wait_base):
    """``Retry-After`` when given, else ``wait_random_exponential(initial, maximum)``."""

    def __init__(self, initial: float = 0.5, maximum: float = 20.0) -> None:
        self._fallback = tenacity.wait_random_exponential(multiplier=initial, max=maximum)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome: Any = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        server_delay = exc.retry_after if isinstance(exc, JudgeCallError) else None
        if server_delay is not None:
            return min(server_delay, MAX_RETRY_AFTER)
        return float(self._fallback(retry_state))


def retrying(max_retries: int, initial: float = 0.5, maximum: float = 20.0) -> tenacity.AsyncRetrying:
    """A ``tenacity.AsyncRetrying`` for one judge request (re-raises the last error)."""
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(1 + max(0, max_retries)),
        wait=WaitRetryAfterOrJitter(initial, maximum),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
    )


class CircuitBreaker:
    """Stop judging when the endpoint is clearly down, instead of retrying every item for hours.

    Opens after ``threshold`` consecutive failed requests (any failure but a 429, which
    the adaptive limiter handles) with no success in between: a dead or hanging endpoint,
    a revoked key, a model that was taken away. Once open it stays open for the batch;
    the items not yet judged are reported as such, and a rerun resumes from the cache.
    """

    def __init__(self, threshold: int) -> None:
        self.threshold = max(1, threshold)
        self.consecutive_failures = 0
        self.reason: str | None = None

    @property
    def open(self) -> bool:
        """True once the endpoint has been declared down."""
        return self.reason is not None

    def on_success(self) -> None:
        """A request got an answer: the endpoint is alive."""
        self.consecutive_failures = 0

    def on_failure(self, description: str) -> None:
        """A request failed (not throttled); open after ``threshold`` in a row."""
        self.consecutive_failures += 1
        if self.reason is None and self.consecutive_failures >= self.threshold:
            self.reason = (
                f"the judge endpoint looks down: {self.consecutive_failures} requests in a row failed "
                f"(last: {description})"
            )
