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
    """Open the verdict cache and check that it is intact and writable; warn on a network filesystem."""
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

    Free local checks always run (a priced budget cap, the backend's ``check``, the cache); then,
    unless ``preflight`` is off or this is a dry run, the backend's ``preflight``.
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
