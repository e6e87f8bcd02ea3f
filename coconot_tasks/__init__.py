"""CoCoNot contextual-noncompliance benchmark as lm-evaluation-harness tasks.

Importing this package is cheap: it imports neither lm-eval nor openai. Public helpers:

- :func:`task_dir` -- the directory to pass to ``lm_eval --include_path``;
- :func:`get_task_manager` -- an ``lm_eval`` ``TaskManager`` that knows the CoCoNot tasks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coconot_tasks.paths import task_dir

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager

__version__ = "0.1.0"
__all__ = ["__version__", "get_task_manager", "task_dir"]


def get_task_manager(include_defaults: bool = True, **kwargs: Any) -> TaskManager:
    """Return an ``lm_eval.tasks.TaskManager`` whose index holds the CoCoNot tasks.

    Args:
        include_defaults: also index lm-eval's built-in tasks (slow: 8-12 s); pass
            ``False`` when only CoCoNot is needed.
        **kwargs: forwarded to ``TaskManager`` (for example ``metadata=``); an
            ``include_path`` given here is kept and the CoCoNot directory is added.
    """
    from lm_eval.tasks import TaskManager

    include = kwargs.pop("include_path", None)
    paths: list[Any] = (
        [] if include is None else (list(include) if isinstance(include, (list, tuple)) else [include])
    )
    if str(task_dir()) not in {str(p) for p in paths}:
        paths.append(str(task_dir()))
    return TaskManager(include_path=paths, include_defaults=include_defaults, **kwargs)
