"""The ``coconot`` command line (also ``python -m coconot_tasks``)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from coconot_tasks.paths import task_dir


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
    for name, module, summary in _TOOLS:
        tool = sub.add_parser(name, help=summary, description=summary)
        importlib.import_module(module).configure(tool)
    return parser


#: Subcommands living in their own modules: each has ``configure(parser)``, which adds the
#: arguments and sets ``func`` (a callable taking the parsed namespace, returning the exit code).
_TOOLS = (
    ("cache", "coconot_tasks.tools.cache.cli", "inspect or clear the judge verdict cache"),
    (
        "check-judge",
        "coconot_tasks.tools.check_judge.cli",
        "check that the judge configured in the environment works (one free request)",
    ),
    ("rescore", "coconot_tasks.tools.rescore.cli", "re-judge saved lm-eval samples without regenerating"),
    ("report", "coconot_tasks.tools.report.cli", "tables, plots and paired comparisons of CoCoNot runs"),
    (
        "compare-judges",
        "coconot_tasks.tools.compare_judges.cli",
        "how much switching judges moves the numbers",
    ),
    (
        "validate-judge",
        "coconot_tasks.tools.validate_judge.cli",
        "measure a judge: XSTest human labels and CoCoNot responses of known class",
    ),
    (
        "export",
        "coconot_tasks.tools.export.cli",
        "write CoCoNot training data (SFT, preference) for fine-tuning tools",
    ),
)


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
