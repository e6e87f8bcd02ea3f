"""The judge options shared by the CLI commands that run a judge (``rescore``, ``validate-judge``)."""

from __future__ import annotations

import argparse
from typing import Any

from coconot_tasks.judge.settings import BACKENDS, DEFAULT_JUDGE_MODEL


def add_judge_arguments(parser: argparse.ArgumentParser, *, backend_help: str) -> None:
    """Add the judge options: ``--judge-model``, ``--judge-base-url``, ``--judge-backend``,
    ``--judge-revision`` and ``--judge-concurrency``.

    ``backend_help`` is the help text of ``--judge-backend`` (what the backends are for in
    that command).
    """
    parser.add_argument(
        "--judge-model",
        metavar="M",
        help=f"judge model (default: COCONOT_JUDGE_MODEL or {DEFAULT_JUDGE_MODEL})",
    )
    parser.add_argument("--judge-base-url", metavar="URL", help="OpenAI-compatible judge endpoint")
    parser.add_argument("--judge-backend", choices=BACKENDS, help=backend_help)
    parser.add_argument(
        "--judge-revision",
        metavar="SHA",
        help="judge_backend=vllm: the Hugging Face commit of --judge-model (40 hex digits)",
    )
    parser.add_argument(
        "--judge-concurrency", type=int, metavar="N", help="judge requests in flight (default 16)"
    )


def judge_metadata(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--metadata``-style judge settings given on the command line (unset flags left out).

    Reads the options of :func:`add_judge_arguments` and, when the command has them, the
    ``--max-cost-usd``, ``--no-cache`` and ``--dry-run`` flags (absent: not set).
    """
    flags: dict[str, Any] = {
        "judge_model": args.judge_model,
        "judge_base_url": args.judge_base_url,
        "judge_backend": args.judge_backend,
        "judge_vllm_revision": args.judge_revision,
        "judge_concurrency": args.judge_concurrency,
        "judge_max_cost_usd": getattr(args, "max_cost_usd", None),
        "judge_cache": False if getattr(args, "no_cache", False) else None,
        "judge_dry_run": True if getattr(args, "dry_run", False) else None,
    }
    return {key: value for key, value in flags.items() if value is not None}
