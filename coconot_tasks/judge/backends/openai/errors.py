"""The OpenAI protocol's errors in the package's own vocabulary (:mod:`coconot_tasks.judge.errors`).

Transient: HTTP 408, 409, 5xx, timeouts and connection errors; rate-limited: 429 with the delay of
``Retry-After(-Ms)``; permanent: every other error. A refused parameter is a configuration error.
"""

from __future__ import annotations

import datetime
import email.utils
import re
from collections.abc import Sequence
from typing import Any

import openai

from coconot_tasks.judge.errors import JudgeCallError, JudgeRateLimited, JudgeTransientError
from coconot_tasks.judge.retry import MAX_RETRY_AFTER

_RETRYABLE_STATUS = {408, 409, 429}


def call_error(exc: openai.OpenAIError) -> JudgeCallError:
    """``exc`` as a :class:`JudgeCallError` (transient, rate-limited or permanent), same description."""
    status = getattr(exc, "status_code", None)
    cls: type[JudgeCallError] = JudgeCallError
    if isinstance(exc, openai.RateLimitError):
        cls = JudgeRateLimited
    elif isinstance(exc, openai.APIConnectionError) or (  # includes APITimeoutError
        isinstance(exc, openai.APIStatusError)
        and (exc.status_code in _RETRYABLE_STATUS or exc.status_code >= 500)
    ):
        cls = JudgeTransientError
    message = str(getattr(exc, "message", "") or exc)
    return cls(message, kind=type(exc).__name__, status=status, retry_after=retry_after_seconds(exc))


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


#: The setting to change when the endpoint refuses a parameter (by the ``param`` it names).
_SETTING_FOR_PARAM = {
    "max_tokens": "judge_max_tokens",
    "max_completion_tokens": "judge_max_tokens",
    "reasoning_effort": "judge_reasoning_effort",
    "temperature": "judge_reasoning_effort (a temperature is accepted only with effort 'none')",
}


def _error_object(exc: openai.APIStatusError) -> dict[str, Any]:
    """The ``error`` object of an error body (or the body itself, as some servers send it)."""
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    return error if isinstance(error, dict) else body


def rejection_message(exc: openai.APIStatusError, secrets: Sequence[str | None] = ()) -> str | None:
    """One line for a refused parameter (unsupported_parameter/value), naming the setting; else None."""
    error = _error_object(exc)
    if exc.status_code != 400 or error.get("code") not in ("unsupported_parameter", "unsupported_value"):
        return None
    param = str(error.get("param") or "?")
    setting = _SETTING_FOR_PARAM.get(param, "judge_model")
    return (
        f'the judge endpoint refused parameter {param!r}: "{endpoint_message(exc, secrets)}"; '
        f"change {setting}, or set judge_model to a model that accepts it"
    )


#: What an API key looks like inside an error message (OpenAI quotes a masked key on a 401).
_KEY_LIKE = re.compile(r"\b(?:sk|key|tok)-[\w*.-]{4,}")


def endpoint_message(exc: openai.APIStatusError, secrets: Sequence[str | None] = ()) -> str:
    """The endpoint's own error message, one line, with ``secrets`` and key-like strings masked."""
    error = _error_object(exc)
    text = str(error.get("message") or exc.message or "")
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    text = _KEY_LIKE.sub("***", text)
    return text.splitlines()[0][:300] if text.strip() else "(no message)"
