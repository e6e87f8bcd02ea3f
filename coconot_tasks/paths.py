"""Where the package's lm-eval task definitions live."""

from __future__ import annotations

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
