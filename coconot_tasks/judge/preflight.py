"""Check, before any generation, that the configured judge can work."""

from __future__ import annotations

import logging
from pathlib import Path

from coconot_tasks.judge.cache import VerdictCache, network_filesystem
from coconot_tasks.judge.pricing import check_budget_priced
from coconot_tasks.judge.retired import check_not_retired
from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings
from coconot_tasks.paths import ENV_CACHE_DIR

logger = logging.getLogger("coconot_tasks")


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
    settings: JudgeSettings, *, cache_path: Path | None = None, mounts_table: str | None = None
) -> None:
    """Raise :class:`JudgeConfigError` with what to set if the judge cannot work.

    Free, local checks always run: a budget cap needs the judge's price
    (:func:`~coconot_tasks.judge.pricing.check_budget_priced`), a model OpenAI has shut down is
    refused on api.openai.com
    (:func:`~coconot_tasks.judge.retired.check_not_retired`), and the verdict cache (when on)
    must be intact and writable (:func:`check_cache`). Then, unless ``preflight`` is off or
    this is a dry run: for the ``vllm`` backend, start the local judge server now (see
    :mod:`coconot_tasks.judge.local_server`; raises its ``LocalServerError``; with
    ``judge_preflight=0`` it starts when judging begins instead). For the ``openai`` backend:
    a key must be available for api.openai.com, the endpoint must answer and know the model.
    Uses ``GET /models/{model}`` (free); endpoints that do not serve that route are asked
    for a 1-token completion instead.
    """
    check_budget_priced(settings)
    if settings.backend == "heuristic":
        return
    check_not_retired(settings)
    if settings.cache:
        check_cache(cache_path, mounts_table)
    if settings.dry_run or not settings.preflight:
        return
    if settings.backend == "vllm":
        # Start the local judge now, before any generation: a server that cannot start
        # (out of memory, missing weights) fails the run while nothing is lost yet.
        from coconot_tasks.judge.local_server import shared_server

        shared_server(settings)
        return
    import openai

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
    try:
        try:
            client.models.retrieve(settings.model)
        except openai.NotFoundError:
            # Either the model is unknown or the endpoint lacks the route: ask directly.
            client.chat.completions.create(
                model=settings.model,
                messages=[{"role": "user", "content": "ping"}],
                max_tokens=1,
                temperature=0,
            )
    except openai.AuthenticationError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where} rejected the API key (HTTP {exc.status_code}). {hint}"
        ) from None
    except openai.PermissionDeniedError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where}: permission denied for model {settings.model!r} "
            f"(HTTP {exc.status_code})."
        ) from None
    except openai.NotFoundError as exc:
        if settings.model not in str(exc):  # a 404 for the route itself, not for the model
            raise JudgeConfigError(
                f"CoCoNot judge at {where}: no OpenAI API at that URL (HTTP 404 for the model and the chat "
                "routes). The base URL must be the API root, usually ending in /v1 (e.g. "
                "http://localhost:8000/v1); set COCONOT_JUDGE_BASE_URL or --metadata judge_base_url=..."
            ) from None
        raise JudgeConfigError(
            f"CoCoNot judge at {where} does not know model {settings.model!r}. Set COCONOT_JUDGE_MODEL "
            "or --metadata judge_model=... to a model the endpoint serves."
        ) from None
    except openai.APIConnectionError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge endpoint {where} is unreachable ({type(exc).__name__}). Check "
            f"COCONOT_JUDGE_BASE_URL / --metadata judge_base_url=... {hint}"
        ) from None
    except openai.APIStatusError as exc:
        raise JudgeConfigError(
            f"CoCoNot judge at {where} answered HTTP {exc.status_code} to a check request for model "
            f"{settings.model!r}; fix the judge settings or set COCONOT_JUDGE_PREFLIGHT=0 to skip this check."
        ) from None
    finally:
        client.close()
