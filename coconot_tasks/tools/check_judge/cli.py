"""``coconot check-judge``: check that the judge configured in the environment works."""

from __future__ import annotations

import argparse
import json
import sys

from coconot_tasks.harness.exit_status import EXIT_USAGE
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings


def configure(parser: argparse.ArgumentParser) -> None:
    """``check-judge`` has no arguments: set its ``func``."""
    parser.set_defaults(func=run_check_judge)


def run_check_judge(args: argparse.Namespace) -> int:
    """Run ``coconot check-judge`` (one free request); returns the exit status."""
    try:
        settings = JudgeSettings.resolve()
        check_judge(settings)
    except JudgeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"judge OK: {json.dumps(settings.public())}")
    return 0
