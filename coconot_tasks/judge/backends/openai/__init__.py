"""The ``openai`` judge backend: any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM,
TGI, LiteLLM, ...), via the official SDK. The one place that knows OpenAI: the request shape
by model family (:mod:`.shape`), the errors (:mod:`.errors`), the preflight (:mod:`.preflight`),
the retired models (:mod:`.retired`) and the prices (:mod:`.pricing`).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from coconot_tasks.judge.backends.base import Completion, JudgeBackend, JudgeFacts, RequestShape
from coconot_tasks.judge.backends.openai.pricing import price_per_million
from coconot_tasks.judge.backends.openai.retired import check_not_retired
from coconot_tasks.judge.backends.openai.shape import openai_request_shape
from coconot_tasks.judge.redact import redact_url

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.judge.types import JudgeItem

#: The judge endpoint when no base URL is set.
OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIBackend(JudgeBackend):
    """Chat completions through ``openai.AsyncOpenAI``."""

    name = "openai"

    @classmethod
    def endpoint_of(cls, settings: JudgeSettings) -> str:
        """The base URL without credentials (OpenAI's when none is set)."""
        return (redact_url(settings.base_url) or OPENAI_BASE_URL).rstrip("/")

    @classmethod
    def request_shape(cls, settings: JudgeSettings) -> RequestShape:
        """By model family (:func:`~coconot_tasks.judge.backends.openai.shape.openai_request_shape`)."""
        return openai_request_shape(settings)

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
