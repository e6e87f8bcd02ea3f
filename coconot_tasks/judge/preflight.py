"""Check, before any generation, that the configured judge can work."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from coconot_tasks.judge.backends.openai.retired import check_not_retired, check_reported_shutdown
from coconot_tasks.judge.cache import VerdictCache, network_filesystem
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.pricing import check_budget_priced
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.paths import ENV_CACHE_DIR

if TYPE_CHECKING:
    import openai

logger = logging.getLogger("coconot_tasks")


@dataclass(frozen=True)
class JudgeFacts:
    """What the preflight learned from the judge endpoint (recorded in the results' judge record)."""

    #: The model's ``shutdown_date`` as the endpoint reports it (``None``: none announced,
    #: none reported, or the endpoint was not asked).
    shutdown_date: datetime.date | None = None


def check_cache(path: Path | None = None, mounts_table: str | None = None) -> None:
    """Open the verdict cache and check that it is intact and writable; warn on a network filesystem.

    ``mounts_table`` is the text of ``/proc/mounts`` (read when not given).

    Raises:
        JudgeConfigError: (a :class:`~coconot_tasks.judge.cache.CacheError`) naming the file and the fix.
    """
    cache = VerdictCache(path)
    try:
        cache.check()
    finally:
        cache.close()
    fstype = network_filesystem(cache.path.parent, mounts_table)
    if fstype is not None:
        logger.warning(
            "CoCoNot judge cache %s is on a network filesystem (%s), where SQLite's locking and WAL "
            "mode are unsafe: runs sharing it may corrupt it. Set %s to a local folder.",
            cache.path, fstype, ENV_CACHE_DIR,
        )  # fmt: skip


def check_judge(
    settings: JudgeSettings,
    *,
    cache_path: Path | None = None,
    mounts_table: str | None = None,
    today: datetime.date | None = None,
) -> JudgeFacts:
    """Raise :class:`JudgeConfigError` with what to set if the judge cannot work; return what it learned.

    Free, local checks always run: a budget cap needs the judge's price
    (:func:`~coconot_tasks.judge.pricing.check_budget_priced`), a model OpenAI has shut down is
    refused on api.openai.com
    (:func:`~coconot_tasks.judge.backends.openai.retired.check_not_retired`), and the verdict cache (when on)
    must be intact and writable (:func:`check_cache`). Then, unless ``preflight`` is off or
    this is a dry run: for the ``vllm`` backend, start the local judge server now (see
    :mod:`coconot_tasks.judge.backends.vllm.server`; raises its ``LocalServerError``; with
    ``judge_preflight=0`` it starts when judging begins instead). For the ``openai`` backend:
    a key must be available for api.openai.com, the endpoint must answer and know the model
    (``GET /models/{model}``, or the ``GET /models`` list where that route is missing), the
    ``shutdown_date`` it reports must not be past
    (:func:`~coconot_tasks.judge.backends.openai.retired.check_reported_shutdown`; ``today``: today,
    UTC), and it must accept a tiny chat request ("ping") with exactly the decoding parameters
    the run will send: a refused parameter stops the run here, naming the parameter and the
    setting to change.
    """
    check_budget_priced(settings)
    if settings.backend == "heuristic":
        return JudgeFacts()
    check_not_retired(settings, today)
    if settings.cache:
        check_cache(cache_path, mounts_table)
    if settings.dry_run or not settings.preflight:
        return JudgeFacts()
    if settings.backend == "vllm":
        # Start the local judge now, before any generation: a server that cannot start
        # (out of memory, missing weights) fails the run while nothing is lost yet.
        from coconot_tasks.judge.backends.vllm.server import shared_server

        shared_server(settings)
        return JudgeFacts()  # a local open-weight judge at a pinned revision: no shutdown date
    import openai

    from coconot_tasks.judge.backends.openai.errors import endpoint_message, rejection_message

    where = settings.endpoint
    hint = (
        "Set COCONOT_JUDGE_API_KEY (or OPENAI_API_KEY) for the judge, point it elsewhere with "
        "COCONOT_JUDGE_BASE_URL (lm_eval: --metadata judge_base_url=...; coconot tools: "
        "--judge-base-url), or run a keyless smoke test with the heuristic backend "
        "(COCONOT_JUDGE_BACKEND=heuristic; not the paper's metric)."
    )
    if not settings.api_key and settings.base_url is None:
        raise JudgeConfigError(f"CoCoNot judge: no API key for {where}. {hint}")
    client = openai.OpenAI(
        api_key=settings.api_key or "no-key-set",
        base_url=settings.base_url,
        max_retries=1,
        timeout=min(settings.timeout, 20.0),
    )
    secrets = (settings.api_key,)
    try:
        shutdown = check_reported_shutdown(settings, _reported_shutdown_date(client, settings.model), today)
        _send_check_request(client, settings)
        return JudgeFacts(shutdown_date=shutdown)
    except openai.BadRequestError as exc:
        rejected = rejection_message(exc, secrets)
        if rejected is None:
            raise _refused(settings, exc, secrets) from None
        raise JudgeConfigError(f"CoCoNot judge at {where}, model {settings.model!r}: {rejected}.") from None
    except openai.AuthenticationError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where} rejected the API key (HTTP {exc.status_code}: "
            f'"{endpoint_message(exc, secrets)}"). {hint}'
        ) from None
    except openai.PermissionDeniedError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where}: permission denied for model {settings.model!r} "
            f'(HTTP {exc.status_code}: "{endpoint_message(exc, secrets)}"). Set judge_model to a model '
            "this key may use."
        ) from None
    except openai.NotFoundError as exc:
        if settings.model not in str(exc):  # a 404 for the route itself, not for the model
            raise JudgeConfigError(
                f"CoCoNot judge at {where}: no OpenAI API at that URL (HTTP 404 for the model and the chat "
                f'routes: "{endpoint_message(exc, secrets)}"). The base URL must be the API root, usually '
                "ending in /v1 (e.g. http://localhost:8000/v1); set COCONOT_JUDGE_BASE_URL or --metadata "
                "judge_base_url=..."
            ) from None
        raise JudgeConfigError(
            f"CoCoNot judge at {where} does not know model {settings.model!r} "
            f'("{endpoint_message(exc, secrets)}"). Set COCONOT_JUDGE_MODEL or --metadata judge_model=... '
            "to a model the endpoint serves."
        ) from None
    except openai.APIConnectionError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge endpoint {where} is unreachable ({type(exc).__name__}). Check "
            f"COCONOT_JUDGE_BASE_URL / --metadata judge_base_url=... {hint}"
        ) from None
    except openai.APIStatusError as exc:
        raise _refused(settings, exc, secrets) from None
    finally:
        client.close()


def _refused(
    settings: JudgeSettings, exc: openai.APIStatusError, secrets: tuple[str | None, ...]
) -> JudgeConfigError:
    """The error for any other HTTP error of a check request, quoting the endpoint's message."""
    from coconot_tasks.judge.backends.openai.errors import endpoint_message

    return JudgeConfigError(
        f"CoCoNot judge at {settings.endpoint} answered HTTP {exc.status_code} to a check request for "
        f'model {settings.model!r}: "{endpoint_message(exc, secrets)}". Fix the judge settings '
        "(judge_model, judge_max_tokens, judge_reasoning_effort) or set COCONOT_JUDGE_PREFLIGHT=0 to "
        "skip this check."
    )


def _reported_shutdown_date(client: openai.OpenAI, model: str) -> str | None:
    """The ``shutdown_date`` the endpoint reports for ``model``: ``GET /models/{model}``, or the
    ``GET /models`` list where that route 404s. ``None`` when it reports none (vLLM and most
    OpenAI-compatible servers) or the model is not listed; the check request then says more."""
    import openai

    try:
        entry: Any = client.models.retrieve(model)
    except openai.NotFoundError:
        try:
            entry = next((m for m in client.models.list() if m.id == model), None)
        except openai.APIStatusError:
            return None  # no list either: the check request tells route from model
    value = getattr(entry, "shutdown_date", None)
    return str(value) if value else None


def _send_check_request(client: openai.OpenAI, settings: JudgeSettings) -> None:
    """A tiny chat request ("ping") with exactly the decoding parameters the run will send."""
    from coconot_tasks.judge.backends import request_shape
    from coconot_tasks.judge.prompt import JUDGE_SYSTEM_MESSAGE

    messages = [{"role": "system", "content": JUDGE_SYSTEM_MESSAGE}, {"role": "user", "content": "ping"}]
    body = {"model": settings.model, "messages": messages, **request_shape(settings).params}
    client.post("/chat/completions", body=body, cast_to=object)
