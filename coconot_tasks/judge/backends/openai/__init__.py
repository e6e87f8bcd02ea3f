"""Any OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, TGI, LiteLLM, ...), via the official SDK.

The one place that knows OpenAI's model families. The request shape depends on the model name
(with or without a gateway's provider prefix such as ``openai/``), whatever the base URL:

- reasoning families (``gpt-5*``, ``gpt-6*``, the o-series ``o1``, ``o3``, ``o4-mini``, ...)
  refuse ``max_tokens`` and, unless ``reasoning_effort`` is ``"none"``, any temperature but 1.
  They get ``max_completion_tokens`` and the lowest ``reasoning_effort`` the family accepts
  (:func:`model_family`), ``temperature: 0`` only with effort ``"none"``, and no top_p or
  penalties (their defaults: omitting them changes nothing). Reasoning tokens count against
  ``max_completion_tokens``, so with an effort other than ``"none"`` the default budget is
  :data:`REASONING_MAX_TOKENS` instead of the paper's 256;
- every other name (classic chat models, open-weight judges behind vLLM/TGI/Ollama) gets the
  paper's request exactly (:data:`PAPER_DECODING`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai

from coconot_tasks.judge.backends import Completion, RequestShape
from coconot_tasks.judge.backends.openai.errors import call_error, rejection_message
from coconot_tasks.judge.errors import InvalidResponseError, JudgeOutOfTokens, JudgeRequestRejected

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.judge.types import JudgeItem


#: The paper's judge request (temperature 0, max_tokens 256, top_p 1, no penalties).
PAPER_DECODING: dict[str, Any] = {
    "temperature": 0.0,
    "max_tokens": 256,
    "top_p": 1.0,
    "frequency_penalty": 0,
    "presence_penalty": 0,
}
#: The default completion budget of a reasoning judge whose effort is not "none": its
#: reasoning tokens count against ``max_completion_tokens`` (256 often runs out).
REASONING_MAX_TOKENS = 4096


@dataclass(frozen=True)
class ModelFamily:
    """How a model name is asked: ``reasoning`` families get ``lowest_effort`` by default."""

    name: str
    reasoning: bool
    lowest_effort: str | None = None


CLASSIC = ModelFamily("classic chat model", reasoning=False)
#: (pattern on the name without provider prefix, family): the first match wins. An unknown
#: future reasoning name gets "low", which every known reasoning model accepts ("none" and
#: "minimal" are not accepted by all of them, e.g. gpt-6.1-sol).
_FAMILIES: tuple[tuple[re.Pattern[str], ModelFamily], ...] = (
    (re.compile(r"gpt-6-luna\b|gpt-6\.1-terra\b"), ModelFamily("gpt-6 (effort none)", True, "none")),
    (re.compile(r"gpt-6\.1-sol\b"), ModelFamily("gpt-6.1-sol", True, "low")),
    (re.compile(r"gpt-5"), ModelFamily("gpt-5", True, "minimal")),
    (re.compile(r"o\d+(?:-|$)"), ModelFamily("o-series", True, "low")),
    (re.compile(r"gpt-6"), ModelFamily("gpt-6 (unknown model: conservative effort)", True, "low")),
)


def base_model_name(model: str) -> str:
    """``model`` without a gateway's provider prefix, lower case: ``openai/GPT-5`` -> ``gpt-5``."""
    return model.strip().rsplit("/", 1)[-1].lower()


def model_family(model: str) -> ModelFamily:
    """The request family of ``model`` (by name only, with or without a provider prefix)."""
    name = base_model_name(model)
    return next((family for pattern, family in _FAMILIES if pattern.match(name)), CLASSIC)


def openai_request_shape(settings: JudgeSettings) -> RequestShape:
    """The decoding parameters every judge request of ``settings`` carries (see the module doc).

    ``judge_max_tokens`` and ``judge_reasoning_effort`` override the family's defaults; an
    effort set for a classic name is sent too (e.g. gpt-oss behind vLLM accepts it).
    """
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
        except openai.BadRequestError as exc:
            rejected = rejection_message(exc)
            if rejected is not None:
                raise JudgeRequestRejected(rejected) from None
            raise call_error(exc) from None
        except openai.OpenAIError as exc:
            raise call_error(exc) from None
        except ValueError as exc:  # an HTTP 200 whose body is not JSON (empty, truncated, ...)
            raise InvalidResponseError(f"the judge endpoint sent a body that is not JSON ({exc})") from None
        if not isinstance(completion, dict) or not isinstance(completion.get("choices"), list):
            raise InvalidResponseError(
                f"the judge endpoint did not send a chat completion: {completion!r:.200}"
            )
        usage = completion.get("usage") or {}
        served = completion.get("model")
        text = completion_text(completion)
        if not text.strip():
            _raise_if_out_of_tokens(self.model, completion, decoding)
        return Completion(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            served_model=served if isinstance(served, str) and served else None,
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.close()


def _raise_if_out_of_tokens(model: str, completion: dict[str, Any], decoding: dict[str, Any]) -> None:
    """Raise :class:`JudgeOutOfTokens` for an empty answer cut at the budget by reasoning."""
    choices = completion.get("choices") or []
    finish = (choices[0] or {}).get("finish_reason") if choices and isinstance(choices[0], dict) else None
    details = (completion.get("usage") or {}).get("completion_tokens_details") or {}
    reasoning = int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0
    if finish != "length" or not (reasoning or model_family(model).reasoning):
        return
    budget = decoding.get("max_completion_tokens", decoding.get("max_tokens"))
    raise JudgeOutOfTokens(
        f"reasoning ran out of tokens ({reasoning} reasoning tokens; max_completion_tokens={budget}): "
        "raise judge_max_tokens or lower judge_reasoning_effort"
    )


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
