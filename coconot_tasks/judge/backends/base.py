"""What a judge backend is: the interface every backend implements, and the values it returns.

A backend turns the judge messages for one item into the judge's answer (:class:`Completion`)
and maps its provider's failures to :mod:`coconot_tasks.judge.errors`; everything around the
call is the engine's, identical for every backend. Each backend owns its provider's knowledge.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.judge.types import JudgeItem

#: The judge's key variable: read from the environment only, never recorded. A backend that
#: takes a key lists it first in its ``key_variables``.
ENV_API_KEY = "COCONOT_JUDGE_API_KEY"


@dataclass(frozen=True)
class Completion:
    """The judge's answer to one request."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: The model id the endpoint reported (the response's ``model`` field), if any.
    served_model: str | None = None


@dataclass(frozen=True)
class RequestShape:
    """What every judge request of a backend carries besides the messages."""

    #: The decoding parameters sent (part of the cache key, recorded in the results).
    params: dict[str, Any]
    #: The most completion tokens one answer may cost (budget cap and dry-run estimates).
    max_completion_tokens: int
    #: True when ``params`` are exactly the paper's judge request.
    paper: bool


@dataclass(frozen=True)
class JudgeFacts:
    """What the preflight learned from the judge endpoint (recorded in the results' judge record)."""

    #: The model's ``shutdown_date`` as the endpoint reports it, if it does.
    shutdown_date: datetime.date | None = None


class JudgeBackend:
    """A judge backend: the class answers questions about a configured judge; an instance is one
    batch's connection. The defaults suit a remote judge with no server of ours and no price."""

    #: The ``judge_backend`` value that selects this backend.
    name: ClassVar[str]
    #: The judge model when ``judge_model`` is not set (empty: the default backend's).
    default_model: ClassVar[str] = ""
    #: True when answers come from a (paid, slow) model: cached, priced, only counted in a dry run.
    remote: ClassVar[bool] = True
    #: This backend's own settings: a frozen dataclass of :func:`~coconot_tasks.judge.declare.setting`
    #: fields, which ``JudgeSettings`` gathers from the registry. Recorded for this backend only.
    declares: ClassVar[type | None] = None
    #: The environment variables that may hold the judge's key, the first one set wins.
    key_variables: ClassVar[tuple[str, ...]] = ()
    #: Core settings this backend ignores (left out of its judge record).
    not_recorded: ClassVar[frozenset[str]] = frozenset()
    #: The setting ``WHERE`` of a ``compare-judges`` spec ``NAME:MODEL@WHERE`` sets (``None``: no model),
    #: and the spec's form for help texts.
    spec_where: ClassVar[str | None] = "judge_base_url"
    spec_form: ClassVar[str] = "{name}:MODEL[@BASE_URL]"
    #: Where the answers come from, credentials removed (``None`` offline): part of the cache key
    #: and recorded with every verdict; stable for a server on a changing port.
    endpoint: str | None = None

    @classmethod
    def judge_id(cls, settings: JudgeSettings) -> str:
        """A short human-readable name of the judge, e.g. ``openai:gpt-6-luna`` (part of the cache key)."""
        return f"{cls.name}:{settings.model}"

    @classmethod
    def endpoint_of(cls, settings: JudgeSettings) -> str:
        """The endpoint ``settings`` judge at, safe to record."""
        raise NotImplementedError

    @classmethod
    def connection(cls, base_url: str | None, origin: str) -> tuple[str | None, str | None]:
        """The (base URL, key) to judge with: ``base_url`` as set at ``origin`` (e.g. ``--metadata
        judge_base_url``), else this backend's fallback, checked; the key from ``key_variables``."""
        key = next((os.environ[name] for name in cls.key_variables if os.environ.get(name)), None)
        return base_url, key

    @classmethod
    def key_hint(cls) -> str:
        """Where the key goes, e.g. ``COCONOT_JUDGE_API_KEY (or OPENAI_API_KEY)``."""
        first, *others = cls.key_variables or (ENV_API_KEY,)
        return first + "".join(f" (or {name})" for name in others)

    @classmethod
    def defaults(cls, values: dict[str, Any]) -> dict[str, Any]:
        """This backend's defaults added to the settings ``values`` the user gave."""
        return values

    @classmethod
    def validate(cls, settings: JudgeSettings) -> None:
        """Raise ``JudgeConfigError`` for settings this backend cannot use."""

    @classmethod
    def request_shape(cls, settings: JudgeSettings) -> RequestShape:
        """The decoding parameters every request carries (part of the cache key)."""
        raise NotImplementedError

    @classmethod
    def prices(cls, settings: JudgeSettings) -> tuple[float, float] | None:
        """USD per 1M (input, output) tokens of the judge model, when this backend knows them."""
        return None

    @classmethod
    def check(cls, settings: JudgeSettings, today: datetime.date | None = None) -> None:
        """Free local checks, always run before generation (raise ``JudgeConfigError``)."""

    @classmethod
    def preflight(cls, settings: JudgeSettings, today: datetime.date | None = None) -> JudgeFacts:
        """Check (or start) the judge before any generation; return what it learned."""
        return JudgeFacts()

    @classmethod
    def reserve(cls, settings: JudgeSettings) -> None:
        """One more user (e.g. an lm-eval task) will judge with ``settings`` (keeps a server up)."""

    @classmethod
    def release(cls, settings: JudgeSettings) -> None:
        """One user is done judging with ``settings`` (the last one may stop a server)."""

    @classmethod
    def revision(cls, judge_id: str, recorded: Mapping[str, Any] | None = None) -> str | None:
        """The pinned model revision of a recorded judge (its judge record, else its judge id)."""
        return None

    def __init__(self, settings: JudgeSettings) -> None:
        """A connection for one batch."""

    async def complete(
        self, item: JudgeItem, messages: Sequence[dict[str, str]], decoding: dict[str, Any]
    ) -> Completion:
        """The judge's answer to ``messages`` (the official prompt for ``item``)."""
        raise NotImplementedError

    async def aclose(self) -> None:
        """Release connections."""
