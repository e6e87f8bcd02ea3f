"""Reading CoCoNot training rows of either kind (one file, a data directory or the hub), schema-checked
and refused when they are the evaluation sets (by file name, ids or prompts); an error names the file,
the row and the problem."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from coconot_tasks.benchmark.dataset import (
    ENV_DATA_DIR,
    HUB_REPO,
    LOCAL_FILES,
    DataError,
    check_rows,
    load_hub_split,
    parse_jsonl,
    resolve_data_dir,
)

#: Prompts with noncompliant responses (hub config ``original``, split ``train``).
SFT: Final = "sft"
#: Contrast prompts with a compliant ``chosen`` and an over-refusing ``rejected`` response
#: (hub config ``pref``, split ``train``).
PREFERENCE: Final = "preference"
KINDS: Final = (SFT, PREFERENCE)

#: Local file name of each kind in a data directory (``coconot_pref.jsonl`` as in the official
#: repository's ``data/``; the SFT split has no file there, so this package names it).
LOCAL_FILES_TRAIN: Final[dict[str, str]] = {SFT: "coconot_sft.jsonl", PREFERENCE: "coconot_pref.jsonl"}

#: (hub config, split) of each kind.
HUB_SPLITS: Final[dict[str, tuple[str, str]]] = {SFT: ("original", "train"), PREFERENCE: ("pref", "train")}

#: Fields required besides ``id, category, subcategory, prompt`` (non-empty strings).
EXTRA_FIELDS: Final[dict[str, tuple[str, ...]]] = {SFT: ("response",), PREFERENCE: ("chosen", "rejected")}

#: File names of the evaluation sets (current official names, and an older one).
EVAL_FILE_NAMES: Final = (*LOCAL_FILES.values(), "coconot_evaluation.jsonl")
_EVAL_NAME_TOKENS: Final = frozenset({"eval", "evaluation", "test"})
#: Share of a source's prompts found in the evaluation sets from which it is refused even with
#: fresh ids (below it, the overlap is reported as a warning).
PROMPT_OVERLAP_REFUSE: Final = 0.5
_REFUSAL: Final = (
    "Refusing to export evaluation rows as training data: training on the test set would invalidate "
    "CoCoNot numbers."
)


class EvalSetError(DataError):
    """The source holds CoCoNot evaluation rows: refusing to export them as training data."""


@dataclass
class EvalCheck:
    """What the evaluation-set guard compared a source with."""

    eval_files: list[Path]
    overlapping_prompts: int

    def describe(self) -> str:
        """One line for the export summary."""
        if not self.eval_files:
            return (
                "evaluation-overlap check skipped: no local evaluation files (point --data-dir or "
                f"{ENV_DATA_DIR} at a directory with {' / '.join(LOCAL_FILES.values())} to run it)"
            )
        names = ", ".join(str(p) for p in self.eval_files)
        line = f"no shared ids with the evaluation sets ({names})"
        if self.overlapping_prompts:
            line += (
                f"; WARNING: {self.overlapping_prompts} prompts also occur in the evaluation sets "
                "(kept: they are in the source as published)"
            )
        return line


@dataclass
class TrainingRows:
    """Validated training rows of one kind and where they came from."""

    kind: str
    rows: list[dict[str, Any]]
    source: str
    eval_check: EvalCheck


def check_kind(kind: str) -> None:
    """Refuse anything but :data:`SFT` and :data:`PREFERENCE` (DataError)."""
    if kind not in KINDS:
        raise DataError(f"unknown kind of training data {kind!r}; expected one of {list(KINDS)}")


def normalise_prompt(prompt: str) -> str:
    """A prompt up to case and whitespace: two prompts are the same prompt when these are equal."""
    return " ".join(prompt.split()).casefold()


def eval_file_name_reason(path: Path) -> str | None:
    """Why ``path`` is named like an evaluation file, or None."""
    if path.name in EVAL_FILE_NAMES:
        return f"{path.name} is a CoCoNot evaluation file"
    found = sorted(set(re.split(r"[^a-z0-9]+", path.name.lower())) & _EVAL_NAME_TOKENS)
    return f"its name contains {found[0]!r}, as evaluation/test split files do" if found else None


def find_eval_files(directories: Sequence[Path | None]) -> list[Path]:
    """The evaluation files present in ``directories`` (each file once)."""
    found: dict[Path, Path] = {}
    for directory in directories:
        if directory is not None and directory.is_dir():
            for path in (directory / name for name in EVAL_FILE_NAMES):
                if path.is_file():
                    found.setdefault(path.resolve(), path)
    return list(found.values())


def check_not_eval(rows: Sequence[Mapping[str, Any]], source: str, eval_files: Sequence[Path]) -> EvalCheck:
    """Refuse (EvalSetError, with the evidence) rows that share an id with ``eval_files`` or have most
    of their prompts there; lines of those files that are not JSON objects are skipped."""
    eval_ids: set[str] = set()
    eval_prompts: set[str] = set()
    for path in eval_files:
        with path.open(encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(row, dict):
                    if row.get("id") is not None:
                        eval_ids.add(str(row["id"]))
                    if isinstance(row.get("prompt"), str):
                        eval_prompts.add(normalise_prompt(row["prompt"]))
    compared = ", ".join(str(p) for p in eval_files)
    shared = [str(row["id"]) for row in rows if str(row["id"]) in eval_ids]
    if shared:
        examples = ", ".join(repr(i) for i in shared[:3])
        raise EvalSetError(
            f"{source}: {len(shared)} of {len(rows)} rows have ids of the CoCoNot evaluation sets "
            f"({examples}{', ...' if len(shared) > 3 else ''}; compared with {compared}). {_REFUSAL}"
        )
    overlapping = sum(1 for row in rows if normalise_prompt(str(row["prompt"])) in eval_prompts)
    if rows and overlapping / len(rows) >= PROMPT_OVERLAP_REFUSE:
        raise EvalSetError(
            f"{source}: {overlapping} of {len(rows)} prompts are prompts of the CoCoNot evaluation sets "
            f"({compared}). {_REFUSAL}"
        )
    return EvalCheck(list(eval_files), overlapping)


def check_training_rows(
    kind: str,
    rows: Sequence[Mapping[str, Any]],
    source: str,
    numbers: Sequence[int] | None = None,
    eval_files: Sequence[Path] = (),
) -> TrainingRows:
    """Check the CoCoNot schema, that the rows are not evaluation rows, and the fields of ``kind``
    (after the guard, so that an evaluation file is named as such rather than as one with empty
    responses; a missing field hints at the other kind's file)."""
    checked = check_rows(rows, source, numbers)
    eval_check = check_not_eval(checked, source, eval_files)
    for number, row in zip(numbers or range(1, len(checked) + 1), checked, strict=True):
        for name in EXTRA_FIELDS[kind]:
            value = row.get(name)
            if name not in row:
                other = "preference" if kind == SFT else "SFT"
                raise DataError(
                    f"{source}, row {number}: field {name!r} is missing (a {kind} row needs "
                    f"{', '.join(EXTRA_FIELDS[kind])}; is this the {other} file?)"
                )
            if not isinstance(value, str) or not value.strip():
                problem = f"must be a non-empty string, got {value!r}"
                raise DataError(f"{source}, row {number}: field {name!r} {problem}")
    return TrainingRows(kind, checked, source, eval_check)


def read_training_file(kind: str, path: Path, eval_files: Sequence[Path] = ()) -> TrainingRows:
    """Read and validate one training file (JSONL, or parquet as downloaded from the hub)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    if path.suffix != ".parquet":
        rows, numbers = parse_jsonl(path)
        return check_training_rows(kind, rows, str(path), numbers, eval_files)
    import pyarrow.parquet as pq  # import cost; only parquet files need it

    try:
        rows = pq.read_table(path).to_pylist()
    except Exception as exc:
        raise DataError(f"{path}: not a readable parquet file ({exc})") from None
    return check_training_rows(kind, rows, str(path), eval_files=eval_files)


def load_training_rows(
    kind: str,
    source: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
) -> TrainingRows:
    """Load and validate the training rows of ``kind``: from ``source`` (one JSONL or parquet file),
    else ``data_dir`` / ``COCONOT_DATA_DIR`` (:data:`LOCAL_FILES_TRAIN`), else the hub (EvalSetError for
    an evaluation set, DataError for missing data or a row without CoCoNot's schema)."""
    check_kind(kind)
    explicit_dir = Path(data_dir).expanduser() if data_dir else None
    if explicit_dir is not None and not explicit_dir.is_dir():
        raise DataError(f"data directory {explicit_dir} does not exist")
    env_dir = resolve_data_dir(None, must_exist=False)
    if source is not None:
        path = Path(source).expanduser()
        reason = eval_file_name_reason(path)
        if reason:
            raise EvalSetError(
                f"{path}: refusing to export it as training data: {reason}. Training on the CoCoNot "
                "evaluation sets would invalidate CoCoNot numbers. Use the training data (hub "
                f"{HUB_REPO} config {HUB_SPLITS[kind][0]!r} split 'train', or {LOCAL_FILES_TRAIN[kind]}); "
                "if this file really is training data, give it a name without 'eval' or 'test'."
            )
        return read_training_file(kind, path, find_eval_files([path.parent, explicit_dir, env_dir]))
    local = explicit_dir or resolve_data_dir(None)  # raises if COCONOT_DATA_DIR does not exist
    if local is not None:
        path = local / LOCAL_FILES_TRAIN[kind]
        if not path.is_file():
            origin = "--data-dir" if explicit_dir is not None else ENV_DATA_DIR
            raise DataError(
                f"{path}: file not found (data directory from {origin}). Put the {kind} training data "
                f"there as {LOCAL_FILES_TRAIN[kind]}, point --source at the file, or (online) unset "
                f"{ENV_DATA_DIR} to load {HUB_REPO} from the hub."
            )
        return read_training_file(kind, path, find_eval_files([local, env_dir]))
    config, split = HUB_SPLITS[kind]
    offline = f"Use --data-dir DIR (or {ENV_DATA_DIR}) with {LOCAL_FILES_TRAIN[kind]}, or --source FILE."
    hub, source_name = load_hub_split(config, split, revision, offline)
    # The hub's train splits are not evaluation rows (no local evaluation files to compare with here).
    return check_training_rows(kind, hub, source_name)
