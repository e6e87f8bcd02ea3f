"""Checks of how lm-eval was asked to run the CoCoNot tasks, warned about before generation.

lm-eval hands the hooks a YAML task can name (dataset, filter, metrics) neither the model nor
the run's options; while they run, lm-eval's own functions are on the call stack with both, so
the checks read them from those frames (and do nothing when the tasks are built any other way).
"""

from __future__ import annotations

import inspect
import logging
import weakref
from collections.abc import Mapping
from typing import Any

from lm_eval import evaluator

logger = logging.getLogger("coconot_tasks")

#: Models already warned about: lm-eval builds each CoCoNot task separately, so one warning per
#: model, not per task. Weak, so a model that is gone (and a new one at its address) is forgotten.
_WARNED: weakref.WeakSet[Any] = weakref.WeakSet()


def running_call_locals(*functions: Any) -> Mapping[str, Any] | None:
    """The local variables of the innermost running call of one of ``functions``, if any."""
    try:
        targets = {inspect.unwrap(function).__code__ for function in functions}
    except AttributeError:
        return None
    frame = inspect.currentframe()
    try:
        while frame is not None:
            if frame.f_code in targets:
                return dict(frame.f_locals)
            frame = frame.f_back
        return None
    finally:
        del frame  # no reference cycle through the frame


def warn_if_chat_template_missing(task_name: str) -> bool:
    """Warn once per model when a chat model runs CoCoNot without ``--apply_chat_template`` (True:
    it warned; silent outside ``simple_evaluate``)."""
    arguments = running_call_locals(evaluator.simple_evaluate)
    if arguments is None or arguments.get("apply_chat_template") or (lm := arguments.get("lm")) is None:
        return False
    try:
        template = lm.chat_template(True)
    except Exception:  # any model class: a check must never break a run
        return False
    if not isinstance(template, str) or not template:
        return False
    try:
        if lm in _WARNED:
            return False
        _WARNED.add(lm)
    except TypeError:  # a model class without weak references: warn per task
        pass
    logger.warning(
        "CoCoNot (%s): the model has a chat template but --apply_chat_template is not set, so every "
        "request goes to it as raw text instead of a user turn. CoCoNot is a chat benchmark (the "
        "paper's setting); numbers without the template are not comparable. Add --apply_chat_template.",
        task_name,
    )
    return True
