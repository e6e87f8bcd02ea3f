"""What the ``coconot`` commands share: error lines, judge options, the no-verdict summary."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coconot_tasks.harness.exit_status import EXIT_INTERRUPTED, EXIT_USAGE
from coconot_tasks.judge.backends import BACKENDS, DEFAULT_BACKEND, backend_for
from coconot_tasks.judge.cache import CacheError, VerdictCache
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeStats

#: The judge a tool uses unless told otherwise: help texts name its model and key variables.
DEFAULT_JUDGE = BACKENDS[DEFAULT_BACKEND]

#: How a judging command resumes after transient judge errors.
RERUN_TOOL = "rerun the same command: verdicts already obtained come from the judge cache"


@contextmanager
def interruption_reported(command: str, settings: JudgeSettings) -> Iterator[None]:
    """Turn Ctrl-C while judging into one line -- how many new verdicts the judge cache kept and
    that a rerun resumes -- and exit status :data:`EXIT_INTERRUPTED` (instead of a traceback)."""
    before = _cached_verdicts(settings)
    try:
        yield
    except KeyboardInterrupt:
        after = _cached_verdicts(settings)
        if before is None or after is None:
            kept = "no verdict was kept (the judge cache is off or unusable): a rerun judges everything again"
        else:
            kept = (
                f"{after - before} new verdicts of {settings.judge_id} were kept in the judge cache; rerun "
                "the same command to resume (those are not asked again)"
            )
        print(f"coconot {command}: interrupted: {kept}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None


def _cached_verdicts(settings: JudgeSettings) -> int | None:
    """The verdicts of ``settings``' judge in the default cache (``None``: not cached)."""
    if not settings.cache or not backend_for(settings).remote:
        return None
    try:
        cache = VerdictCache()
    except CacheError:
        return None
    try:
        return int(cache.stats().get("per_judge", {}).get(settings.judge_id, 0))
    finally:
        cache.close()


def cli_error(command: str, message: str) -> int:
    """Print ``coconot COMMAND: error: MESSAGE`` to stderr; return :data:`EXIT_USAGE`."""
    print(f"coconot {command}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def report_no_verdict(
    command: str, judge: str, no_verdict: int, stats: JudgeStats, consequence: str, subject: str = ""
) -> None:
    """Say loudly (stdout and stderr; ``subject`` prefixes the latter) how many responses got no
    verdict, why, and the first errors."""
    reasons = f"{stats.errors} judge errors, {stats.not_judged} not judged"
    if stats.budget_exhausted:
        reasons += ", budget cap reached"
    if stats.endpoint_down:
        reasons += f", judging stopped: {stats.endpoint_down}"
    message = (
        f"{no_verdict} of {stats.items} responses got NO verdict from {judge} ({reasons}); {consequence} "
        f"First errors: {'; '.join(stats.error_messages[:3]) or '-'}"
    )
    print(f"  ERROR: {message}")
    print(f"coconot {command}: ERROR: {f'{subject}: ' if subject else ''}{message}", file=sys.stderr)


def add_judge_arguments(parser: argparse.ArgumentParser, *, backend_help: str) -> None:
    """Add the judge options (``--judge-model``, ``-base-url``, ``-backend``, ``-revision``,
    ``-concurrency``); ``backend_help`` is the help of ``--judge-backend``."""
    parser.add_argument(
        "--judge-model",
        metavar="M",
        help=f"judge model (default: COCONOT_JUDGE_MODEL or {DEFAULT_JUDGE.default_model})",
    )
    parser.add_argument("--judge-base-url", metavar="URL", help="OpenAI-compatible judge endpoint")
    parser.add_argument("--judge-backend", choices=list(BACKENDS), help=backend_help)
    parser.add_argument(
        "--judge-revision",
        metavar="SHA",
        help="judge_backend=vllm: the Hugging Face commit of --judge-model (40 hex digits)",
    )
    parser.add_argument("--judge-concurrency", type=int, metavar="N", help=_concurrency_help())


def _concurrency_help() -> str:
    """``judge requests in flight (default 16; vllm: 64)``, from each backend's declaration."""
    default = JudgeSettings.concurrency
    own = [
        f"{name}: {value}"
        for name, backend in BACKENDS.items()
        if (value := backend.defaults({}).get("concurrency", default)) != default
    ]
    return f"judge requests in flight (default {default}{''.join(f'; {text}' for text in own)})"


def add_runs_argument(
    parser: argparse.ArgumentParser, text: str = "saved run: directory or results JSON"
) -> None:
    """Add the ``RUN ...`` positional argument (``args.runs``: saved lm-eval runs); ``text`` is its help."""
    parser.add_argument("runs", nargs="+", type=Path, metavar="RUN", help=text)


def add_spend_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--max-cost-usd``, ``--dry-run`` and ``--no-progress``."""
    parser.add_argument(
        "--max-cost-usd", type=float, metavar="USD", help="stop judging at this spend (the rest: no verdict)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count the judge calls and estimate the cost; judge nothing"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def judge_metadata(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--metadata``-style judge settings set on the command line: those of :func:`add_judge_arguments`,
    ``--max-cost-usd``, ``--no-cache`` and ``--dry-run`` that the command has."""
    flags: dict[str, Any] = {
        "judge_model": getattr(args, "judge_model", None),
        "judge_base_url": getattr(args, "judge_base_url", None),
        "judge_backend": getattr(args, "judge_backend", None),
        "judge_vllm_revision": getattr(args, "judge_revision", None),
        "judge_concurrency": args.judge_concurrency,
        "judge_max_cost_usd": getattr(args, "max_cost_usd", None),
        "judge_cache": False if getattr(args, "no_cache", False) else None,
        "judge_dry_run": True if getattr(args, "dry_run", False) else None,
    }
    return {key: value for key, value in flags.items() if value is not None}
