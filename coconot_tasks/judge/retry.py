"""When and how long to retry a failed judge request (used with ``tenacity``).

Retried: HTTP 408, 409, 429 and 5xx, timeouts and connection errors (a dropped
connection included). Not retried: other 4xx (a bad key or an unknown model does not
heal by waiting). The wait honours ``Retry-After`` / ``Retry-After-Ms`` when the server
sends one (capped), else exponential backoff with full jitter.
"""

from __future__ import annotations

from typing import Any

import tenacity

MAX_RETRY_AFTER = 60.0
_RETRYABLE_STATUS = {408, 409, 429}


def is_retryable(exc: BaseException) -> bool:
    """True for transient API failures worth another attempt."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
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
        try:
            seconds = float(value) / divisor
        except (TypeError, ValueError):
            continue
        if 0 <= seconds <= MAX_RETRY_AFTER:
            return seconds
    return None


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
