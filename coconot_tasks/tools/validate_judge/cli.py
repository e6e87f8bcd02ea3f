"""``coconot validate-judge``: measure a judge against XSTest's human labels before trusting it.

Exit status: 0 when the judge was run (judge errors are reported loudly, counted and left
out of the statistics); 2 when nothing was judged because the XSTest path or the judge
configuration is unusable (checked before any judge request).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from coconot_tasks.tools.common import add_judge_arguments, judge_metadata
from coconot_tasks.tools.text_format import decimal, percent, share
from coconot_tasks.tools.validate_judge.xstest import ENV_XSTEST_DIR, PARTIAL_REFUSAL_CHOICES

if TYPE_CHECKING:
    from coconot_tasks.judge.settings import JudgeSettings
    from coconot_tasks.tools.validate_judge.xstest import ValidationReport, XSTestRow

EXIT_USAGE = 2

_EPILOG = f"""\
Each response of the XSTest v2 completions files (xstest_v2_completions_<model>.csv, with
two human annotations and a final label) is judged with the CoCoNot judge prompt: unsafe
prompts (contrast_* types, should be refused) as the CoCoNot original set, safe prompts as
the contrast set, subcategory "dangerous or sensitive topics". The human final label is the
reference: full compliance = compliance, full refusal = noncompliance, partial refusal =
noncompliance (CoCoNot's rubric counts hedged answers and disclaimers as noncompliance) or
left out with --partial-refusal exclude.

Reported overall, per set (unsafe/safe), per prompt type and per source model: percent
agreement, Cohen's kappa, the confusion matrix, the judge's precision/recall for compliance
on unsafe prompts; the two annotators' own agreement as a ceiling.

The judge key is read from COCONOT_JUDGE_API_KEY (or OPENAI_API_KEY) only; the other judge
settings default to the COCONOT_JUDGE_* environment variables, as for lm_eval runs. The
XSTest directory defaults to ${ENV_XSTEST_DIR}.
Exit status: 0 judged (judge errors are counted and left out); 2 bad XSTest path or judge
configuration (nothing judged)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``validate-judge`` arguments to ``parser`` and set its ``func``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument(
        "--xstest-dir",
        action="append",
        type=Path,
        metavar="PATH",
        help=f"XSTest directory or completions CSV file; repeatable (default: ${ENV_XSTEST_DIR})",
    )
    parser.add_argument(
        "--models",
        metavar="M1,M2",
        help="only these source models, e.g. gpt4,llama2new (default: every completions file)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="at most N responses per completions file, evenly spaced so every prompt type is covered",
    )
    parser.add_argument(
        "--partial-refusal",
        choices=PARTIAL_REFUSAL_CHOICES,
        default="noncompliance",
        help="human label 3_partial_refusal: count as noncompliance (default) or leave out",
    )
    add_judge_arguments(
        parser,
        backend_help=(
            "openai (default), vllm (a local judge started and stopped here) or heuristic "
            "(offline keyword detector)"
        ),
    )
    parser.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        metavar="DIR",
        help="write validation.json and validation.md here (default: print the summary only)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_validate_judge)


def _error(message: str) -> int:
    print(f"coconot validate-judge: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def run_validate_judge(args: argparse.Namespace) -> int:
    """Run ``coconot validate-judge``; returns the exit status."""
    from coconot_tasks.benchmark.official_files import ResourceError, rubric_for
    from coconot_tasks.judge.preflight import check_judge
    from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings
    from coconot_tasks.tools.validate_judge.xstest import (
        SUBCATEGORY,
        XSTestError,
        default_xstest_dir,
        load_xstest,
        validate_judge,
    )

    paths: list[Path] = list(args.xstest_dir or [])
    if not paths:
        default = default_xstest_dir()
        if default is None:
            return _error(f"no XSTest data: pass --xstest-dir DIR or set {ENV_XSTEST_DIR}")
        paths = [default]
    if args.limit is not None and args.limit < 1:
        return _error(f"--limit must be at least 1, not {args.limit}")
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    try:
        rows = load_xstest(paths, models, args.limit)
    except XSTestError as exc:
        return _error(str(exc))
    try:
        settings = JudgeSettings.resolve(judge_metadata(args))
        check_judge(settings)
        if settings.backend == "openai":
            rubric_for(SUBCATEGORY)  # the judge prompt needs the official rubric
    except (JudgeConfigError, ResourceError) as exc:
        return _error(str(exc))
    if settings.dry_run:
        return _dry_run(rows, settings, args)

    report = validate_judge(
        rows, settings, partial_refusal=args.partial_refusal, progress=not args.no_progress
    )
    print_summary(report)
    if args.output_dir is not None:
        json_path, md_path = write_report(report, args.output_dir)
        print(f"  written: {json_path}, {md_path}")
    else:
        print("  (no --output-dir: validation.json / validation.md not written)")
    return 0


def _dry_run(rows: list[XSTestRow], settings: JudgeSettings, args: argparse.Namespace) -> int:
    from coconot_tasks.judge.engine import judge_items
    from coconot_tasks.tools.validate_judge.xstest import judge_item, rows_to_judge

    kept, excluded = rows_to_judge(rows, args.partial_refusal)
    _results, stats = judge_items(
        [judge_item(r) for r in kept], settings, progress=not args.no_progress, desc="XSTest dry run"
    )
    print(
        f"DRY RUN with judge {settings.judge_id}, nothing judged or written: {len(kept)} responses "
        f"({excluded} partial refusals left out), {stats.estimated_calls} judge calls needed "
        f"({stats.cached} cached), estimated cost ${stats.estimated_cost_usd:.4f} "
        f"(at most ${stats.estimated_max_cost_usd:.4f})"
    )
    return 0


def write_report(report: ValidationReport, output_dir: Path) -> tuple[Path, Path]:
    """Write ``validation.json`` and ``validation.md`` into ``output_dir``; return their paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "validation.json"
    md_path = output_dir / "validation.md"
    json_path.write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(report.to_markdown(), encoding="utf-8")
    return json_path, md_path


def print_summary(report: ValidationReport) -> None:
    """Print the short report: counts, agreement and kappa per group, confusion, judge errors."""
    from coconot_tasks.tools.agreement import LABELS
    from coconot_tasks.tools.validate_judge.xstest import HUMAN_ID, SET_OF_SAFETY

    stats = report.judge_stats
    print(f"\nXSTest validation of judge {report.judge} against {HUMAN_ID}")
    folders = {str(Path(f).parent) for f in report.files.values()}
    if len(folders) == 1:
        print(f"  files: {', '.join(report.files)} (in {folders.pop()})")
    else:
        print("  files: " + ", ".join(f"{m} ({f})" for m, f in report.files.items()))
    partial = (
        f"{report.excluded_partial_refusal} partial refusals left out"
        if report.partial_refusal == "exclude"
        else "partial refusals counted as noncompliance"
    )
    print(
        f"  {report.rows} responses read, {len(report.items)} judged ({partial}): {stats.api_calls} judge "
        f"calls, {stats.cached} cached; {stats.prompt_tokens + stats.completion_tokens} tokens, "
        f"${stats.cost_usd:.4f}"
    )
    rows = [("overall", report.overall)]
    rows += [(f"{k} prompts (CoCoNot {SET_OF_SAFETY[k]})", v) for k, v in report.by_safety.items()]
    rows += [(f"model {k}", v) for k, v in report.by_model.items()]
    width = max(len(name) for name, _ in rows)
    print(f"  {'':<{width}}  {'n':>5}  {'agree':>6}  {'kappa':>6}  human/judge compliance")
    for name, s in rows:
        print(
            f"  {name:<{width}}  {s.n:>5}  {percent(s.percent_agreement):>6}  {decimal(s.kappa):>6}  "
            f"{share(s.rate('a', 'compliance'))} / {share(s.rate('b', 'compliance'))}"
        )
    print("  confusion (rows: human, columns: judge " + " / ".join(LABELS) + "):")
    for label, row in zip(LABELS, report.overall.confusion, strict=True):
        print(f"    {label:<13} " + " ".join(f"{v:>6}" for v in row))
    d = report.unsafe_compliance
    print(
        f"  compliance on unsafe prompts: judge precision {share(d.precision)}, recall {share(d.recall)} "
        f"({d.true_positive} found, {d.false_negative} missed, {d.false_positive} false alarms)"
    )
    h = report.human_baseline
    print(f"  the two human annotators: {percent(h.percent_agreement)} agreement, kappa {decimal(h.kappa)}")
    print(f"  {len(report.disagreements)} disagreements; judge errors: {report.no_verdict}")
    if report.no_verdict:
        reasons = f"{stats.errors} judge errors, {stats.not_judged} not judged"
        if stats.budget_exhausted:
            reasons += ", budget cap reached"
        message = (
            f"{report.no_verdict} of {len(report.items)} responses got NO verdict from {report.judge} "
            f"({reasons}); they are left out of every statistic above. "
            f"First errors: {'; '.join(stats.error_messages[:3]) or '-'}"
        )
        print(f"  ERROR: {message}")
        print(f"coconot validate-judge: ERROR: {message}", file=sys.stderr)
