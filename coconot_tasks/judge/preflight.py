"""Check, before any generation, that the configured judge can work."""

from __future__ import annotations

import datetime
import logging
from pathlib import Path

from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.backends.base import JudgeFacts
from coconot_tasks.judge.cache import VerdictCache, network_filesystem
from coconot_tasks.judge.pricing import check_budget_priced
from coconot_tasks.judge.settings import JudgeSettings
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
    settings: JudgeSettings,
    *,
    cache_path: Path | None = None,
    mounts_table: str | None = None,
    today: datetime.date | None = None,
) -> JudgeFacts:
    """Raise :class:`JudgeConfigError` with what to set if the judge cannot work; return what it learned.

    Free, local checks always run: a budget cap needs the judge's price
    (:func:`~coconot_tasks.judge.pricing.check_budget_priced`), the backend's own checks
    (``check``: e.g. a model OpenAI has shut down is refused on api.openai.com), and the verdict
    cache (when on) must be intact and writable (:func:`check_cache`). Then, unless ``preflight``
    is off or this is a dry run, the backend's ``preflight``: the ``vllm`` backend starts the
    local judge server now (with ``judge_preflight=0`` it starts when judging begins instead); the
    ``openai`` backend checks that the endpoint answers, knows the model (and its shutdown date,
    ``today`` defaulting to today, UTC) and accepts the run's exact request
    (:func:`coconot_tasks.judge.backends.openai.preflight.check_endpoint`).
    """
    check_budget_priced(settings)
    backend = backend_for(settings)
    if not backend.remote:
        return JudgeFacts()
    backend.check(settings, today)
    if settings.cache:
        check_cache(cache_path, mounts_table)
    if settings.dry_run or not settings.preflight:
        return JudgeFacts()
    return backend.preflight(settings, today)
