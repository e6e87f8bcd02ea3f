"""Where things live: the lm-eval task definitions and the per-user cache directory."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_PACKAGE_DIR = Path(__file__).resolve().parent

ENV_CACHE_DIR = "COCONOT_CACHE_DIR"


def task_dir() -> Path:
    """The directory of the CoCoNot task YAMLs: in the wheel ``coconot_tasks/task_configs``,
    in a source checkout the repository's top-level ``task_configs/``."""
    shipped = _PACKAGE_DIR / "task_configs"
    return shipped if shipped.is_dir() else _PACKAGE_DIR.parent / "task_configs"


def with_task_dir(include_path: Any) -> str | list[Any]:
    """lm-eval's ``include_path`` (``None``, one path or a list) with :func:`task_dir` added if absent."""
    ours = str(task_dir())
    if include_path is None:
        return ours
    paths = list(include_path) if isinstance(include_path, (list, tuple)) else [include_path]
    if ours not in {os.path.abspath(str(p)) for p in paths}:
        paths.append(ours)
    return paths


def cache_dir() -> Path:
    """Return (and create) the cache directory: ``$COCONOT_CACHE_DIR`` or the user cache dir."""
    override = os.environ.get(ENV_CACHE_DIR)
    if override:
        path = Path(override).expanduser()
    else:
        # import cost (~4 ms, measured) in every interpreter: the autoload .pth imports this module
        from platformdirs import user_cache_dir

        path = Path(user_cache_dir("coconot-tasks"))
    path.mkdir(parents=True, exist_ok=True)
    return path
