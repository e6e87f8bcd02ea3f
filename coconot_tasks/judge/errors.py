"""The package's judge errors: what a backend may raise, and what a misconfigured judge raises."""

from __future__ import annotations


class JudgeConfigError(ValueError):
    """The judge cannot work as configured; the message says what to set."""


class JudgeRequestRejected(Exception):
    """The endpoint refused a parameter of the judge request: the engine stops the batch."""


class JudgeOutOfTokens(Exception):
    """A reasoning judge spent its whole budget reasoning: a judge error, not re-asked."""


class JudgeCallError(Exception):
    """A judge request failed; not retried. ``str()`` is one line, e.g. ``AuthenticationError (HTTP
    401): Incorrect API key`` for ``JudgeCallError("Incorrect API key", kind=..., status=401)``."""

    #: True for failures worth another attempt (:mod:`coconot_tasks.judge.retry`).
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        kind: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        line = message.splitlines()[0][:300] if message else ""
        super().__init__(f"{kind or type(self).__name__}{f' (HTTP {status})' if status else ''}: {line}")
        #: The HTTP status of the failed request, if any.
        self.status = status
        #: The delay (seconds) the endpoint asked for before the next attempt, if any.
        self.retry_after = retry_after


class JudgeTransientError(JudgeCallError):
    """A failure that may heal by waiting: a timeout, a dropped connection, HTTP 408/409/5xx."""

    retryable = True


class JudgeRateLimited(JudgeTransientError):
    """The endpoint throttled the request (HTTP 429): the engine lowers its concurrency."""


class InvalidResponseError(JudgeTransientError):
    """The endpoint answered with a body that is not a chat completion (retried as transient)."""
