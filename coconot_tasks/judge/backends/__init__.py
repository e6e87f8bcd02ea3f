"""Judge backends: one interface, small implementations.

A backend turns the official judge messages for one item into the judge's answer
(:class:`Completion`). Everything around that call -- cache, budget, retries, the
adaptive limit, the circuit breaker and accounting -- is the engine's
(:mod:`coconot_tasks.judge.engine`), identical for every backend. Failures are raised as
the OpenAI protocol's typed errors (``openai.APIStatusError``, ``openai.APIConnectionError``,
:class:`InvalidResponseError`), which :mod:`coconot_tasks.judge.retry` classifies, or as
this package's own :class:`JudgeRequestRejected` and :class:`JudgeOutOfTokens`, which the engine
never retries or re-asks. Each backend owns its provider's knowledge: the request shape
(:func:`request_shape`) and the reading of its error bodies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.judge.types import JudgeItem


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


def request_shape(settings: JudgeSettings) -> RequestShape:
    """The request shape of ``settings``' backend: the backend module decides, by model name."""
    if settings.backend == "heuristic":
        return RequestShape({}, 0, paper=False)  # no request at all: not the paper's metric
    from coconot_tasks.judge.backends.openai import openai_request_shape

    return openai_request_shape(settings)  # the vllm backend speaks the same protocol


class JudgeBackend(Protocol):
    """What the engine needs of a judge."""

    #: True when answers come from a (paid, slow) model: the engine caches them, prices
    #: them, and a dry run only counts them. False for offline rule-based judges.
    remote: bool
    #: Where the answers come from, credentials removed (``None`` for offline judges): part
    #: of the cache key, so a verdict from one endpoint is never served for another, and
    #: recorded with every verdict. A backend on a changing address (e.g. a managed local
    #: server on a free port) should give a stable identity instead.
    endpoint: str | None

    async def complete(
        self, item: JudgeItem, messages: Sequence[dict[str, str]], decoding: dict[str, Any]
    ) -> Completion:
        """The judge's answer to ``messages`` (the official prompt for ``item``)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def make_backend(settings: JudgeSettings) -> JudgeBackend:
    """The backend ``settings.backend`` names."""
    from coconot_tasks.judge.backends.heuristic import HeuristicBackend
    from coconot_tasks.judge.backends.openai import OpenAIBackend
    from coconot_tasks.judge.backends.vllm import VllmBackend

    factories: dict[str, Callable[[JudgeSettings], JudgeBackend]] = {
        "openai": OpenAIBackend,
        "heuristic": lambda _settings: HeuristicBackend(),
        "vllm": VllmBackend,
    }
    return factories[settings.backend](settings)
