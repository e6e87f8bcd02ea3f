"""``coconot cache``: inspect or clear the judge verdict cache."""

from __future__ import annotations

import argparse
import json
import sys

from coconot_tasks.judge.cache import CacheError, VerdictCache, default_cache_path, remove_cache_files


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``cache`` arguments to ``parser`` and set its ``func``."""
    parser.add_argument("cache_action", choices=["stats", "clear"], nargs="?", default="stats")
    parser.add_argument(
        "--judge",
        help="with 'clear': only this judge, e.g. openai:gpt-6-luna (a judge the cache does not hold: "
        "exit status 1, naming the judges it holds)",
    )
    parser.add_argument(
        "--legacy",
        action="store_true",
        help="with 'clear': only entries from before endpoints were recorded (never served again)",
    )
    parser.add_argument(
        "--remove",
        action="store_true",
        help="with 'clear': also delete the cache file itself (a corrupt file is deleted anyway)",
    )
    parser.set_defaults(func=run_cache)


def run_cache(args: argparse.Namespace) -> int:
    """Run ``coconot cache``; returns the exit status."""
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
    """``coconot cache`` on a file that cannot be opened: say why; ``clear`` deletes a corrupt file
    (``clear --remove``: whatever the reason)."""
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
