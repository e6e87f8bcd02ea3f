"""The OpenAI backend's connection: chat completions through the official SDK (imported only to judge)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeGuard

import openai

from coconot_tasks.judge.backends.base import Completion
from coconot_tasks.judge.backends.openai.errors import call_error, rejection_message
from coconot_tasks.judge.backends.openai.shape import model_family
from coconot_tasks.judge.errors import InvalidResponseError, JudgeOutOfTokens, JudgeRequestRejected

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings


class ChatClient:
    """One batch's chat-completions connection to an OpenAI-compatible endpoint."""

    def __init__(self, settings: JudgeSettings) -> None:
        """The aiohttp transport when installed (a third less CPU per call); no SDK retries, so every 429
        reaches the adaptive limiter."""
        self.model = settings.model
        http_client: Any = None
        factory = getattr(openai, "DefaultAioHttpClient", None)
        if factory is not None:
            with contextlib.suppress(ImportError, RuntimeError):  # the aiohttp extra is not installed
                http_client = factory(timeout=settings.timeout)
        self.client = openai.AsyncOpenAI(
            api_key=settings.api_key or "no-key-set",
            base_url=settings.base_url,
            max_retries=0,
            timeout=settings.timeout,
            http_client=http_client,
        )

    async def complete(self, messages: Sequence[dict[str, str]], decoding: dict[str, Any]) -> Completion:
        """One chat completion through the SDK's raw route (``client.post``): its auth, timeouts and
        errors without the cost of typed models (half the client's CPU at high concurrency)."""
        body = {"model": self.model, "messages": list(messages), **decoding}
        try:
            completion = await self.client.post("/chat/completions", body=body, cast_to=object)
        except openai.BadRequestError as exc:
            rejected = rejection_message(exc)
            if rejected is not None:
                raise JudgeRequestRejected(rejected) from None
            raise call_error(exc) from None
        except openai.OpenAIError as exc:
            raise call_error(exc) from None
        except ValueError as exc:  # an HTTP 200 whose body is not JSON (empty, truncated, ...)
            raise InvalidResponseError(f"the judge endpoint sent a body that is not JSON ({exc})") from None
        if not _is_chat_completion(completion):
            raise InvalidResponseError(
                f"the judge endpoint did not send a chat completion: {completion!r:.200}"
            )
        usage = completion.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        served = completion.get("model")
        text = completion_text(completion)
        if not text.strip():
            _raise_if_out_of_tokens(self.model, completion, usage, decoding)
        return Completion(
            text=text,
            prompt_tokens=_count(usage.get("prompt_tokens")),
            completion_tokens=_count(usage.get("completion_tokens")),
            served_model=served if isinstance(served, str) and served else None,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.close()


def _raise_if_out_of_tokens(
    model: str, completion: dict[str, Any], usage: dict[str, Any], decoding: dict[str, Any]
) -> None:
    """Raise :class:`JudgeOutOfTokens` for an empty answer cut at the budget by reasoning."""
    choices = completion["choices"]
    finish = choices[0].get("finish_reason") if choices else None
    details = usage.get("completion_tokens_details")
    reasoning = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    if finish != "length" or not (reasoning or model_family(model).reasoning):
        return
    budget = decoding.get("max_completion_tokens", decoding.get("max_tokens"))
    raise JudgeOutOfTokens(
        f"reasoning ran out of tokens ({reasoning} reasoning tokens; max_completion_tokens={budget}): "
        "raise judge_max_tokens or lower judge_reasoning_effort"
    )


def _is_chat_completion(body: object) -> TypeGuard[dict[str, Any]]:
    """A chat completion's shape: ``choices`` a list whose first entry (if any) holds a ``message`` object."""
    if not isinstance(body, dict) or not isinstance(choices := body.get("choices"), list):
        return False
    return not choices or (isinstance(choices[0], dict) and isinstance(choices[0].get("message") or {}, dict))


def _count(value: object) -> int:
    """A token count as the endpoint sent it (0 when it sent none, or no number)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else 0


def completion_text(completion: dict[str, Any]) -> str:
    """The assistant text of a chat completion of :func:`_is_chat_completion`'s shape ("" if none)."""
    choices = completion["choices"]
    content = (choices[0].get("message") or {}).get("content") if choices else None
    return content if isinstance(content, str) else ""
