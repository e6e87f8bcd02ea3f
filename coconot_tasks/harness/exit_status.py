"""Exit status 3: results were written, but too many items have no verdict.

lm-eval's command line has no way for a task to set the process's exit status, so the
status is set from an ``atexit`` handler (the one side channel lm-eval leaves). It is
registered as early as possible -- when lm-eval's task manager is imported (by the
autoload hook) or when the CoCoNot tasks load -- because ``atexit`` runs handlers last-in,
first-out and this one ends the process: every handler registered after it (wandb's,
for example) has run by then. It changes nothing when the run crashed or was
interrupted (the interpreter then records the exception in ``sys.last_value``): a crash
keeps its own status and Ctrl-C keeps 130. Standard library only: the autoload hook
imports it in every process that imports lm-eval.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys

from coconot_tasks.exit_codes import EXIT_JUDGE_ERRORS

_reasons: list[str] = []
_registered = False


def register() -> None:
    """Install the exit handler (idempotent; call as early as possible)."""
    global _registered
    if not _registered:
        atexit.register(_exit_with_judge_error_status)
        _registered = True


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
