"""``coconot compare-judges``: re-judge saved responses with several judges and measure the shift."""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from coconot_tasks.benchmark.taxonomy import SETS
from coconot_tasks.harness.exit_status import EXIT_JUDGE_ERRORS
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.pricing import format_cost, prices_known
from coconot_tasks.judge.settings import JudgeConfigError
from coconot_tasks.results.saved_runs import RunError, load_runs
from coconot_tasks.tools.common import (
    DEFAULT_JUDGE,
    add_runs_argument,
    add_spend_arguments,
    cli_error,
    judge_metadata,
)
from coconot_tasks.tools.compare_judges.compare import compare_judges, judge_all, select_responses
from coconot_tasks.tools.compare_judges.render import summary_lines, write_comparison
from coconot_tasks.tools.compare_judges.specs import SPEC_HELP, parse_specs

_EPILOG = f"""\
JUDGE specs: saved (the verdicts already in the runs), heuristic, openai:MODEL (at
COCONOT_JUDGE_BASE_URL / OPENAI_BASE_URL, else OpenAI), openai:MODEL@BASE_URL, vllm:MODEL@REVISION
(the managed local vLLM judge at a pinned commit). The first judge is the reference of every
difference. API keys come from {DEFAULT_JUDGE.key_hint()} only; other judge
settings from the COCONOT_JUDGE_* environment, as for lm_eval runs.

examples:
  coconot compare-judges out/ --judge saved --judge openai:gpt-6-luna -o shift/
  coconot compare-judges out/ --judge openai:gpt-4.1-mini-2025-04-14 --judge openai:gpt-6-luna \\
      --judge vllm:Qwen/Qwen2.5-7B-Instruct@a09a35458c702b33eeacc393d103063234e8bc28 --dry-run

Output: DIR/compare_judges.md, .html and .json. Verdicts are cached: a rerun makes no judge call.
Exit status: 0 ok; 2 bad runs, specs or judge settings (nothing judged); 3 written, but some
responses got no verdict from a judge."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``compare-judges`` arguments to ``parser`` and set its ``func``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    add_runs_argument(parser)
    parser.add_argument(
        "--judge",
        action="append",
        required=True,
        metavar="SPEC",
        help=f"a judge (twice or more): {SPEC_HELP}",
    )
    parser.add_argument(
        "--output-dir", "-o", required=True, type=Path, metavar="DIR", help="where the files go"
    )
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N responses of each task")
    parser.add_argument("--set", dest="set_name", choices=SETS, help="only this set")
    parser.add_argument("--category", metavar="NAME", help="only this category (name or slug, e.g. safety)")
    parser.add_argument(
        "--examples",
        type=int,
        default=20,
        metavar="N",
        help="disagreements per category in Markdown/HTML (20)",
    )
    parser.add_argument(
        "--judge-concurrency", type=int, metavar="N", help="judge requests in flight per judge"
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="ask the judges again even for cached verdicts"
    )
    add_spend_arguments(parser)
    parser.set_defaults(func=run_compare_judges)


_error = partial(cli_error, "compare-judges")


def run_compare_judges(args: argparse.Namespace) -> int:
    """Run ``coconot compare-judges``; returns the exit status."""
    if (args.limit is not None and args.limit < 1) or args.examples < 0:
        return _error("--limit must be >= 1 and --examples >= 0")
    try:
        runs = load_runs(list(args.runs))
    except RunError as exc:
        return _error(str(exc))
    responses = select_responses(runs, limit=args.limit, set_name=args.set_name, category=args.category)
    if not responses:
        return _error("no logged responses match (runs made with lm_eval --log_samples? --set / --category?)")
    try:
        # The cap goes into each judge's settings: validated, and refused for a judge without a known price
        # (check_judge), as everywhere; judge_all then gives each judge what the earlier ones left.
        specs = parse_specs(args.judge, judge_metadata(args))
        for spec in specs:
            if spec.settings is not None:
                check_judge(spec.settings)
    except JudgeConfigError as exc:
        return _error(str(exc))
    results, stats = judge_all(
        specs, responses, max_cost_usd=args.max_cost_usd, progress=not args.no_progress
    )
    if args.dry_run:
        print(f"DRY RUN: nothing judged or written; {len(responses)} responses, per judge:")
        costs = []  # (estimate, priced?) per judge that would be asked
        for spec, judge_stats in zip(specs, stats, strict=True):
            if spec.settings is None or judge_stats is None:
                print(f"  {spec.name}: no calls (verdicts already in the runs)")
                continue
            costs.append((judge_stats.estimated_cost_usd, prices_known(spec.settings)))
            print(
                f"  {spec.name}: {judge_stats.estimated_calls} judge calls ({judge_stats.cached} cached, "
                f"{judge_stats.empty} empty responses), estimated {format_cost(*costs[-1])}"
            )
        total = format_cost(sum(cost for cost, _ in costs), all(priced for _, priced in costs))
        cap = f" (cap ${args.max_cost_usd:.4f})" if args.max_cost_usd is not None else ""
        print(f"  all judges: estimated {total}{cap}")
        return 0
    comparison = compare_judges(specs, responses, results, stats)
    notes = [
        f"runs: {', '.join(str(run.results_path) for run in runs)}",
        f"responses: {len(responses)} (limit per task: {args.limit or 'none'}, "
        f"set: {args.set_name or 'all'}, category: {args.category or 'all'})",
        f"reference (first judge): {specs[0].name}",
        "Only runs scored by the same judge are comparable; this shows how far a change of judge moves them.",
    ]
    paths = write_comparison(comparison, args.output_dir, notes, args.examples)
    print("\n".join(summary_lines(comparison)))
    for path in paths.values():
        print(f"wrote {path}")
    missing = [
        f"{spec.name}: {count}"
        for spec, verdicts in zip(specs, comparison.verdicts, strict=True)
        if spec.settings is not None and (count := verdicts.count(None))
    ]
    if missing:
        _error(
            f"some responses got NO verdict ({', '.join(missing)}); they are left out of that judge's "
            "numbers and counted"
        )
        return EXIT_JUDGE_ERRORS
    return 0
