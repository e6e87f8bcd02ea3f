"""When and how long to retry a failed judge request (used with ``tenacity``).

Retried: HTTP 408, 409, 429 and 5xx, timeouts, connection errors (a dropped
connection included) and HTTP 200 bodies that are not a chat completion. Not retried:
other 4xx (a bad key or an unknown model does not heal by waiting). The wait honours
``Retry-After`` / ``Retry-After-Ms`` when the server sends one (seconds, milliseconds
or an HTTP date; capped at 60 s), else exponential backoff with full jitter.
:class:`CircuitBreaker` decides when to stop trying altogether.
"""

from __future__ import annotations

import datetime
import email.utils
from typing import Any

import tenacity

MAX_RETRY_AFTER = 60.0
_RETRYABLE_STATUS = {408, 409, 429}


def is_retryable(exc: BaseException) -> bool:
    """True for transient API failures worth another attempt."""
    import openai

    from coconot_tasks.judge.backends.openai import InvalidResponseError

    if isinstance(exc, (openai.APIConnectionError, InvalidResponseError)):  # includes APITimeoutError
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500
    return False


def retry_after_seconds(exc: BaseException | None) -> float | None:
    """The server's requested delay carried by ``exc``'s response, if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        seconds: float | None
        try:
            seconds = float(value) / divisor
        except (TypeError, ValueError):
            seconds = _seconds_until_http_date(value) if divisor == 1.0 else None
        if seconds is not None and seconds >= 0:
            return min(seconds, MAX_RETRY_AFTER)
    return None


def _seconds_until_http_date(value: str) -> float | None:
    """``Retry-After`` in its HTTP-date form (RFC 9110), as seconds from now."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return max(0.0, (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds())


class WaitRetryAfterOrJitter(tenacity.wait.wait_base):
    """``Retry-After`` when given, else ``wait_random_exponential(initial, maximum)``."""

    def __init__(self, initial: float = 0.5, maximum: float = 20.0) -> None:
        self._fallback = tenacity.wait_random_exponential(multiplier=initial, max=maximum)

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome: Any = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        server_delay = retry_after_seconds(exc)
        if server_delay is not None:
            return server_delay
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
