"""``coconot export``: write CoCoNot's training data (SFT, preference) for fine-tuning tools; exit
status 0 written, 2 bad input (every DataError, nothing written)."""

from __future__ import annotations

import argparse
import inspect
from pathlib import Path

from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.tools.common import cli_error
from coconot_tasks.tools.export import ExportResult, export
from coconot_tasks.tools.export.load import KINDS, LOCAL_FILES_TRAIN, PREFERENCE, SFT
from coconot_tasks.tools.export.selection import TRAIN, VALIDATION
from coconot_tasks.tools.export.writers import ALL_FORMATS, DEFAULT_FORMAT, FORMATS, HF_DATASET

_EPILOG = f"""\
kinds and formats:
  sft         hub allenai/coconot config 'original' split 'train' (prompts with noncompliant
              responses); formats: {", ".join(FORMATS[SFT])} (default {DEFAULT_FORMAT[SFT]})
  preference  hub allenai/coconot config 'pref' split 'train' (contrast prompts, chosen =
              compliant, rejected = over-refusing); formats: {", ".join(FORMATS[PREFERENCE])}
              (default {DEFAULT_FORMAT[PREFERENCE]})

  messages    {{"messages": [user, assistant]}}: TRL SFTTrainer, OpenAI chat fine-tuning
  trl-dpo     {{"prompt": [user], "chosen": [assistant], "rejected": [assistant]}}: TRL DPOTrainer
  openai-dpo  {{"input": {{"messages": [user]}}, "preferred_output": [assistant],
              "non_preferred_output": [assistant]}}: OpenAI preference fine-tuning
  hf-dataset  a DatasetDict directory (datasets.load_from_disk) in the TRL layout of the kind

data: the hub at the pinned revision, or a local directory (--data-dir / COCONOT_DATA_DIR)
with {LOCAL_FILES_TRAIN[SFT]} (sft) and {LOCAL_FILES_TRAIN[PREFERENCE]} (preference), or one file
(--source). The evaluation sets (original / contrast test) are refused as a source.

With --val-fraction F, JSONL output NAME.jsonl becomes NAME.train.jsonl and
NAME.validation.jsonl (hf-dataset: splits 'train' and 'validation').

examples:
  coconot export preference --format trl-dpo --output coconot_dpo.jsonl
  coconot export sft --output coconot_sft_messages.jsonl --system-prompt official --val-fraction 0.05
  coconot export preference --format hf-dataset --output coconot_pref_ds --categories safety

Exit status: 0 written; 2 bad input (nothing written)."""


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``export`` arguments to ``parser`` and set its ``func``."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _EPILOG
    parser.add_argument("kind", choices=KINDS, help="sft or preference")
    parser.add_argument(
        "--format",
        "-f",
        dest="fmt",
        choices=ALL_FORMATS,
        metavar="FORMAT",
        help=f"output format: {', '.join(ALL_FORMATS)} (default: messages for sft, trl-dpo for preference)",
    )
    parser.add_argument(
        "--output",
        "-o",
        required=True,
        type=Path,
        metavar="PATH",
        help="JSONL file, or directory for hf-dataset",
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--data-dir",
        type=Path,
        metavar="DIR",
        help=f"local directory with {LOCAL_FILES_TRAIN[SFT]} / {LOCAL_FILES_TRAIN[PREFERENCE]} "
        "(default: COCONOT_DATA_DIR, else the hub)",
    )
    where.add_argument("--source", type=Path, metavar="FILE", help="one training file (JSONL or parquet)")
    parser.add_argument("--revision", metavar="REV", help="hub revision (default: the pinned one)")
    parser.add_argument(
        "--categories",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="keep these categories (names or slugs, e.g. safety incomplete)",
    )
    parser.add_argument(
        "--subcategories",
        nargs="+",
        action="extend",
        metavar="NAME",
        help="keep these subcategories (names or slugs, e.g. 'privacy violations' false_presuppositions)",
    )
    parser.add_argument(
        "--limit", type=int, metavar="N", help="keep the first N rows (after filters/shuffle)"
    )
    parser.add_argument("--shuffle", action="store_true", help="shuffle the rows (seeded)")
    parser.add_argument(
        "--seed", type=int, default=0, metavar="N", help="seed of --shuffle and the split (0)"
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="also write a validation split of this fraction (per category, prompts never in both)",
    )
    parser.add_argument(
        "--system-prompt",
        metavar="TEXT",
        help="prepend a system message: 'official' (the paper's system prompt) or any text",
    )
    parser.add_argument(
        "--with-metadata",
        action="store_true",
        help="add a 'metadata' field (id, category, subcategory); some trainers reject unknown keys",
    )
    parser.add_argument(
        "--strip-responses",
        action="store_true",
        help="strip leading/trailing whitespace from responses (default: as published; many 'rejected' "
        "responses start with a space, a surface cue for preference training)",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing output")
    parser.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Run ``coconot export``; returns the exit status."""
    try:  # each of export()'s parameters is the flag of the same name
        result = export(**{name: getattr(args, name) for name in inspect.signature(export).parameters})
    except DataError as exc:
        return cli_error("export", str(exc))
    except OSError as exc:
        return cli_error("export", f"could not write the output: {exc}")
    print_summary(result)
    return 0


def print_summary(result: ExportResult) -> None:
    """Rows written where, and per category."""
    total = sum(result.counts.values())
    print(f"coconot export: {total} {result.kind} rows from {result.source}, format {result.fmt}")
    if result.fmt == HF_DATASET:
        splits = ", ".join(f"{name} {count}" for name, count in result.counts.items())
        print(f"  saved DatasetDict ({splits}) to {result.paths[TRAIN]} (datasets.load_from_disk)")
    else:
        for name, count in result.counts.items():
            print(f"  {name}: {count} rows -> {result.paths[name]}")
    if result.system_prompt is not None:
        print(f"  system message: {len(result.system_prompt)} characters, first in every conversation")
    print(f"  {result.eval_check.describe()}")
    names = sorted({c for counts in result.category_counts.values() for c in counts})
    split_names = list(result.category_counts)
    width = max(len(n) for n in names)
    header = "".join(f"  {name:>10}" for name in split_names)
    print(f"  {'category':<{width}}{header}")
    for category in names:
        cells = "".join(f"  {result.category_counts[s][category]:>10}" for s in split_names)
        print(f"  {category:<{width}}{cells}")
    if VALIDATION in result.counts:
        print(f"  (validation: {result.counts[VALIDATION] / total:.1%} of the rows)")
