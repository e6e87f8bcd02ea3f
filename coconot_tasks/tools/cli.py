"""The ``coconot`` command line (also ``python -m coconot_tasks``)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coconot_tasks.paths import task_dir

if TYPE_CHECKING:
    from coconot_tasks.judge.cache import CacheError


def _cmd_tasks_dir(args: argparse.Namespace) -> int:
    print(task_dir())
    return 0


def _cmd_cache(args: argparse.Namespace) -> int:
    from coconot_tasks.judge.cache import CacheError, VerdictCache, default_cache_path, remove_cache_files

    try:
        path = default_cache_path()
        cache = VerdictCache(path)
    except CacheError as exc:
        return _cache_unusable(args, exc)
    try:
        if args.cache_action == "clear":
            if args.judge and args.judge not in (held := sorted(cache.stats().get("per_judge") or {})):
                print(
                    f"error: the cache {cache.path} holds no verdicts of judge {args.judge!r}; nothing "
                    f"removed. Judges it holds: {', '.join(held) or 'none'}",
                    file=sys.stderr,
                )
                return 1
            removed = cache.clear(args.judge, legacy=args.legacy)
            scope = f"judge {args.judge}" if args.judge else "all judges"
            if args.legacy:
                scope = f"legacy entries without an endpoint, {scope}"
            print(f"removed {removed} cached verdicts ({scope}) from {cache.path}")
        else:
            print(json.dumps(cache.stats(), indent=2))
    finally:
        cache.close()
    if args.cache_action == "clear" and args.remove:
        removed_files = remove_cache_files(path)
        print(f"deleted {', '.join(str(p) for p in removed_files) or 'nothing'}")
    return 0


def _cache_unusable(args: argparse.Namespace, error: CacheError) -> int:
    """``coconot cache`` on a file that cannot be opened: say why; ``clear`` deletes a corrupt file.

    ``clear --remove`` deletes the file whatever the reason.
    """
    from coconot_tasks.judge.cache import remove_cache_files

    deletable = error.kind == "corrupt" or (args.cache_action == "clear" and args.remove)
    if args.cache_action != "clear" or args.judge or args.legacy or not deletable or error.path is None:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        removed = remove_cache_files(error.path)
    except OSError as exc:
        print(f"error: {error} Deleting it failed: {exc}", file=sys.stderr)
        return 1
    print(f"deleted the cache that could not be used: {', '.join(str(p) for p in removed)} ({error.kind})")
    return 0


def _cmd_check_judge(args: argparse.Namespace) -> int:
    from coconot_tasks.judge.errors import JudgeConfigError
    from coconot_tasks.judge.preflight import check_judge
    from coconot_tasks.judge.settings import JudgeSettings

    try:
        settings = JudgeSettings.resolve()
        check_judge(settings)
    except JudgeConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"judge OK: {json.dumps(settings.public())}")
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
    cache = sub.add_parser("cache", help="inspect or clear the judge verdict cache")
    cache.add_argument("cache_action", choices=["stats", "clear"], nargs="?", default="stats")
    cache.add_argument(
        "--judge",
        help="with 'clear': only this judge, e.g. openai:gpt-6-luna (a judge the cache does not hold: "
        "exit status 1, naming the judges it holds)",
    )
    cache.add_argument(
        "--legacy",
        action="store_true",
        help="with 'clear': only entries from before endpoints were recorded (never served again)",
    )
    cache.add_argument(
        "--remove",
        action="store_true",
        help="with 'clear': also delete the cache file itself (a corrupt file is deleted anyway)",
    )
    cache.set_defaults(func=_cmd_cache)
    check = sub.add_parser(
        "check-judge", help="check that the judge configured in the environment works (one free request)"
    )
    check.set_defaults(func=_cmd_check_judge)
    for name, module, summary in _TOOLS:
        tool = sub.add_parser(name, help=summary, description=summary)
        importlib.import_module(module).configure(tool)
    return parser


#: Subcommands living in their own modules: each has ``configure(parser)``, which adds the
#: arguments and sets ``func`` (a callable taking the parsed namespace, returning the exit code).
_TOOLS = (
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
