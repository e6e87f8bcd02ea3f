"""Writing the exported rows: the formats of each kind, the system message, output paths and files."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from coconot_tasks.benchmark.dataset import DataError
from coconot_tasks.benchmark.official_files import ResourceError, load_system_prompt
from coconot_tasks.tools.export.load import PREFERENCE, SFT
from coconot_tasks.tools.export.selection import TRAIN, VALIDATION

MESSAGES: Final = "messages"
TRL_DPO: Final = "trl-dpo"
OPENAI_DPO: Final = "openai-dpo"
HF_DATASET: Final = "hf-dataset"
FORMATS: Final[dict[str, tuple[str, ...]]] = {
    SFT: (MESSAGES, HF_DATASET),
    PREFERENCE: (TRL_DPO, OPENAI_DPO, HF_DATASET),
}
DEFAULT_FORMAT: Final[dict[str, str]] = {SFT: MESSAGES, PREFERENCE: TRL_DPO}
ALL_FORMATS: Final = (MESSAGES, TRL_DPO, OPENAI_DPO, HF_DATASET)
#: The CoCoNot fields of a record's ``metadata`` (added on request).
METADATA_FIELDS: Final = ("id", "category", "subcategory")


def resolve_format(kind: str, fmt: str | None) -> str:
    """``fmt``, or the default format of ``kind`` for None; a format of the other kind raises DataError."""
    fmt = fmt or DEFAULT_FORMAT[kind]
    if fmt not in FORMATS[kind]:
        raise DataError(
            f"format {fmt!r} does not fit {kind} data; {kind} formats: {', '.join(FORMATS[kind])}"
        )
    return fmt


def resolve_system_prompt(value: str | None, data_dir: Path | None) -> str | None:
    """``"official"``: the paper's system prompt (a copy in ``data_dir`` first); other text is used as is
    (empty text, or no official prompt offline without a copy: DataError)."""
    if value is None:
        return None
    if not value.strip():
        raise DataError("the system prompt is empty")
    if value != "official":
        return value
    try:
        return load_system_prompt(data_dir)
    except ResourceError as exc:
        raise DataError(str(exc)) from exc


def to_record(
    row: Mapping[str, Any],
    layout: str,
    system_prompt: str | None = None,
    with_metadata: bool = False,
    strip_responses: bool = False,
) -> dict[str, Any]:
    """One validated row as one line of ``layout`` (``messages``, ``trl-dpo`` or ``openai-dpo``).

    Texts are kept as published unless ``strip_responses`` (in the preference data, 487 of 927
    ``rejected`` responses start with a space and no ``chosen`` one does: a surface cue).
    """

    def reply(name: str) -> dict[str, str]:
        text = str(row[name])
        return {"role": "assistant", "content": text.strip() if strip_responses else text}

    context = [{"role": "system", "content": system_prompt}] if system_prompt is not None else []
    user = {"role": "user", "content": str(row["prompt"])}
    record: dict[str, Any]
    if layout == MESSAGES:
        record = {"messages": [*context, user, reply("response")]}
    elif layout == TRL_DPO:
        record = {"prompt": [*context, user], "chosen": [reply("chosen")], "rejected": [reply("rejected")]}
    else:
        record = {
            "input": {"messages": [*context, user]},
            "preferred_output": [reply("chosen")],
            "non_preferred_output": [reply("rejected")],
        }
    if with_metadata:
        record["metadata"] = {name: str(row[name]) for name in METADATA_FIELDS}
    return record


def output_paths(output: Path, fmt: str, validation: bool) -> dict[str, Path]:
    """Where each split goes: ``NAME.jsonl``, or ``NAME.train.jsonl`` and ``NAME.validation.jsonl``
    with a validation split; ``hf-dataset``: the directory itself."""
    if fmt == HF_DATASET or not validation:
        return {TRAIN: output}
    suffix = output.suffix or ".jsonl"
    return {split: output.with_name(f"{output.stem}.{split}{suffix}") for split in (TRAIN, VALIDATION)}


def check_outputs(paths: Sequence[Path], fmt: str, overwrite: bool, source: Path | None = None) -> None:
    """Refuse (DataError) to clobber files unless ``overwrite``; never the source or a foreign directory."""
    for path in paths:
        if source is not None and source.exists() and path.resolve() == source.resolve():
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


def write_splits(
    records: Mapping[str, Sequence[Mapping[str, Any]]], fmt: str, paths: Mapping[str, Path]
) -> None:
    """Write each split's records to its path (``hf-dataset``: one ``DatasetDict`` at the ``train`` path,
    replacing one saved there)."""
    if fmt != HF_DATASET:
        for name, split_records in records.items():
            write_jsonl(split_records, paths[name])
        return
    import datasets  # import cost (~0.5 s); only this format needs it

    dataset = datasets.DatasetDict(
        {name: datasets.Dataset.from_list([dict(r) for r in split]) for name, split in records.items()}
    )
    path = paths[TRAIN]
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_to_disk(str(path))
