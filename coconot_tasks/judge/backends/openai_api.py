"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, TGI, LiteLLM, ...), via the official SDK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import openai

from coconot_tasks.judge.backends import Completion

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.judge.types import JudgeItem


class InvalidResponseError(openai.OpenAIError):
    """The endpoint answered HTTP 200 with a body that is not a chat completion (retried as transient)."""


class OpenAIBackend:
    """Chat completions through ``openai.AsyncOpenAI``."""

    remote = True

    def __init__(self, settings: JudgeSettings) -> None:
        self.model = settings.model
        self.endpoint: str | None = settings.endpoint
        self.client = make_async_client(settings)

    async def complete(
        self, item: JudgeItem, messages: Sequence[dict[str, str]], decoding: dict[str, Any]
    ) -> Completion:
        """One chat completion: the SDK's documented raw route (``client.post``).

        It keeps the SDK's auth, base URL, timeouts and typed errors without the per-call
        cost of building and validating typed request/response models (half of the
        client's CPU at high concurrency).
        """
        body = {"model": self.model, "messages": list(messages), **decoding}
        try:
            completion = await self.client.post("/chat/completions", body=body, cast_to=object)
        except ValueError as exc:  # an HTTP 200 whose body is not JSON (empty, truncated, ...)
            raise InvalidResponseError(f"the judge endpoint sent a body that is not JSON ({exc})") from None
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise InvalidResponseError(
                f"the judge endpoint did not send a chat completion: {completion!r:.200}"
            )
        usage = completion.get("usage") or {}
        served = completion.get("model")
        return Completion(
            text=completion_text(completion),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            served_model=served if isinstance(served, str) and served else None,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.close()


def completion_text(completion: dict[str, Any]) -> str:
    """The assistant text of a chat completion (empty when the endpoint sent none)."""
    choices = completion.get("choices") or []
    message = (choices[0] or {}).get("message") or {} if choices else {}
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) else ""


def make_async_client(settings: JudgeSettings) -> openai.AsyncOpenAI:
    """An ``openai.AsyncOpenAI`` client for the judge endpoint.

    Uses the SDK's aiohttp transport when available (``openai[aiohttp]``: about a third
    less CPU per call than the default one, which matters at high concurrency on few
    cores). The SDK's own retries are off: :mod:`coconot_tasks.judge.retry` retries
    instead, so that every 429 reaches the adaptive concurrency limiter.
    """
    http_client: Any = None
    factory = getattr(openai, "DefaultAioHttpClient", None)
    if factory is not None:
        try:
            http_client = factory(timeout=settings.timeout)
        except (ImportError, RuntimeError):  # the aiohttp extra is not installed
            http_client = None
    return openai.AsyncOpenAI(
        api_key=settings.api_key or "no-key-set",
        base_url=settings.base_url,
        max_retries=0,
        timeout=settings.timeout,
        http_client=http_client,
    )
