"""Where things live: the lm-eval task definitions and the per-user cache directory."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def task_dir() -> Path:
    """Return the directory holding the CoCoNot lm-eval YAML task definitions.

    In an installed wheel the YAML files ship inside the package
    (``coconot_tasks/task_configs``); in a source checkout or an editable install
    they are the repository's top-level ``task_configs/`` directory.
    """
    shipped = _PACKAGE_DIR / "task_configs"
    if shipped.is_dir():
        return shipped
    return _PACKAGE_DIR.parent / "task_configs"


ENV_CACHE_DIR = "COCONOT_CACHE_DIR"


def cache_dir() -> Path:
    """Return (and create) the cache directory: ``$COCONOT_CACHE_DIR`` or the user cache dir."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        path = Path(override).expanduser()
    else:
        from platformdirs import user_cache_dir  # import cost; not needed with COCONOT_CACHE_DIR

        path = Path(user_cache_dir("coconot-tasks"))
    path.mkdir(parents=True, exist_ok=True)
    return path
