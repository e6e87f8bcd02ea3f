"""When and how long to retry a failed judge request (with ``tenacity``), and when to stop altogether.

Retried: what the backend classified as transient; the wait is the delay the endpoint asked for
(capped at 60 s), else exponential backoff with full jitter.
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


def retrying(max_retries: int) -> tenacity.AsyncRetrying:
    """A ``tenacity.AsyncRetrying`` for one judge request (re-raises the last error)."""
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(1 + max(0, max_retries)),
        wait=WaitRetryAfterOrJitter(),
        retry=tenacity.retry_if_exception(is_retryable),
        reraise=True,
    )


class CircuitBreaker:
    """Stop judging when the endpoint is clearly down: open (for the rest of the batch) after
    ``threshold`` failed requests in a row (429s excepted: the limiter handles them)."""

    def __init__(self, threshold: int) -> None:
        self.threshold = threshold
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
