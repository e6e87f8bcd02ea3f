"""Load the CoCoNot evaluation sets: the HF hub at a pinned revision, or a local directory.

Local directories hold the official JSONL files (as in github.com/allenai/noncompliance
``data/``): ``coconot_eval.jsonl`` (original) and ``coconot_contrast_eval.jsonl``
(contrast). Every row is checked; an error names the file, the row and the problem.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL

HUB_REPO = "allenai/coconot"
HUB_REVISION = "2cbe16aabf9069f17e48c8daad8aeabc29469eb7"
ENV_DATA_DIR = "COCONOT_DATA_DIR"
ENV_REVISION = "COCONOT_DATA_REVISION"

LOCAL_FILES: dict[str, str] = {
    ORIGINAL: "coconot_eval.jsonl",
    CONTRAST: "coconot_contrast_eval.jsonl",
}
REQUIRED_FIELDS = ("id", "category", "subcategory", "prompt")


class DataError(ValueError):
    """The data set is missing or a row does not have CoCoNot's schema."""


def validate_rows(
    rows: Iterable[Mapping[str, Any]], source: str, numbers: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Check every row's schema; return the rows as plain dicts.

    Args:
        rows: the parsed rows.
        source: the file (or data set) name used in error messages.
        numbers: each row's line number in the file (default: 1, 2, 3, ...).

    Raises:
        DataError: naming ``source``, the row's line number and the problem.
    """
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    rows = list(rows)
    line_numbers = list(numbers) if numbers is not None else list(range(1, len(rows) + 1))
    for number, row in zip(line_numbers, rows, strict=True):
        if not isinstance(row, Mapping):
            raise DataError(f"{source}, row {number}: expected a JSON object, got {type(row).__name__}")
        for field in REQUIRED_FIELDS:
            value = row.get(field)
            if not isinstance(value, str) or not value.strip():
                problem = "is missing" if field not in row else f"must be a non-empty string, got {value!r}"
                raise DataError(f"{source}, row {number}: field {field!r} {problem}")
        row_id = str(row["id"])
        if row_id in seen:
            raise DataError(f"{source}, row {number}: duplicate id {row_id!r} (first at row {seen[row_id]})")
        seen[row_id] = number
        checked.append(dict(row))
    if not checked:
        raise DataError(f"{source}: no rows")
    return checked


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read and validate one official CoCoNot JSONL file."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows, numbers = parse_jsonl(path)
    return validate_rows(rows, str(path), numbers)


def parse_jsonl(path: Path) -> tuple[list[Any], list[int]]:
    """The JSON values of the non-blank lines of ``path`` (UTF-8), and their 1-based line numbers.

    Raises:
        DataError: a line is not valid JSON (the message names the file and the line).
        UnicodeDecodeError: the file is not UTF-8 text.
    """
    rows: list[Any] = []
    numbers: list[int] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}, row {number}: invalid JSON ({exc.msg})") from None
            numbers.append(number)
    return rows, numbers


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """Return the local data directory chosen by argument or ``COCONOT_DATA_DIR``, if any."""
    chosen = data_dir or os.environ.get(ENV_DATA_DIR)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if not path.is_dir():
        raise DataError(f"data directory {path} does not exist (from data_dir / {ENV_DATA_DIR})")
    return path


def load_rows(
    set_name: str,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
) -> list[dict[str, Any]]:
    """Return the validated test rows of ``set_name`` (``"original"`` or ``"contrast"``)."""
    if set_name not in LOCAL_FILES:
        raise DataError(f"unknown CoCoNot set {set_name!r}; expected one of {list(LOCAL_FILES)}")
    local = resolve_data_dir(data_dir)
    if local is not None:
        return read_jsonl(local / LOCAL_FILES[set_name])
    offline = (
        f"Point {ENV_DATA_DIR} (or --metadata data_dir=...) at a directory with {LOCAL_FILES[set_name]}."
    )
    hub, source = load_hub_split(set_name, "test", revision, offline)
    return validate_rows(hub, source)


def load_hub_split(config: str, split: str, revision: str | None, offline_hint: str) -> tuple[list[Any], str]:
    """The rows of ``allenai/coconot`` ``config``/``split`` at ``revision`` (else ``COCONOT_DATA_REVISION``,
    else the pin), and a name for them in messages; ``offline_hint`` says what to do without the hub."""
    import datasets

    rev = revision or os.environ.get(ENV_REVISION) or HUB_REVISION
    source = f"{HUB_REPO} (config {config!r}, split {split!r}, revision {rev[:12]})"
    try:
        hub = datasets.load_dataset(HUB_REPO, config, split=split, revision=rev)
    except Exception as exc:
        raise DataError(f"could not load {source}: {exc}. Offline? {offline_hint}") from exc
    return list(hub), source


def load_dataset_dict(
    set_name: str,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    system_prompt: str | None = None,
) -> Any:
    """Return a ``datasets.DatasetDict`` with one ``test`` split (what lm-eval expects).

    With ``system_prompt``, every row also carries it in a ``system_prompt`` column (the
    system-prompt task variants name that column as their ``description``).
    """
    import datasets

    rows = load_rows(set_name, data_dir=data_dir, revision=revision)
    columns = {key: [row.get(key, "") for row in rows] for key in (*REQUIRED_FIELDS, "response")}
    if system_prompt is not None:
        columns["system_prompt"] = [system_prompt] * len(rows)
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(columns)})
