"""Judge costs, for estimates and the budget cap: USD per 1M (input, output) tokens from the
``judge_price_*`` settings, else the backend's price list; unknown prices count as 0 and are
reported as "unknown"."""

from __future__ import annotations

from typing import TYPE_CHECKING

from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.errors import JudgeConfigError

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings


def judge_prices(settings: JudgeSettings) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens of ``settings``' judge: the explicit ``judge_price_*``
    settings, else its backend's price list; ``None`` if unknown."""
    if settings.price_input is not None or settings.price_output is not None:
        return (settings.price_input or 0.0, settings.price_output or 0.0)
    return backend_for(settings).prices(settings)


def cost_usd(prices: tuple[float, float] | None, prompt_tokens: int, completion_tokens: int) -> float:
    """The cost of a number of tokens at ``prices`` (0 for unknown prices)."""
    if prices is None:
        return 0.0
    return (prompt_tokens * prices[0] + completion_tokens * prices[1]) / 1_000_000


def prices_known(settings: JudgeSettings) -> bool:
    """True when the cost of ``settings``' judge can be computed (table or explicit prices)."""
    return judge_prices(settings) is not None


def format_cost(usd: float, known: bool) -> str:
    """``$0.0123``, or ``unknown`` when the judge's price is not known (never a made-up $0.00)."""
    return f"${usd:.4f}" if known else "unknown (no price for this judge model)"


def check_budget_priced(settings: JudgeSettings) -> None:
    """Refuse a budget cap that could never be enforced: the judge's price is unknown."""
    if settings.max_cost_usd is None or prices_known(settings):
        return
    raise JudgeConfigError(
        f"CoCoNot judge: judge_max_cost_usd={settings.max_cost_usd:g} needs the price of judge model "
        f"{settings.model!r}, which is not in the price table: set judge_price_input and judge_price_output "
        "(USD per 1M tokens; COCONOT_JUDGE_PRICE_INPUT / COCONOT_JUDGE_PRICE_OUTPUT, or 0 for a free local "
        "judge), or drop the cap."
    )
