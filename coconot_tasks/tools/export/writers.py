"""Writing exported records: output paths, overwrite checks, JSONL files and saved ``DatasetDict``s."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.tools.export.formats import HF_DATASET
from coconot_tasks.tools.export.selection import TRAIN, VALIDATION


def output_paths(output: Path, fmt: str, validation: bool) -> dict[str, Path]:
    """Where each split goes: JSONL ``NAME.jsonl`` -> ``NAME.train.jsonl``/``NAME.validation.jsonl``
    with a validation split, else ``NAME.jsonl``; ``hf-dataset``: the directory itself."""
    if fmt == HF_DATASET or not validation:
        return {TRAIN: output}
    suffix = output.suffix or ".jsonl"
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return {split: output.with_name(f"{stem}.{split}{suffix}") for split in (TRAIN, VALIDATION)}


def check_outputs(paths: Sequence[Path], fmt: str, overwrite: bool, source: str | None = None) -> None:
    """Refuse to clobber files unless ``overwrite`` (and never the source or a foreign directory).

    Raises:
        DataError: an output is the source file, is of the wrong type (file or directory), or
            exists without ``overwrite``; or an ``hf-dataset`` output is a non-empty directory
            that is not a saved ``DatasetDict``.
    """
    for path in paths:
        if source is not None and Path(source).exists() and path.resolve() == Path(source).resolve():
            raise DataError(f"{path}: the output would overwrite the source file")
        if fmt == HF_DATASET:
            if path.exists() and not path.is_dir():
                raise DataError(f"{path} exists and is not a directory (hf-dataset writes a directory)")
            if path.is_dir() and any(path.iterdir()):
                if not overwrite:
                    raise DataError(f"{path} exists and is not empty; pass --overwrite to replace it")
                if not (path / "dataset_dict.json").is_file():
                    raise DataError(
                        f"{path} is not empty and not a saved DatasetDict: refusing to delete it even with "
                        "--overwrite; choose a new directory"
                    )
        else:
            if path.is_dir():
                raise DataError(f"{path} is a directory; JSONL formats write a file")
            if path.exists() and not overwrite:
                raise DataError(f"{path} exists; pass --overwrite to replace it")


def write_jsonl(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Write one JSON object per line (UTF-8, atomically replaced)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def save_hf_dataset(splits: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> None:
    """Save the splits as a ``datasets.DatasetDict`` (``datasets.load_from_disk(path)``).

    A ``DatasetDict`` already saved at ``path`` is replaced.
    """
    import datasets  # import cost (~0.4 s); only this format needs it

    dataset = datasets.DatasetDict(
        {name: datasets.Dataset.from_list([dict(r) for r in records]) for name, records in splits.items()}
    )
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_to_disk(str(path))


def write_splits(
    records: Mapping[str, Sequence[Mapping[str, Any]]], fmt: str, paths: Mapping[str, Path]
) -> None:
    """Write each split's records to its path from :func:`output_paths` (``hf-dataset``: all
    splits in one ``DatasetDict`` at the ``train`` path)."""
    if fmt == HF_DATASET:
        save_hf_dataset(records, paths[TRAIN])
    else:
        for name, split_records in records.items():
            write_jsonl(split_records, paths[name])
