"""OpenAI models that have been shut down: asking api.openai.com for one fails before generation.

The table holds only what OpenAI's deprecations page documents
(https://platform.openai.com/docs/deprecations), one row per model name, each with the
announcement it comes from. A model is treated as retired from its shutdown date on, so a
row may also be added ahead of a scheduled shutdown.

Against another base URL a retired name is allowed with a warning: a local server or proxy
may serve anything under any name (the served model id is recorded with every verdict).
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from coconot_tasks.judge.settings import DEFAULT_JUDGE_MODEL, JudgeConfigError, JudgeSettings

logger = logging.getLogger("coconot_tasks")

#: The host whose model names the table describes.
OPENAI_API_HOST = "api.openai.com"
DEPRECATIONS_PAGE = "https://platform.openai.com/docs/deprecations"


@dataclass(frozen=True)
class RetiredModel:
    """One shut-down OpenAI model as the deprecations page lists it."""

    name: str
    shutdown: datetime.date
    #: The replacement the page recommends for this model; ``None`` where none is recorded here.
    substitute: str | None
    #: Where the line comes from: the page's announcement (its date).
    source: str


_APRIL_2026 = f"{DEPRECATIONS_PAGE}, announcement of 2026-04-22"
_NOV_2023 = f"{DEPRECATIONS_PAGE}, announcement of 2023-11-06 (shutdown later moved to 2024-09-13)"
_JUNE_2023 = f"{DEPRECATIONS_PAGE}, announcement of 2023-06-13 (shutdown later moved to 2024-09-13)"
_INSTRUCT = f"{DEPRECATIONS_PAGE}, gpt-3.5-turbo-instruct entry (shutdown 2026-09-28)"

RETIRED_MODELS: Final[tuple[RetiredModel, ...]] = (
    # 2026-04-22: the paper's judge and the official README's alternative, shut down 2026-10-23.
    RetiredModel("gpt-3.5-turbo", datetime.date(2026, 10, 23), "gpt-4.1-mini", _APRIL_2026),
    RetiredModel("gpt-3.5-turbo-0125", datetime.date(2026, 10, 23), "gpt-4.1-mini", _APRIL_2026),
    RetiredModel("gpt-4", datetime.date(2026, 10, 23), None, _APRIL_2026),
    RetiredModel("gpt-4-0613", datetime.date(2026, 10, 23), None, _APRIL_2026),
    RetiredModel("gpt-3.5-turbo-instruct", datetime.date(2026, 9, 28), None, _INSTRUCT),
    # Older gpt-3.5-turbo snapshots, shut down 2024-09-13.
    RetiredModel("gpt-3.5-turbo-0301", datetime.date(2024, 9, 13), None, _JUNE_2023),
    RetiredModel("gpt-3.5-turbo-0613", datetime.date(2024, 9, 13), None, _NOV_2023),
    RetiredModel("gpt-3.5-turbo-16k-0613", datetime.date(2024, 9, 13), None, _NOV_2023),
)

_BY_NAME: Final[dict[str, RetiredModel]] = {row.name: row for row in RETIRED_MODELS}


def retired_model(name: str, today: datetime.date | None = None) -> RetiredModel | None:
    """The table's row for ``name`` if OpenAI has shut it down by ``today`` (default: today, UTC)."""
    row = _BY_NAME.get(name.strip().lower())
    if row is None:
        return None
    today = today or datetime.datetime.now(datetime.timezone.utc).date()
    return row if today >= row.shutdown else None


def is_openai_api(endpoint: str) -> bool:
    """True if ``endpoint`` (a base URL) is OpenAI's own API."""
    return (urlsplit(endpoint).hostname or "").lower() == OPENAI_API_HOST


def describe_retirement(row: RetiredModel) -> str:
    """One sentence: when OpenAI shut the model down and what replaces it."""
    substitute = (
        f"OpenAI names {row.substitute} as the substitute"
        if row.substitute
        else "no substitute is recorded for it here"
    )
    return f"OpenAI shut down {row.name!r} on {row.shutdown.isoformat()} ({substitute}; {row.source})"


def check_not_retired(settings: JudgeSettings, today: datetime.date | None = None) -> None:
    """Refuse a retired OpenAI judge model on api.openai.com; warn about the name elsewhere.

    Raises:
        JudgeConfigError: the judge is api.openai.com and the model has been shut down.
    """
    if settings.backend != "openai":
        return
    row = retired_model(settings.model, today)
    if row is None:
        return
    endpoint = settings.endpoint
    if is_openai_api(endpoint):
        raise JudgeConfigError(
            f"CoCoNot judge: {describe_retirement(row)}. Set --metadata judge_model=... or "
            f"COCONOT_JUDGE_MODEL to a model OpenAI still serves (default: {DEFAULT_JUDGE_MODEL}), "
            "or point judge_base_url at a server that serves this model."
        )
    logger.warning(
        "CoCoNot judge: %s. Judging with %r at %s anyway: that server decides what the name means "
        "(the model id it reports is recorded with every verdict).",
        describe_retirement(row), settings.model, endpoint,
    )  # fmt: skip
