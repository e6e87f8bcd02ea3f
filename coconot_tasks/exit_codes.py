"""Exit statuses shared by ``lm_eval`` runs and the ``coconot`` commands (standard library only:
the autoload hook imports the harness's exit handler, and with it this module, in every process
that imports lm-eval)."""

from __future__ import annotations

from typing import Final

#: The results were written, but the judging failed (see :mod:`coconot_tasks.judge.outcome`)
#: or more items lack a verdict than ``judge_max_error_rate`` allows.
EXIT_JUDGE_ERRORS: Final = 3
