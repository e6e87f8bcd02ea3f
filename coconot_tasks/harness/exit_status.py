"""The exit statuses of ``lm_eval`` runs and the ``coconot`` commands, and the handler that ends an
``lm_eval`` run with status 3 when its results were written but too many items have no verdict.

lm-eval lets a task set no exit status, so an ``atexit`` handler does (the one side channel it
leaves). It is registered as early as possible because ``atexit`` runs handlers last-in,
first-out and this one ends the process. A crash (``sys.last_value``) keeps its own status.
Standard library only: the autoload hook imports it in every process that imports lm-eval.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import sys
from typing import Final

#: Nothing was done: bad input or judge settings (checked before any judge request).
EXIT_USAGE: Final = 2
#: The results were written, but the judging failed (see :mod:`coconot_tasks.judge.outcome`)
#: or more items lack a verdict than ``judge_max_error_rate`` allows.
EXIT_JUDGE_ERRORS: Final = 3
#: Ctrl-C: the status a shell reports for a process ended by SIGINT.
EXIT_INTERRUPTED: Final = 130

_reasons: list[str] = []


@functools.cache  # idempotent: the handler is registered once
def register() -> None:
    """Install the exit handler (call as early as possible)."""
    atexit.register(_exit_with_judge_error_status)


def fail_after_run(reason: str) -> None:
    """Make the process exit with status 3 once lm-eval has finished and written its results."""
    register()
    _reasons.append(reason)


def _exit_with_judge_error_status() -> None:
    if not _reasons or getattr(sys, "last_value", None) is not None:
        return
    for reason in _reasons:
        print(f"error: {reason.rstrip('.')}; exiting with status {EXIT_JUDGE_ERRORS}", file=sys.stderr)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_JUDGE_ERRORS)
