"""Reading CoCoNot training rows (one file, a data directory or the hub), schema-checked and guarded
against evaluation sets; an error names the file, the row and the problem."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from coconot_tasks.benchmark.dataset import (
    ENV_DATA_DIR,
    HUB_REPO,
    DataError,
    check_rows,
    load_hub_split,
    parse_jsonl,
    resolve_data_dir,
)
from coconot_tasks.tools.export.eval_guard import (
    EvalCheck,
    EvalSetError,
    check_not_eval,
    eval_file_name_reason,
    find_eval_files,
)
from coconot_tasks.tools.export.kinds import PREFERENCE, SFT, check_kind

#: Local file name of each kind in a data directory (``coconot_pref.jsonl`` as in the official
#: repository's ``data/``; the SFT split has no file there, so this package names it).
LOCAL_FILES_TRAIN: Final[dict[str, str]] = {SFT: "coconot_sft.jsonl", PREFERENCE: "coconot_pref.jsonl"}

#: (hub config, split) of each kind.
HUB_SPLITS: Final[dict[str, tuple[str, str]]] = {SFT: ("original", "train"), PREFERENCE: ("pref", "train")}

#: Fields required besides ``id, category, subcategory, prompt`` (non-empty strings).
EXTRA_FIELDS: Final[dict[str, tuple[str, ...]]] = {SFT: ("response",), PREFERENCE: ("chosen", "rejected")}


@dataclass
class TrainingRows:
    """Validated training rows of one kind and where they came from."""

    kind: str
    rows: list[dict[str, Any]]
    source: str
    eval_check: EvalCheck


def _parse_rows(path: Path) -> tuple[list[Any], list[int]]:
    """The raw rows of a JSONL or parquet file and each row's line (or row) number."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq  # import cost; only parquet files need it

        try:
            table = pq.read_table(path).to_pylist()
        except Exception as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from None
        return table, list(range(1, len(table) + 1))
    return parse_jsonl(path)


def _check_extra_fields(
    kind: str, rows: Sequence[Mapping[str, Any]], source: str, numbers: Sequence[int] | None
) -> None:
    """Check the :data:`EXTRA_FIELDS` of ``kind`` (a missing one hints at the other kind's file)."""
    line_numbers = list(numbers) if numbers is not None else list(range(1, len(rows) + 1))
    for number, row in zip(line_numbers, rows, strict=True):
        for name in EXTRA_FIELDS[kind]:
            value = row.get(name)
            if not isinstance(value, str) or not value.strip():
                problem = "is missing" if name not in row else f"must be a non-empty string, got {value!r}"
                hint = (
                    f" (a {kind} row needs {', '.join(EXTRA_FIELDS[kind])}; is this the "
                    f"{'preference' if kind == SFT else 'SFT'} file?)"
                    if name not in row
                    else ""
                )
                raise DataError(f"{source}, row {number}: field {name!r} {problem}{hint}")


def check_training_rows(
    kind: str,
    rows: Sequence[Mapping[str, Any]],
    source: str,
    numbers: Sequence[int] | None = None,
    eval_files: Sequence[Path] = (),
) -> TrainingRows:
    """Check the CoCoNot schema, that the rows are not evaluation rows, and the fields of ``kind``.

    The evaluation-set guard comes before the kind's fields, so that an evaluation file is named
    as such rather than as a file with empty responses.
    """
    checked = check_rows(rows, source, numbers)
    eval_check = check_not_eval(checked, source, eval_files)
    _check_extra_fields(kind, checked, source, numbers)
    return TrainingRows(kind, checked, source, eval_check)


def read_training_file(kind: str, path: Path, eval_files: Sequence[Path] = ()) -> TrainingRows:
    """Read and validate one training file (JSONL, or parquet as downloaded from the hub)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows, numbers = _parse_rows(path)
    return check_training_rows(kind, rows, str(path), numbers, eval_files)


def _refuse_eval_file_name(kind: str, path: Path) -> None:
    """Refuse a source file named like an evaluation file, before reading it."""
    reason = eval_file_name_reason(path)
    if reason:
        raise EvalSetError(
            f"{path}: refusing to export it as training data: {reason}. Training on the CoCoNot "
            "evaluation sets would invalidate CoCoNot numbers. Use the training data (hub "
            f"{HUB_REPO} config {HUB_SPLITS[kind][0]!r} split 'train', or {LOCAL_FILES_TRAIN[kind]}); "
            "if this file really is training data, give it a name without 'eval' or 'test'."
        )


def _load_from_hub(kind: str, revision: str | None) -> TrainingRows:
    """The hub split of ``kind`` at ``revision`` / ``COCONOT_DATA_REVISION`` / the pin."""
    config, split = HUB_SPLITS[kind]
    offline = f"Use --data-dir DIR (or {ENV_DATA_DIR}) with {LOCAL_FILES_TRAIN[kind]}, or --source FILE."
    hub, source_name = load_hub_split(config, split, revision, offline)
    # The hub's train splits are not evaluation rows (no local evaluation files to compare with here).
    return check_training_rows(kind, hub, source_name)


def load_training_rows(
    kind: str,
    source: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
) -> TrainingRows:
    """Load and validate the training rows of ``kind``: from ``source`` (one JSONL or parquet
    file), else ``data_dir`` / ``COCONOT_DATA_DIR`` (:data:`LOCAL_FILES_TRAIN`), else the hub.

    Raises:
        EvalSetError: the source is an evaluation set.
        DataError: missing data or a row without CoCoNot's schema.
    """
    check_kind(kind)
    explicit_dir = Path(data_dir).expanduser() if data_dir else None
    if explicit_dir is not None and not explicit_dir.is_dir():
        raise DataError(f"data directory {explicit_dir} does not exist")
    env_dir = resolve_data_dir(None, must_exist=False)
    if source is not None:
        path = Path(source).expanduser()
        _refuse_eval_file_name(kind, path)
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
    return _load_from_hub(kind, revision)
