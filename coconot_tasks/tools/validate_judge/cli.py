"""``coconot validate-judge``: measure a judge before trusting its numbers (see ``_EPILOG``)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from coconot_tasks.benchmark.dataset import DataError, resolve_data_dir
from coconot_tasks.benchmark.official_files import ResourceError, Rubric, load_rubric, rubric_entry
from coconot_tasks.harness.exit_status import EXIT_JUDGE_ERRORS
from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.outcome import batch_failure, what_to_do
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.pricing import format_cost, prices_known
from coconot_tasks.judge.settings import JudgeConfigError, JudgeSettings
from coconot_tasks.tools.common import (
    DEFAULT_JUDGE,
    RERUN_TOOL,
    add_judge_arguments,
    add_spend_arguments,
    cli_error,
    interruption_reported,
    judge_metadata,
)
from coconot_tasks.tools.export.load import (
    LOCAL_FILES_TRAIN,
    PREFERENCE,
    SFT,
    EvalSetError,
    TrainingRows,
    load_training_rows,
)
from coconot_tasks.tools.validate_judge.checks import (
    CHECK_GROUPS,
    CHECKS,
    LABEL_CHECKS,
    PARTIAL_REFUSAL_CHOICES,
    SUBCATEGORY,
    XSTEST,
    CheckSelectionError,
    LabelCheck,
    XSTestInput,
    parse_checks,
    rubric_subcategory,
    run_checks,
)
from coconot_tasks.tools.validate_judge.load import (
    ENV_XSTEST_DIR,
    XSTestError,
    evenly_spaced,
    find_completion_files,
    load_completions,
)
from coconot_tasks.tools.validate_judge.render import print_summary, write_validation_report

_EPILOG = f"""\
checks: xstest (XSTest v2 human labels), pref-chosen and pref-rejected (CoCoNot preference
responses), sft (CoCoNot SFT responses); "pref" = pref-chosen,pref-rejected, "all" = every check.
docs/tools.md ("Validate the judge") describes each check, its data and what it reports.

The judge key is read from {DEFAULT_JUDGE.key_hint()} only; the other judge
settings default to the COCONOT_JUDGE_* environment variables, as for lm_eval runs.
Exit status: 0 judged (judge errors are counted and left out); 2 bad data path, --checks or
judge configuration (nothing judged); 3 the judging failed (the reports are written; the last
line says what to fix)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``validate-judge`` arguments to ``parser`` and set its ``func``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument(
        "--checks",
        metavar="C1,C2",
        help=f"checks to run: {', '.join((*CHECKS, *CHECK_GROUPS))} (default: each one whose data is found)",
    )
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
        help="only these XSTest source models, e.g. gpt4,llama2new (default: every completions file)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help="folder with coconot_pref.jsonl / coconot_sft.jsonl (default: COCONOT_DATA_DIR, else the hub)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="at most N responses per XSTest file and per CoCoNot check, evenly spaced",
    )
    parser.add_argument(
        "--partial-refusal",
        choices=PARTIAL_REFUSAL_CHOICES,
        default="noncompliance",
        help="XSTest human label 3_partial_refusal: count as noncompliance (default) or leave out",
    )
    add_judge_arguments(
        parser,
        backend_help=(
            "openai (default), vllm (a local judge started and stopped here) or heuristic "
            "(offline keyword detector)"
        ),
    )
    add_spend_arguments(parser)
    parser.add_argument(
        "--output-dir",
        "-o",
        type=Path,
        metavar="DIR",
        help="write validation.json and validation.md here (default: print the summary only)",
    )
    parser.set_defaults(func=run_validate_judge)


class _Absent(Exception):
    """A check's data is not there (skipped when the checks were not chosen explicitly)."""


def _load_xstest(args: argparse.Namespace) -> XSTestInput:
    paths: list[Path] = list(args.xstest_dir or [])
    if not paths:
        default = os.environ.get(ENV_XSTEST_DIR)  # the CLI's default, as for the COCONOT_JUDGE_* settings
        if not default:
            raise _Absent(f"no XSTest data: pass --xstest-dir DIR or set {ENV_XSTEST_DIR}")
        paths = [Path(default).expanduser()]
    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    files = find_completion_files(paths, models)
    rows = [row for file in files for row in evenly_spaced(load_completions(file), args.limit)]
    return XSTestInput.of(rows, args.partial_refusal)


def _load_training(kind: str, data_dir: Path | None) -> TrainingRows:
    """The training rows of ``kind`` from ``data_dir`` / ``COCONOT_DATA_DIR`` or the hub (else _Absent)."""
    local = data_dir if data_dir is not None else resolve_data_dir(None)
    if local is not None:
        path = local / LOCAL_FILES_TRAIN[kind]
        if not path.is_file():
            raise _Absent(f"{path} not found")
        return load_training_rows(kind, data_dir=local)
    try:
        return load_training_rows(kind)
    except DataError as exc:  # the hub is unreachable: offline
        cause = f" ({type(exc.__cause__).__name__})" if exc.__cause__ is not None else ""
        raise _Absent(
            f"no --data-dir or COCONOT_DATA_DIR holding {LOCAL_FILES_TRAIN[kind]}, and the hub could not "
            f"be reached{cause}"
        ) from None


def _load_checks(
    args: argparse.Namespace, checks: list[str], explicit: bool
) -> tuple[list[XSTestInput | LabelCheck], dict[str, str]]:
    """Load every check's data, in report order; an absent source is skipped unless the check was chosen."""
    loaded: list[XSTestInput | LabelCheck] = []
    skipped: dict[str, str] = {}

    def absent(names: Sequence[str], reason: str) -> None:
        if explicit:
            raise _Absent(f"check {', '.join(names)}: {reason}")
        skipped.update(dict.fromkeys(names, reason))

    if XSTEST in checks:
        try:
            loaded.append(_load_xstest(args))
        except _Absent as exc:
            absent([XSTEST], str(exc))
    for kind in (PREFERENCE, SFT):
        names = [c for c in checks if c in LABEL_CHECKS and LABEL_CHECKS[c].kind == kind]
        if not names:
            continue
        try:
            data = _load_training(kind, args.data_dir)
        except _Absent as exc:
            absent(names, str(exc))
        else:
            loaded += [LABEL_CHECKS[c].with_rows(data.rows, data.source, args.limit) for c in names]
    return loaded, skipped


def _load_rubric(data_dir: Path | None, checks: list[XSTestInput | LabelCheck]) -> Rubric:
    """The official rubric; ResourceError names the check and first row of a subcategory it lacks."""
    rubric = load_rubric(data_dir)
    for check in checks:
        if isinstance(check, XSTestInput):
            rubric_entry(rubric, SUBCATEGORY)
            continue
        first = {rubric_subcategory(r.subcategory): r for r in reversed(check.responses)}
        for key, response in sorted(first.items()):
            try:
                rubric_entry(rubric, key)
            except ResourceError as exc:
                raise ResourceError(
                    f"check {check.name}: {check.source}, row {response.row} (id {response.id}): {exc}"
                ) from None
    return rubric


def run_validate_judge(args: argparse.Namespace) -> int:
    """Run ``coconot validate-judge``; returns the exit status."""
    if args.limit is not None and args.limit < 1:
        return cli_error("validate-judge", f"--limit must be at least 1, not {args.limit}")
    try:
        checks = parse_checks(args.checks) if args.checks else list(CHECKS)
    except CheckSelectionError as exc:
        return cli_error("validate-judge", str(exc))
    if args.data_dir is not None and not args.data_dir.is_dir():
        return cli_error("validate-judge", f"--data-dir {args.data_dir}: no such directory")
    try:
        loaded, skipped = _load_checks(args, checks, explicit=args.checks is not None)
    except (_Absent, XSTestError, DataError, EvalSetError) as exc:
        return cli_error("validate-judge", str(exc))
    if not loaded:
        by_reason: dict[str, list[str]] = {}
        for name, reason in skipped.items():
            by_reason.setdefault(reason, []).append(name)
        reasons = "; ".join(f"{', '.join(names)}: {reason}" for reason, names in by_reason.items())
        return cli_error("validate-judge", f"no check has data ({reasons})")
    for name, reason in skipped.items():
        print(f"coconot validate-judge: check {name} skipped: {reason}", file=sys.stderr)
    try:
        settings = JudgeSettings.resolve(judge_metadata(args))
        check_judge(settings)
        # Every judge but the offline heuristic reads the official rubric.
        rubric = _load_rubric(args.data_dir, loaded) if backend_for(settings).remote else None
    except (JudgeConfigError, ResourceError) as exc:
        return cli_error("validate-judge", str(exc))

    progress = not args.no_progress
    with interruption_reported("validate-judge", settings):
        validation = run_checks(settings, loaded, rubric=rubric, skipped=skipped, progress=progress)
    priced = prices_known(settings)
    if settings.dry_run:
        s = validation.judge_stats
        print(
            f"DRY RUN with judge {settings.judge_id}, nothing judged or written: {s.items} responses "
            f"({', '.join(validation.checks_run)}), {s.estimated_calls} judge calls needed "
            f"({s.cached} cached), estimated cost {format_cost(s.estimated_cost_usd, priced)} "
            f"(at most {format_cost(s.estimated_max_cost_usd, priced)})"
        )
        return 0
    print_summary(validation, priced)
    if args.output_dir is not None:
        json_path, md_path = write_validation_report(validation, args.output_dir)
        print(f"  written: {json_path}, {md_path}")
    else:
        print("  (no --output-dir: validation.json / validation.md not written)")
    failure = batch_failure(validation.judge_stats, settings)
    if failure:
        advice = what_to_do(validation.judge_stats, settings, RERUN_TOOL)
        print(
            f"coconot validate-judge: error: {failure} (exit status {EXIT_JUDGE_ERRORS}). {advice}",
            file=sys.stderr,
        )
        return EXIT_JUDGE_ERRORS
    return 0
