"""The ``openai`` judge backend: any OpenAI-compatible chat-completions endpoint, via the official SDK.

The one place that knows OpenAI: request shapes, errors, preflight, retired models, prices, the
key and endpoint fallbacks.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from coconot_tasks.judge.backends.base import ENV_API_KEY, Completion, JudgeBackend, JudgeFacts, RequestShape
from coconot_tasks.judge.backends.openai.pricing import price_per_million
from coconot_tasks.judge.backends.openai.retired import DEFAULT_JUDGE_MODEL, check_not_retired
from coconot_tasks.judge.backends.openai.shape import PAPER_DECODING, REASONING_MAX_TOKENS, model_family
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.redact import redact_url

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.judge.types import JudgeItem

#: The judge endpoint when no base URL is set.
OPENAI_BASE_URL = "https://api.openai.com/v1"
#: The endpoint's environment variable when ``judge_base_url`` is not set (as for the SDK).
BASE_URL_VARIABLE = "OPENAI_BASE_URL"


class OpenAIBackend(JudgeBackend):
    """Chat completions through ``openai.AsyncOpenAI``."""

    name = "openai"
    default_model = DEFAULT_JUDGE_MODEL
    key_variables = (ENV_API_KEY, "OPENAI_API_KEY")

    @classmethod
    def connection(cls, base_url: str | None, origin: str) -> tuple[str | None, str | None]:
        """``judge_base_url``, else ``OPENAI_BASE_URL`` (checked: :func:`check_base_url`); the key from
        ``COCONOT_JUDGE_API_KEY``, else ``OPENAI_API_KEY``."""
        base, key = super().connection(base_url, origin)
        if base is None and os.environ.get(BASE_URL_VARIABLE):
            base, origin = os.environ[BASE_URL_VARIABLE], BASE_URL_VARIABLE
        if base is not None:
            check_base_url(base, origin)
        return base, key

    @classmethod
    def endpoint_of(cls, settings: JudgeSettings) -> str:
        """The base URL without credentials (OpenAI's when none is set)."""
        return (redact_url(settings.base_url) or OPENAI_BASE_URL).rstrip("/")

    @classmethod
    def request_shape(cls, settings: JudgeSettings) -> RequestShape:
        """By model family (:mod:`.shape`); ``judge_max_tokens`` and ``judge_reasoning_effort`` override
        the family's (an effort is sent for a classic name too)."""
        family = model_family(settings.model)
        if not family.reasoning:
            params: dict[str, Any] = {
                **PAPER_DECODING,
                "temperature": settings.temperature,
                "max_tokens": settings.max_tokens or PAPER_DECODING["max_tokens"],
                "top_p": settings.top_p,
            }
            if settings.reasoning_effort:
                params["reasoning_effort"] = settings.reasoning_effort
            return RequestShape(params, params["max_tokens"], paper=params == PAPER_DECODING)
        effort = settings.reasoning_effort or family.lowest_effort or "low"
        default_budget = PAPER_DECODING["max_tokens"] if effort == "none" else REASONING_MAX_TOKENS
        budget = settings.max_tokens or default_budget
        params = {"max_completion_tokens": budget, "reasoning_effort": effort}
        if effort == "none":
            params["temperature"] = settings.temperature
        return RequestShape(params, budget, paper=False)

    @classmethod
    def prices(cls, settings: JudgeSettings) -> tuple[float, float] | None:
        """OpenAI's list price of the model, if listed."""
        return price_per_million(settings.model)

    @classmethod
    def check(cls, settings: JudgeSettings, today: datetime.date | None = None) -> None:
        """A model OpenAI has shut down is refused on api.openai.com."""
        check_not_retired(settings, today)

    @classmethod
    def preflight(cls, settings: JudgeSettings, today: datetime.date | None = None) -> JudgeFacts:
        """The endpoint answers, knows the model and accepts the request (:func:`check_endpoint`)."""
        # import cost: the openai SDK (~0.4 s), needed only to ask the endpoint
        from coconot_tasks.judge.backends.openai.preflight import check_endpoint

        return check_endpoint(settings, today)

    def __init__(self, settings: JudgeSettings) -> None:
        # import cost: the openai SDK (~0.4 s), needed only to judge
        from coconot_tasks.judge.backends.openai.client import ChatClient

        self.endpoint: str | None = settings.endpoint
        self.chat = ChatClient(settings)

    async def complete(
        self, item: JudgeItem, messages: Sequence[dict[str, str]], decoding: dict[str, Any]
    ) -> Completion:
        """One chat completion (:meth:`~coconot_tasks.judge.backends.openai.client.ChatClient.complete`)."""
        return await self.chat.complete(messages, decoding)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.chat.aclose()


def check_base_url(url: str, origin: str) -> None:
    """An ``http(s)`` base URL without user info or query: the OpenAI client can use neither.

    Credentials in a URL never work for the judge: the SDK's aiohttp transport refuses user
    info next to the key's ``Authorization`` header, the httpx one replaces the key with
    them, and the SDK appends ``/chat/completions`` after any query string.
    """
    parts = urlsplit(url)
    shown = redact_url(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise JudgeConfigError(
            f"{origin}={shown!r} is not an http(s) URL; give the endpoint's base URL, e.g. "
            "http://localhost:8000/v1"
        )
    route = next(
        (r for r in ("/chat/completions", "/completions", "/models") if parts.path.rstrip("/").endswith(r)),
        None,
    )
    if route:
        raise JudgeConfigError(
            f"{origin}={shown!r} names the {route} route; give the API's base URL instead (the part "
            f"before {route}, e.g. https://host/v1): the client appends the routes itself"
        )
    if "@" in parts.netloc or parts.query:
        raise JudgeConfigError(
            f"{origin}={shown!r}: the judge's OpenAI client cannot use a base URL with "
            f"{'credentials' if shown != url else 'a query string'} in it; give the plain endpoint "
            f"(e.g. https://host/v1) and the key in {ENV_API_KEY}"
        )
