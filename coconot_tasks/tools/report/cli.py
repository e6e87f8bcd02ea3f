"""``coconot report``: tables, charts and paired comparisons of saved CoCoNot runs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from coconot_tasks.results.saved_runs import RunError, load_runs
from coconot_tasks.tools.common import add_runs_argument
from coconot_tasks.tools.report import DEFAULT_TITLE, ReportError, write_report

EPILOG = """\
RUN is an lm_eval --output_path directory (searched recursively; the newest results_*.json of
every model directory is used) or one results_*.json file. Run lm_eval with --log_samples so
that every rate gets a 95% Wilson interval and the models can be compared prompt by prompt.

examples:
  coconot report out/ --output-dir report/
  coconot report out/llama out/qwen --output-dir report/ --baseline Qwen/Qwen2.5-7B-Instruct
"""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``coconot report`` and set its handler."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = EPILOG
    add_runs_argument(parser, "lm-eval output dir or results JSON")
    parser.add_argument(
        "--output-dir", "-o", type=Path, required=True, help="where report.md, report.html, report.json go"
    )
    parser.add_argument("--title", help="report title (default: 'CoCoNot report')")
    parser.add_argument(
        "--baseline",
        metavar="MODEL",
        help="model the others are compared with (default: the model of the first run)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=3,
        metavar="N",
        help="failed responses shown per subcategory and model in the HTML (default: 3)",
    )
    parser.add_argument(
        "--allow-mixed-judges",
        action="store_true",
        help="report runs scored by different judges (default: refuse); every format then says so",
    )
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Handler of ``coconot report``: 0 on success, 2 when the runs cannot be reported."""
    if args.examples < 0:
        print("error: --examples must be >= 0", file=sys.stderr)
        return 2
    try:
        runs = load_runs(list(args.runs))
        paths = write_report(
            runs,
            args.output_dir,
            title=args.title or DEFAULT_TITLE,
            baseline=args.baseline,
            examples=args.examples,
            allow_mixed_judges=args.allow_mixed_judges,
        )
    except (RunError, ReportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --output-dir below a regular file, or not writable
        print(f"error: --output-dir {args.output_dir}: {exc.strerror or exc}; choose another --output-dir",
              file=sys.stderr)  # fmt: skip
        return 2
    for run in runs:
        print(f"read {run.results_path} ({run.model})")
    for path in paths.values():
        print(f"wrote {path}")
    return 0
