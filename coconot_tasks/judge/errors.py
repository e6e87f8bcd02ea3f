"""The package's judge errors: what a backend may raise, and what a misconfigured judge raises."""

from __future__ import annotations


class JudgeConfigError(ValueError):
    """The judge cannot work as configured; the message says what to set."""


class JudgeRequestRejected(Exception):
    """The endpoint refused a parameter of the judge request: a configuration error.

    Every other request of the batch would be refused the same way, so the engine stops the
    batch. The message names the parameter and the setting to change.
    """


class JudgeOutOfTokens(Exception):
    """A reasoning judge spent its whole completion budget reasoning and wrote no answer.

    A judge error for this item (never a label, not re-asked: the same request would run out
    again); the message says which setting to change.
    """
