"""Token prices of known OpenAI judge models, for cost estimates and the budget cap.

USD per one million tokens (input, output), from OpenAI's public price list; prices
change, so treat estimates as estimates. Unknown models (local endpoints) are counted as
costing 0 unless ``judge_price_input`` / ``judge_price_output`` (USD per 1M tokens) are given,
and every cost report then says "unknown" (:func:`format_cost`); a budget cap needs a price
(:func:`check_budget_priced`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings

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


def price_per_million(
    model: str, price_input: float | None = None, price_output: float | None = None
) -> tuple[float, float] | None:
    """Return (input, output) USD per 1M tokens for ``model``; ``None`` if unknown."""
    if price_input is not None or price_output is not None:
        return (price_input or 0.0, price_output or 0.0)
    return PRICES_PER_MILLION.get(model)


def cost_usd(prices: tuple[float, float] | None, prompt_tokens: int, completion_tokens: int) -> float:
    """The cost of a number of tokens at ``prices`` (0 for unknown prices)."""
    if prices is None:
        return 0.0
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1_000_000


def prices_known(settings: JudgeSettings) -> bool:
    """True when the cost of ``settings``' judge can be computed (table or explicit prices).

    The offline heuristic judge costs nothing, and says so.
    """
    if settings.backend == "heuristic":
        return True
    return price_per_million(settings.model, settings.price_input, settings.price_output) is not None


def format_cost(usd: float, known: bool) -> str:
    """``$0.0123``, or ``unknown`` when the judge's price is not known (never a made-up $0.00)."""
    return f"${usd:.4f}" if known else "unknown (no price for this judge model)"


def check_budget_priced(settings: JudgeSettings) -> None:
    """Refuse a budget cap that could never be enforced: the judge's price is unknown.

    Raises:
        JudgeConfigError: naming the model and the settings that give it a price.
    """
    from coconot_tasks.judge.errors import JudgeConfigError

    if settings.max_cost_usd is None or prices_known(settings):
        return
    raise JudgeConfigError(
        f"CoCoNot judge: judge_max_cost_usd={settings.max_cost_usd:g} needs the price of judge model "
        f"{settings.model!r}, which is not in the price table: set judge_price_input and judge_price_output "
        "(USD per 1M tokens; COCONOT_JUDGE_PRICE_INPUT / COCONOT_JUDGE_PRICE_OUTPUT, or 0 for a free local "
        "judge), or drop the cap."
    )
