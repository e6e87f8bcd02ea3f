"""``coconot rescore``: re-judge saved lm-eval samples with another judge, without regenerating (exit
statuses: the epilog)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coconot_tasks.generation import lm_eval_none_placeholder
from coconot_tasks.harness.exit_status import EXIT_JUDGE_ERRORS
from coconot_tasks.judge.outcome import batch_failure, what_to_do
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.pricing import format_cost, prices_known
from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings
from coconot_tasks.results.saved_runs import RunError, load_runs
from coconot_tasks.tools.common import (
    DEFAULT_JUDGE,
    RERUN_TOOL,
    add_judge_arguments,
    add_runs_argument,
    add_spend_arguments,
    cli_error,
    interruption_reported,
    judge_metadata,
    report_no_verdict,
)
from coconot_tasks.tools.text_format import decimal, percent, share

if TYPE_CHECKING:
    from coconot_tasks.tools.rescore.rescore import RescoreSummary


_EPILOG = f"""\
The judge key is read from {DEFAULT_JUDGE.key_hint()} only; the other judge
settings default to the COCONOT_JUDGE_* environment variables, as for lm_eval runs.
Each RUN is an lm_eval --output_path directory (the newest results of every model below it)
or a results_*.json file, saved with --log_samples. Output per run:
DIR/<model>/results_<date>.json and samples_<task>_<date>.jsonl (same shape as lm_eval's),
agreement.json and agreement.md (old verdicts = judge A, new verdicts = judge B).
Every samples file must hold rows of its own task's set (ids, prompts, subcategories), checked
against the run's data (its --metadata data_dir, else COCONOT_DATA_DIR or the pinned hub
revision); the output folder is checked before any judge request too.
Exit status: 0 ok; 2 bad run path, samples, output folder or judge configuration (nothing judged);
3 written, but some responses got no verdict (the last line says to rerun, or which setting to
change when a rerun would fail the same way)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``rescore`` arguments to ``parser`` and set its ``func``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    add_runs_argument(parser)
    parser.add_argument(
        "--output-dir",
        "-o",
        required=True,
        type=Path,
        metavar="DIR",
        help="where the rescored runs go (one subdirectory per model, like lm_eval)",
    )
    add_judge_arguments(
        parser,
        backend_help=(
            "openai (default), vllm (a local judge started and stopped here) or heuristic (smoke test only)"
        ),
    )
    parser.add_argument(
        "--no-cache", action="store_true", help="ask the judge again even for cached verdicts"
    )
    add_spend_arguments(parser)
    parser.set_defaults(func=run_rescore)


def run_rescore(args: argparse.Namespace) -> int:
    """Run ``coconot rescore``; returns the exit status."""
    # import cost: lm-eval (~0.6 s), which `coconot --help` and the other commands do not need
    from coconot_tasks.tools.rescore.rescore import check_rescorable, judge_run, rescore_run, target_dir

    try:
        runs = load_runs(list(args.runs))
        targets: dict[Path, Path] = {}
        for run in runs:
            check_rescorable(run, args.output_dir)
            target = target_dir(run, args.output_dir).resolve()
            if target in targets:
                raise RunError(
                    f"{run.results_path} and {targets[target]} would both be written to {target} (same "
                    "model name); rescore them into different --output-dir directories"
                )
            targets[target] = run.results_path
    except RunError as exc:
        return cli_error("rescore", str(exc))
    try:
        settings = JudgeSettings.resolve(judge_metadata(args))
        check_judge(settings)
    except JudgeConfigError as exc:
        return cli_error("rescore", str(exc))
    progress = not args.no_progress
    priced = prices_known(settings)
    none_placeholder = lm_eval_none_placeholder()
    if settings.dry_run:
        for run in runs:
            _results, stats = judge_run(
                run, settings, progress=progress, none_placeholder=none_placeholder, desc="CoCoNot dry run"
            )
            print(
                f"{run.model} ({run.results_path}): DRY RUN with judge {settings.judge_id}, nothing judged "
                f"or written: {stats.items} responses, {stats.estimated_calls} judge calls needed "
                f"({stats.cached} cached, {stats.empty} empty responses), estimated cost "
                f"{format_cost(stats.estimated_cost_usd, priced)} "
                f"(at most {format_cost(stats.estimated_max_cost_usd, priced)})"
            )
        return 0

    missing, total, failures, advice = 0, 0, [], ""
    for run in runs:
        with interruption_reported("rescore", settings):
            summary = rescore_run(
                run, settings, args.output_dir, progress=progress, none_placeholder=none_placeholder
            )
        print_summary(summary, priced)
        missing += summary.no_verdict
        total += summary.stats.items
        failure = batch_failure(summary.stats, settings)
        if failure:
            failures.append(f"{summary.model}: {failure}")
        if summary.no_verdict and not advice:
            advice = what_to_do(summary.stats, settings, RERUN_TOOL)
    allowed = settings.max_error_rate if settings.max_error_rate is not None else 0.0
    if failures or (total and missing / total > allowed):
        print(
            f"coconot rescore: error: {missing} of {total} responses got NO verdict from the judge "
            f"(exit status {EXIT_JUDGE_ERRORS}{''.join(f'; {f}' for f in failures)}); the rescored files "
            f"were written, with those responses counted in judge_error_rate. {advice}",
            file=sys.stderr,
        )
        return EXIT_JUDGE_ERRORS
    return 0


def print_summary(summary: RescoreSummary, priced: bool) -> None:
    """The short per-run report: old vs new rates, agreement, where the files went, errors."""
    stats = summary.stats
    old = ", ".join(summary.old_judges) or "unknown"
    print(f"\n{summary.model}: rescored {summary.source}")
    print(f"  judge: {old} (old) -> {summary.judge} (new)")
    print(
        f"  {stats.items} responses: {stats.requests} judge calls, {stats.cached} cached, {stats.empty} "
        f"empty (no call needed), {summary.no_verdict} without verdict; "
        f"{stats.prompt_tokens + stats.completion_tokens} tokens, cost {format_cost(stats.cost_usd, priced)}"
    )
    if summary.no_answer:
        print(
            f"  {summary.no_answer} more responses have no answer (reasoning that never finished): not "
            "judged, counted in no_answer_rate"
        )
    rows = [(f"compliance_rate {t.task}", share(t.old_compliance_rate), share(t.new_compliance_rate),
             f"{t.changed} of {t.samples}") for t in summary.tasks]  # fmt: skip
    rows += [(f"coconot_score {g}", decimal(old_score), decimal(new_score), "")
             for g, (old_score, new_score) in summary.groups.items()]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    print(f"  {'':<{width}}  {'old':>7}  {'new':>7}  changed verdicts")
    for label, old_value, new_value, changed in rows:
        print(f"  {label:<{width}}  {old_value:>7}  {new_value:>7}  {changed}".rstrip())
    overall = summary.agreement.overall
    kappa = (
        "n/a (undefined: a single label on both sides)" if overall.kappa is None else f"{overall.kappa:.3f}"
    )
    print(
        f"  agreement old vs new: {percent(overall.percent_agreement)} of {overall.n} compared "
        f"({overall.excluded} left out: no verdict); Cohen's kappa {kappa}; "
        f"{len(summary.agreement.disagreements)} disagreements"
    )
    print(
        f"  written to {summary.results_path.parent}/: {summary.results_path.name}, {len(summary.tasks)} "
        f"samples files, {', '.join(path.name for path in summary.agreement_files)}"
    )
    if summary.no_verdict:
        consequence = "they count in judge_error_rate and are left out of compliance_rate."
        report_no_verdict("rescore", summary.judge, summary.no_verdict, stats, consequence, summary.model)
