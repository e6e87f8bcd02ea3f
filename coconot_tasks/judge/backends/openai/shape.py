"""The request shape by model name (with or without a provider prefix), whatever the base URL: the
families and what each is sent are the table of docs/judges.md ("Request shapes by judge family")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

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
