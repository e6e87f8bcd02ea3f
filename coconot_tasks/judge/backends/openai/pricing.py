"""Token prices of known OpenAI judge models: USD per one million tokens (input, output), from
OpenAI's public price list (https://platform.openai.com/docs/pricing)."""

from __future__ import annotations

from typing import Final

PRICES_PER_MILLION: Final[dict[str, tuple[float, float]]] = {
    "gpt-3.5-turbo": (0.50, 1.50),
    "gpt-3.5-turbo-0125": (0.50, 1.50),
    "gpt-4": (30.00, 60.00),
    "gpt-4-0613": (30.00, 60.00),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-4-1106-preview": (10.00, 30.00),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    # The previous default judge, a dated snapshot: priced like the alias (listed explicitly, since
    # some snapshots are priced differently from their alias, e.g. gpt-4o-2024-05-13).
    # Source: OpenAI's price list (https://platform.openai.com/docs/pricing) and the GPT-4.1
    # launch post of 2025-04-14 (https://openai.com/index/gpt-4-1/): $0.40 input, $1.60 output.
    "gpt-4.1-mini-2025-04-14": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    # The default judge and its larger sibling (reasoning models; reasoning tokens are billed as
    # output). Source: OpenAI's price list (https://platform.openai.com/docs/pricing), checked
    # 2026-12-04: gpt-6-luna $0.10 input, $0.50 output; gpt-6.1-terra $1.00 input, $5.00 output.
    "gpt-6-luna": (0.10, 0.50),
    "gpt-6.1-terra": (1.00, 5.00),
}


def price_per_million(model: str) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens for ``model``; ``None`` if the list does not have it."""
    return PRICES_PER_MILLION.get(model)
