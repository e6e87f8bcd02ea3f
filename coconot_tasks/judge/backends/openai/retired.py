"""OpenAI models that have been (or will be) shut down, from ``retired_models.json`` (one entry per
announcement on OpenAI's deprecations page), and the shutdown dates an endpoint reports: what is
refused and what is a warning is described in docs/judges.md ("Retired judges")."""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass
from importlib.resources import files
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from coconot_tasks.judge.backends.openai.shape import base_model_name
from coconot_tasks.judge.errors import JudgeConfigError

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings

#: OpenAI's named replacement for the retiring gpt-4o / gpt-4.1 judges: a reasoning model, asked
#: with ``reasoning_effort: "none"`` and temperature 0.
DEFAULT_JUDGE_MODEL = "gpt-6-luna"

logger = logging.getLogger("coconot_tasks")


@dataclass(frozen=True)
class RetiredModel:
    """One shut-down OpenAI model as the deprecations page lists it (``source``: its announcement)."""

    name: str
    shutdown: datetime.date
    substitute: str | None
    source: str


def _load_table() -> tuple[RetiredModel, ...]:
    """The rows of ``retired_models.json`` (one entry per announcement on the deprecations page)."""
    table = json.loads(files(__package__).joinpath("retired_models.json").read_text(encoding="utf-8"))
    return tuple(
        RetiredModel(
            name,
            datetime.date.fromisoformat(entry["shutdown"]),
            substitute,
            f"{table['page']}, {entry['source']}",
        )
        for entry in table["announcements"]
        for name, substitute in entry["models"].items()
    )


RETIRED_MODELS: Final[tuple[RetiredModel, ...]] = _load_table()
_BY_NAME: Final[dict[str, RetiredModel]] = {row.name: row for row in RETIRED_MODELS}

#: A shutdown date reported by the endpoint is a warning this many days ahead.
WARN_DAYS = 90


def utc_today() -> datetime.date:
    """Today in UTC (the date shutdowns are announced in)."""
    return datetime.datetime.now(datetime.timezone.utc).date()


def scheduled_shutdown(name: str) -> RetiredModel | None:
    """The table's row for ``name`` (any case, with or without a provider prefix), past or future."""
    return _BY_NAME.get(base_model_name(name))


def retired_model(name: str, today: datetime.date | None = None) -> RetiredModel | None:
    """The table's row for ``name`` if OpenAI has shut it down by ``today`` (default: today, UTC)."""
    row = scheduled_shutdown(name)
    if row is None:
        return None
    return row if (today or utc_today()) >= row.shutdown else None


def describe_retirement(row: RetiredModel) -> str:
    """One sentence: when OpenAI shut the model down and what replaces it."""
    substitute = (
        f"OpenAI names {row.substitute} as the substitute"
        if row.substitute
        else "no substitute is recorded for it here"
    )
    return f"OpenAI shut down {row.name!r} on {row.shutdown.isoformat()} ({substitute}; {row.source})"


def check_not_retired(settings: JudgeSettings, today: datetime.date | None = None) -> None:
    """Refuse a retired OpenAI judge model on api.openai.com; warn about the name elsewhere."""
    today = today or utc_today()
    row = scheduled_shutdown(settings.model)
    if row is None:
        return
    if today < row.shutdown:
        substitute = f"; OpenAI names {row.substitute} as the substitute" if row.substitute else ""
        _warn_ahead(f"OpenAI shuts down {row.name!r}", row.shutdown, today, f"{substitute}; {row.source}")
        return
    endpoint = settings.endpoint
    if (urlsplit(endpoint).hostname or "").lower() == "api.openai.com":  # the names the table describes
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


def check_reported_shutdown(
    settings: JudgeSettings, reported: str | None, today: datetime.date | None = None
) -> datetime.date | None:
    """Act on the ``shutdown_date`` the endpoint reports for the judge model; return it as a date.

    Past: :class:`JudgeConfigError`. Within :data:`WARN_DAYS` days: a warning. Not a date: ignored.
    """
    if not reported:
        return None
    try:
        date = datetime.date.fromisoformat(str(reported)[:10])
    except ValueError:
        logger.warning("CoCoNot judge: ignoring the shutdown_date %r reported (not a date)", reported)
        return None
    today = today or utc_today()
    where = f"{settings.endpoint} reports that judge model {settings.model!r}"
    if today >= date:
        raise JudgeConfigError(
            f"CoCoNot judge: {where} was shut down on {date.isoformat()} (its shutdown_date). Set "
            f"--metadata judge_model=... or COCONOT_JUDGE_MODEL to a model the endpoint still serves "
            f"(default: {DEFAULT_JUDGE_MODEL})."
        )
    if (date - today).days <= WARN_DAYS:
        _warn_ahead(f"{where} shuts down", date, today)
    return date


def _warn_ahead(what: str, date: datetime.date, today: datetime.date, note: str = "") -> None:
    """Warn that ``what`` (e.g. ``OpenAI shuts down 'gpt-4o'``) happens on ``date``: pick the judge now."""
    logger.warning(
        "CoCoNot judge: %s on %s (%d days left%s). Numbers from another judge are not comparable: pick the "
        "judge for a series of runs now (--metadata judge_model=...).",
        what, date.isoformat(), (date - today).days, note,
    )  # fmt: skip
