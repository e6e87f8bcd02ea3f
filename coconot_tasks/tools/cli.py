"""The ``coconot`` command line (also ``python -m coconot_tasks``): dispatches to ``tools/<command>/``,
whose ``cli.configure(parser)`` adds the arguments and sets ``func`` (namespace -> exit status); the
argument-less ``tasks-dir`` and ``check-judge`` are here."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

from coconot_tasks.harness.exit_status import EXIT_USAGE
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings
from coconot_tasks.paths import task_dir
from coconot_tasks.tools.cache.cli import configure as configure_cache
from coconot_tasks.tools.compare_judges.cli import configure as configure_compare_judges
from coconot_tasks.tools.export.cli import configure as configure_export
from coconot_tasks.tools.report.cli import configure as configure_report
from coconot_tasks.tools.rescore.cli import configure as configure_rescore
from coconot_tasks.tools.validate_judge.cli import configure as configure_validate_judge


def _cmd_check_judge(args: argparse.Namespace) -> int:
    """``coconot check-judge``: check the judge configured in the environment (one free request)."""
    try:
        settings = JudgeSettings.resolve()
        check_judge(settings)
    except JudgeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(f"judge OK: {json.dumps(settings.public())}")
    return 0


_COMMANDS: tuple[tuple[str, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    ("cache", "inspect or clear the judge verdict cache", configure_cache),
    (
        "check-judge",
        "check that the judge configured in the environment works (one free request)",
        lambda parser: parser.set_defaults(func=_cmd_check_judge),
    ),
    ("rescore", "re-judge saved lm-eval samples without regenerating", configure_rescore),
    ("report", "tables, plots and paired comparisons of CoCoNot runs", configure_report),
    ("compare-judges", "how much switching judges moves the numbers", configure_compare_judges),
    (
        "validate-judge",
        "measure a judge: XSTest human labels and CoCoNot responses of known class",
        configure_validate_judge,
    ),
    ("export", "write CoCoNot training data (SFT, preference) for fine-tuning tools", configure_export),
)


def _cmd_tasks_dir(args: argparse.Namespace) -> int:
    print(task_dir())
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``coconot`` command."""
    parser = argparse.ArgumentParser(
        prog="coconot", description="CoCoNot benchmark tasks for lm-evaluation-harness."
    )
    parser.add_argument(
        "--tasks-dir", action="store_true", help="print the task directory (for lm_eval --include_path)"
    )
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("tasks-dir", help="print the task directory").set_defaults(func=_cmd_tasks_dir)
    for name, summary, configure in _COMMANDS:
        configure(sub.add_parser(name, help=summary, description=summary))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``coconot`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tasks_dir:
        return _cmd_tasks_dir(args)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    return int(args.func(args))
