"""CoCoNot's training data (``sft``, ``preference``), converted for the tools people fine-tune with:
:func:`export` reads the rows (``load``), chooses them (``selection``) and writes them (``writers``).
Formats and data sources: docs/tools.md ("Export training data") and ``coconot export --help``."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from coconot_tasks.benchmark.dataset import DataError, resolve_data_dir
from coconot_tasks.tools.export.load import (
    LOCAL_FILES_TRAIN,
    EvalCheck,
    EvalSetError,
    check_kind,
    eval_file_name_reason,
    load_training_rows,
)
from coconot_tasks.tools.export.selection import (
    TRAIN,
    VALIDATION,
    check_val_fraction,
    filter_rows,
    select_rows,
    split_rows,
)
from coconot_tasks.tools.export.writers import (
    DEFAULT_FORMAT,
    HF_DATASET,
    check_outputs,
    output_paths,
    resolve_format,
    resolve_system_prompt,
    to_record,
    write_splits,
)

__all__ = [
    "EvalSetError",
    "ExportResult",
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
    """Load, guard, filter, split, convert and write CoCoNot training data of ``kind``; every problem of
    the input is a DataError (EvalSetError for evaluation data), found before loading where it can be."""
    check_kind(kind)
    fmt = resolve_format(kind, fmt)
    if val_fraction is not None:
        check_val_fraction(val_fraction)
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    out = Path(output).expanduser()
    paths = output_paths(out, fmt, validation=val_fraction is not None)
    local_dir = resolve_data_dir(data_dir, must_exist=False)
    input_file = (
        Path(source) if source is not None else local_dir / LOCAL_FILES_TRAIN[kind] if local_dir else None
    )
    check_outputs(list(paths.values()), fmt, overwrite, input_file)
    system_text = resolve_system_prompt(system_prompt, local_dir)

    loaded = load_training_rows(kind, source=source, data_dir=data_dir, revision=revision)
    rows = filter_rows(loaded.rows, categories, subcategories)
    rows = select_rows(rows, shuffle=shuffle, seed=seed, limit=limit)
    splits = (
        dict(zip((TRAIN, VALIDATION), split_rows(rows, val_fraction, seed=seed), strict=True))
        if val_fraction is not None
        else {TRAIN: rows}
    )
    layout = DEFAULT_FORMAT[kind] if fmt == HF_DATASET else fmt  # hf-dataset rows: the kind's TRL layout
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
