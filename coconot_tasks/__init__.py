"""CoCoNot contextual-noncompliance benchmark as lm-evaluation-harness tasks (importing it is cheap:
neither lm-eval nor openai)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from coconot_tasks.paths import task_dir, with_task_dir

if TYPE_CHECKING:
    from lm_eval.tasks import TaskManager

__version__ = "0.1.0"
__all__ = ["__version__", "get_task_manager", "task_dir"]


def get_task_manager(include_defaults: bool = True, **kwargs: Any) -> TaskManager:
    """An ``lm_eval`` ``TaskManager`` that indexes the CoCoNot tasks (``include_defaults``: also
    lm-eval's own, 8-12 s); other ``kwargs`` go to ``TaskManager``, an ``include_path`` is kept."""
    from lm_eval.tasks import TaskManager  # import cost: seconds; the package import stays cheap

    include_path = with_task_dir(kwargs.pop("include_path", None))
    return TaskManager(include_path=include_path, include_defaults=include_defaults, **kwargs)
