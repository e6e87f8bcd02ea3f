"""Make ``lm_eval`` find the CoCoNot tasks with no extra flag.

lm-eval 0.4.13 has no plugin discovery for external tasks, so the wheel ships a one-line
``coconot_tasks_autoload.pth`` that calls :func:`install` at interpreter start. It only puts a
finder first in ``sys.meta_path`` (no lm-eval import, no I/O); when ``lm_eval.tasks.manager`` is
imported, the finder wraps ``TaskManager.__init__`` so that every task index holds the CoCoNot
directory. Every step is guarded (a failure leaves lm-eval untouched and ``--include_path`` still
works); ``COCONOT_TASKS_AUTOLOAD=0`` turns it off.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from coconot_tasks.paths import with_task_dir

TARGET_MODULE = "lm_eval.tasks.manager"
ENV_SWITCH = "COCONOT_TASKS_AUTOLOAD"
_PATCH_MARK = "_coconot_tasks_patched"


def enabled() -> bool:
    """Return False when the user switched automatic registration off."""
    return os.environ.get(ENV_SWITCH, "1").strip().lower() not in {"0", "false", "no", "off"}


def patch_task_manager(module: ModuleType) -> None:
    """Wrap ``module.TaskManager.__init__`` so it always indexes the CoCoNot tasks."""
    cls = getattr(module, "TaskManager", None)
    if cls is None or getattr(cls, _PATCH_MARK, False):
        return
    original_init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if enabled():
            with contextlib.suppress(Exception):  # never break lm-eval
                if len(args) >= 2:  # (verbosity, include_path, ...)
                    args = (args[0], with_task_dir(args[1]), *args[2:])
                else:
                    kwargs["include_path"] = with_task_dir(kwargs.get("include_path"))
        original_init(self, *args, **kwargs)

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    cls.__init__ = __init__
    setattr(cls, _PATCH_MARK, True)


class _PatchingLoader(importlib.abc.Loader):
    """Delegate to the real loader, then patch the freshly executed module."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        module: ModuleType | None = self._loader.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        with contextlib.suppress(Exception):  # never break lm-eval
            patch_task_manager(module)
            # import cost: logging (~5 ms, measured) would be paid by every interpreter (the .pth)
            from coconot_tasks.harness import exit_status

            exit_status.register()  # early, so that it runs after the other exit handlers


class _LmEvalTaskManagerFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder that reacts to exactly one module name."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != TARGET_MODULE or not enabled():
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            try:
                spec = finder.find_spec(fullname, path, target)
            except Exception:
                continue
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Register the finder (idempotent); patch at once if lm-eval is already imported."""
    if not enabled() or any(isinstance(f, _LmEvalTaskManagerFinder) for f in sys.meta_path):
        return
    if (loaded := sys.modules.get(TARGET_MODULE)) is not None:
        patch_task_manager(loaded)
    else:
        sys.meta_path.insert(0, _LmEvalTaskManagerFinder())
