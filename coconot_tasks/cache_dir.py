"""The per-user cache directory (judge verdicts, downloaded rubric files)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "COCONOT_CACHE_DIR"


def cache_dir() -> Path:
    """Return (and create) the cache directory: ``$COCONOT_CACHE_DIR`` or the user cache dir."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("coconot-tasks"))
    path.mkdir(parents=True, exist_ok=True)
    return path
