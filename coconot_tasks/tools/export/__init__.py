"""CoCoNot's training data, converted for the tools people fine-tune with.

Two kinds of training data come with CoCoNot (HF hub ``allenai/coconot``):

- ``sft``: config ``original``, split ``train``: 11,477 prompts with noncompliant responses
  (fields ``id, category, subcategory, prompt, response``);
- ``preference``: config ``pref``, split ``train``: 927 contrast prompts with a compliant
  ``chosen`` and an over-refusing ``rejected`` response (plus ``chosen_model`` and
  ``rejected_model``).

They load from the hub at the pinned revision (:data:`coconot_tasks.benchmark.dataset.HUB_REVISION`), from
a local directory (``--data-dir`` / ``COCONOT_DATA_DIR``) holding :data:`LOCAL_FILES_TRAIN`, or
from one explicit JSONL (or parquet) file. Every row is schema-checked; an error names the
file, the row and the problem.

Output formats (one JSON object per line unless noted):

- ``messages`` (SFT): ``{"messages": [{"role": "user", ...}, {"role": "assistant", ...}]}``,
  read by TRL's ``SFTTrainer`` (conversational language-modeling data) and OpenAI's chat
  fine-tuning;
- ``trl-dpo`` (preference): ``{"prompt": [user], "chosen": [assistant], "rejected":
  [assistant]}``, TRL's conversational preference format (``DPOTrainer``);
- ``openai-dpo`` (preference): ``{"input": {"messages": [user]}, "preferred_output":
  [assistant], "non_preferred_output": [assistant]}``, OpenAI's preference fine-tuning file;
- ``hf-dataset`` (either kind): a ``datasets.DatasetDict`` (``train``, and ``validation``
  with a validation fraction) saved with ``save_to_disk``, in the TRL layout of the kind
  (``messages``, or ``prompt``/``chosen``/``rejected``).

An optional system message goes first in every conversation. CoCoNot's ``id``,
``category`` and ``subcategory`` go into an extra ``metadata`` field only on request (some
trainers reject unknown keys).

The evaluation sets (``original``/``contrast`` test) are never exported: a source file named
like an evaluation file, or sharing ids with the evaluation files found locally, is refused
(:class:`EvalSetError`). Training on them would invalidate CoCoNot numbers.

This package holds :func:`export`; its steps live in ``kinds`` (the two kinds), ``load``
(reading, schema, hub), ``eval_guard`` (evaluation-set detection), ``selection`` (filters,
shuffle/limit, split), ``formats`` (records per format), ``system_prompt`` (the system
message) and ``writers`` (output paths, overwrite checks, JSONL and ``DatasetDict`` files).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.dataset import resolve_data_dir
from coconot_tasks.tools.export.eval_guard import EvalCheck, EvalSetError, eval_file_name_reason
from coconot_tasks.tools.export.formats import (
    ALL_FORMATS,
    DEFAULT_FORMAT,
    FORMATS,
    HF_DATASET,
    record_layout,
    resolve_format,
    to_record,
)
from coconot_tasks.tools.export.kinds import KINDS, PREFERENCE, SFT, check_kind
from coconot_tasks.tools.export.load import LOCAL_FILES_TRAIN, TrainingRows, load_training_rows
from coconot_tasks.tools.export.selection import (
    TRAIN,
    VALIDATION,
    check_limit,
    check_val_fraction,
    filter_rows,
    select_rows,
    split_rows,
)
from coconot_tasks.tools.export.system_prompt import resolve_system_prompt
from coconot_tasks.tools.export.writers import check_outputs, output_paths, write_splits

__all__ = [
    "ALL_FORMATS",
    "DEFAULT_FORMAT",
    "FORMATS",
    "HF_DATASET",
    "KINDS",
    "LOCAL_FILES_TRAIN",
    "PREFERENCE",
    "SFT",
    "TRAIN",
    "VALIDATION",
    "EvalCheck",
    "EvalSetError",
    "ExportResult",
    "TrainingRows",
    "eval_file_name_reason",
    "export",
    "load_training_rows",
    "split_rows",
]


@dataclass
class ExportResult:
    """What an export wrote."""

    kind: str
    fmt: str
    source: str
    paths: dict[str, Path]
    counts: dict[str, int]
    category_counts: dict[str, Counter[str]]
    eval_check: EvalCheck
    system_prompt: str | None = None


def export(
    kind: str,
    fmt: str | None,
    output: str | os.PathLike[str],
    *,
    source: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
    limit: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    val_fraction: float | None = None,
    system_prompt: str | None = None,
    with_metadata: bool = False,
    strip_responses: bool = False,
    overwrite: bool = False,
) -> ExportResult:
    """Load, guard, filter, split, convert and write CoCoNot training data of ``kind``.

    ``fmt`` defaults to ``messages`` (SFT) or ``trl-dpo`` (preference). ``system_prompt`` is
    ``"official"`` (the paper's prompt), any other text, or None. Everything that can be
    checked before loading is (format, fraction, limit, output paths, system prompt).

    Raises:
        DataError (EvalSetError for evaluation data): every problem of the input.
    """
    check_kind(kind)
    fmt = resolve_format(kind, fmt)
    if val_fraction is not None:
        check_val_fraction(val_fraction)
    check_limit(limit)
    out = Path(output).expanduser()
    paths = output_paths(out, fmt, validation=val_fraction is not None)
    local_dir = resolve_data_dir(data_dir, must_exist=False)
    input_file = (
        source if source is not None else (Path(local_dir) / LOCAL_FILES_TRAIN[kind] if local_dir else None)
    )
    check_outputs(list(paths.values()), fmt, overwrite, str(input_file) if input_file is not None else None)
    system_text = resolve_system_prompt(system_prompt, local_dir)

    loaded = load_training_rows(kind, source=source, data_dir=data_dir, revision=revision)
    rows = filter_rows(loaded.rows, categories, subcategories)
    rows = select_rows(rows, shuffle=shuffle, seed=seed, limit=limit)
    splits: dict[str, list[dict[str, Any]]]
    if val_fraction is not None:
        train, val = split_rows(rows, val_fraction, seed=seed)
        splits = {TRAIN: train, VALIDATION: val}
    else:
        splits = {TRAIN: rows}
    layout = record_layout(kind, fmt)
    records = {
        name: [to_record(r, layout, system_text, with_metadata, strip_responses) for r in split]
        for name, split in splits.items()
    }
    write_splits(records, fmt, paths)
    return ExportResult(
        kind=kind,
        fmt=fmt,
        source=loaded.source,
        paths=paths,
        counts={name: len(split) for name, split in splits.items()},
        category_counts={name: Counter(str(r["category"]) for r in split) for name, split in splits.items()},
        eval_check=loaded.eval_check,
        system_prompt=system_text,
    )
