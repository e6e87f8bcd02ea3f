"""Load and check the CoCoNot evaluation sets: the HF hub at a pinned revision, or a local directory
of the official JSONL files (as in github.com/allenai/noncompliance ``data/``)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.names import OFFICIAL_SET_NAME, slug
from coconot_tasks.benchmark.taxonomy import (
    CONTRAST,
    EXPECTED_COUNTS,
    OFFICIAL_ID_SHA256,
    ORIGINAL,
    categories,
    id_fingerprint,
    subcategories,
)

logger = logging.getLogger("coconot_tasks")

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


def check_rows(
    rows: Iterable[Mapping[str, Any]],
    source: str,
    numbers: Sequence[int] | None = None,
    set_name: str | None = None,
) -> list[dict[str, Any]]:
    """Check every row's schema (with ``set_name``: also its taxonomy); return the rows as dicts.
    A :class:`DataError` names ``source`` and the row's number (``numbers``, default 1, 2, 3, ...)."""
    checked: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    rows = list(rows)
    for number, row in zip(numbers or range(1, len(rows) + 1), rows, strict=True):
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
        if set_name is not None:
            _check_taxonomy(set_name, row, f"{source}, row {number}")
        checked.append(dict(row))
    if not checked:
        raise DataError(f"{source}: no rows")
    return checked


def _check_taxonomy(set_name: str, row: Mapping[str, Any], where: str) -> None:
    category, subcategory = row["category"], row["subcategory"]
    if (category, subcategory) in EXPECTED_COUNTS[set_name]:
        return
    valid = subcategories(set_name, category)
    if not valid:
        raise DataError(
            f"{where}: category {category!r} is not a category of the CoCoNot {set_name} set; "
            f"expected one of {categories(set_name)}"
        )
    raise DataError(
        f"{where}: subcategory {subcategory!r} does not exist under {category!r} in the CoCoNot "
        f"{set_name} set; expected one of {valid}"
    )


def official_set_differences(set_name: str, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """How ``rows`` differ from the official ``set_name`` test split: size, ids, rows per subcategory
    (empty: they are the official set)."""
    expected = EXPECTED_COUNTS[set_name]
    differences: list[str] = []
    if len(rows) != sum(expected.values()):
        differences.append(f"{len(rows)} rows instead of {sum(expected.values())}")
    if id_fingerprint(str(row["id"]) for row in rows) != OFFICIAL_ID_SHA256[set_name]:
        differences.append("its ids are not the official ones")
    counts = Counter((str(row["category"]), str(row["subcategory"])) for row in rows)
    changed = [
        f"{slug(category)}/{slug(subcategory)} {counts[category, subcategory]} (official {n})"
        for (category, subcategory), n in expected.items()
        if counts[category, subcategory] != n
    ]
    if changed:
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        differences.append(f"rows per subcategory: {', '.join(changed[:3])}{more}")
    return differences


def read_jsonl(path: Path, set_name: str | None = None) -> list[dict[str, Any]]:
    """Read and validate one official CoCoNot JSONL file (``set_name``: check its taxonomy too)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows, numbers = parse_jsonl(path)
    return check_rows(rows, str(path), numbers, set_name=set_name)


def parse_jsonl(path: Path) -> tuple[list[Any], list[int]]:
    """The JSON values of the non-blank lines of UTF-8 (BOM accepted) ``path``, and their line numbers."""
    rows: list[Any] = []
    numbers: list[int] = []
    for number, raw in enumerate(path.read_bytes().split(b"\n"), start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(
                f"{path}, row {number}: not UTF-8 text ({exc.reason} at byte {exc.start + 1} of the line); "
                "save the file as UTF-8"
            ) from None
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, row {number}: invalid JSON ({exc.msg})") from None
        numbers.append(number)
    return rows, numbers


def resolve_data_dir(
    data_dir: str | os.PathLike[str] | None = None, *, must_exist: bool = True
) -> Path | None:
    """The local data directory chosen by argument or ``COCONOT_DATA_DIR`` (the one place that
    reads it), if any; with ``must_exist`` a missing directory is a :class:`DataError`."""
    chosen = data_dir or os.environ.get(ENV_DATA_DIR)
    if not chosen:
        return None
    path = Path(chosen).expanduser()
    if must_exist and not path.is_dir():
        raise DataError(f"data directory {path} does not exist (from data_dir / {ENV_DATA_DIR})")
    return path


def load_rows(
    set_name: str, data_dir: str | os.PathLike[str] | None = None, revision: str | None = None
) -> list[dict[str, Any]]:
    """Return the validated test rows of ``set_name`` (``"original"`` or ``"contrast"``)."""
    return _load_rows(set_name, data_dir, revision)[0]


def _load_rows(
    set_name: str, data_dir: str | os.PathLike[str] | None, revision: str | None
) -> tuple[list[dict[str, Any]], str]:
    """The validated rows of ``set_name`` and where they came from (for messages)."""
    if set_name not in LOCAL_FILES:
        raise DataError(f"unknown CoCoNot set {set_name!r}; expected one of {list(LOCAL_FILES)}")
    local = resolve_data_dir(data_dir)
    if local is not None:
        path = local / LOCAL_FILES[set_name]
        return read_jsonl(path, set_name=set_name), str(path)
    hint = f"Point {ENV_DATA_DIR} (or --metadata data_dir=...) at a directory with {LOCAL_FILES[set_name]}."
    hub, source = load_hub_split(set_name, "test", revision, hint)
    return check_rows(hub, source, set_name=set_name), source


def load_hub_split(config: str, split: str, revision: str | None, offline_hint: str) -> tuple[list[Any], str]:
    """The rows of ``allenai/coconot`` ``config``/``split`` at ``revision`` (else ``COCONOT_DATA_REVISION``,
    else the pin), and a name for them in messages; ``offline_hint`` says what to do without the hub."""
    import datasets  # import cost (~0.5 s, measured); local files do without it

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
    """A ``datasets.DatasetDict`` with one ``test`` split (what lm-eval expects); ``system_prompt``
    fills the column the system-prompt tasks name as their ``description``. A set that is not the
    official one (as a whole: ``--limit`` selects rows later) gets a warning and ``official_set`` = 0."""
    import datasets  # import cost (~0.5 s, measured); local files do without it

    rows, source = _load_rows(set_name, data_dir, revision)
    differences = official_set_differences(set_name, rows)
    if differences:
        logger.warning(
            "CoCoNot %s: %s is NOT the official CoCoNot %s set (%s); its rates are not comparable with "
            "published CoCoNot numbers (%s = 0 in the results).",
            set_name, source, set_name, "; ".join(differences), OFFICIAL_SET_NAME,
        )  # fmt: skip
    columns = {key: [row.get(key, "") for row in rows] for key in (*REQUIRED_FIELDS, "response")}
    columns[OFFICIAL_SET_NAME] = [not differences] * len(rows)
    if system_prompt is not None:
        columns["system_prompt"] = [system_prompt] * len(rows)
    return datasets.DatasetDict({"test": datasets.Dataset.from_dict(columns)})
