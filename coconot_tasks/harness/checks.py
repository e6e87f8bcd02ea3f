"""Checks of how lm-eval was asked to run the CoCoNot tasks, warned about before generation.

lm-eval passes ``apply_chat_template`` only to ``simple_evaluate`` and from there to each
task's request building; the hooks a YAML task can name (dataset, filter, metrics) never see
it. While the CoCoNot dataset hooks run, lm-eval's :func:`lm_eval.evaluator.simple_evaluate`
is on the call stack with the flag and the model already built, so the check reads both
from that frame (and does nothing when the tasks are built any other way).
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import weakref
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger("coconot_tasks")

#: Models already warned about. Process-wide because lm-eval builds each CoCoNot task
#: separately and hands the hooks no object for the run: one warning per model, not per task.
#: Weak, so a model that is gone (and a new one at its address) is not remembered.
_WARNED: weakref.WeakSet[Any] = weakref.WeakSet()


def running_call_locals(*functions: Any) -> Mapping[str, Any] | None:
    """The local variables of the innermost running call of one of ``functions``, if any.

    lm-eval hands the hooks a YAML task can name neither the task, nor the model, nor the
    run's options; the frames of lm-eval's own functions on the call stack are the one
    place to read them.
    """
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


def simple_evaluate_arguments() -> Mapping[str, Any] | None:
    """The local variables of the running ``lm_eval.evaluator.simple_evaluate`` call, if any."""
    from lm_eval import evaluator

    return running_call_locals(evaluator.simple_evaluate)


def model_chat_template(lm: Any) -> str | None:
    """The chat template ``lm`` would apply (``None``: it has none, or it cannot say)."""
    try:
        template = lm.chat_template(True)
    except Exception:  # any model class: a check must never break a run
        return None
    return template if isinstance(template, str) and template else None


def _already_warned(lm: Any) -> bool:
    try:
        return lm in _WARNED
    except TypeError:
        return False


def warn_if_chat_template_missing(task_name: str) -> bool:
    """Warn once per model when a chat model runs CoCoNot without ``--apply_chat_template``.

    Returns True when it warned. Silent when the flag is set, the model has no chat
    template, or the tasks are not being built by ``simple_evaluate`` (nothing to check).
    """
    arguments = simple_evaluate_arguments()
    if arguments is None or arguments.get("apply_chat_template"):
        return False
    lm = arguments.get("lm")
    if lm is None or _already_warned(lm) or model_chat_template(lm) is None:
        return False
    with contextlib.suppress(TypeError):  # a model class without weak references: warn per task
        _WARNED.add(lm)
    logger.warning(
        "CoCoNot (%s): the model has a chat template but --apply_chat_template is not set, so every "
        "request goes to it as raw text instead of a user turn. CoCoNot is a chat benchmark (the "
        "paper's setting); numbers without the template are not comparable. Add --apply_chat_template.",
        task_name,
    )
    return True
