"""Read XSTest v2 completions files (the human-labelled responses of the ``xstest`` check).

XSTest v2 (Röttger et al. 2024, github.com/paul-rottger/exaggerated-safety, CC BY 4.0): five
models' responses to 450 prompts of 18 types, labelled by two annotators and adjudicated
(``final_label``). Careful: XSTest's ``contrast_*`` prompt types are the *unsafe* ones, while
CoCoNot's contrast set holds the *benign* look-alikes. Errors name the file, the row and the line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, TypeVar

from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL

T = TypeVar("T")

#: Environment variable naming the default XSTest directory (no default otherwise).
ENV_XSTEST_DIR: Final = "COCONOT_XSTEST_DIR"

#: XSTest v2 prompt types. Unsafe types (should be refused) are the ``contrast_*`` ones.
SAFE_TYPES: Final = (
    "homonyms",
    "figurative_language",
    "safe_targets",
    "safe_contexts",
    "definitions",
    "real_group_nons_discr",
    "nons_group_real_discr",
    "historical_events",
    "privacy_public",
    "privacy_fictional",
)
UNSAFE_TYPES: Final = (
    "contrast_homonyms",
    "contrast_figurative_language",
    "contrast_safe_targets",
    "contrast_safe_contexts",
    "contrast_definitions",
    "contrast_discr",
    "contrast_historical_events",
    "contrast_privacy",
)

FULL_COMPLIANCE: Final = "1_full_compliance"
FULL_REFUSAL: Final = "2_full_refusal"
PARTIAL_REFUSAL: Final = "3_partial_refusal"
HUMAN_LABELS: Final = (FULL_COMPLIANCE, FULL_REFUSAL, PARTIAL_REFUSAL)

#: Columns every completions file must have.
REQUIRED_COLUMNS: Final = ("id", "type", "prompt", "completion", "final_label")

#: Names of the human-vs-judge groups for the two halves of XSTest.
UNSAFE: Final = "unsafe"
SAFE: Final = "safe"
SET_OF_SAFETY: Final = {UNSAFE: ORIGINAL, SAFE: CONTRAST}

_FILE_PATTERN: Final = re.compile(r"^xstest_(?:v\d+_)?completions_(?P<model>.+)\.csv$", re.IGNORECASE)


def safety_of(prompt_type: str) -> str:
    """``"unsafe"`` for the ``contrast_*`` prompt types (should be refused), else ``"safe"``."""
    return UNSAFE if prompt_type in UNSAFE_TYPES else SAFE


class XSTestError(ValueError):
    """An XSTest path or file is unusable; the message names the file (and row)."""


@dataclass(frozen=True)
class XSTestRow:
    """One human-labelled response of an XSTest completions file."""

    model: str  # source model, from the file name (``xstest_v2_completions_<model>.csv``)
    source: str  # the file it came from
    row: int  # 1-based data row in that file (the header is row 0)
    id: str
    type: str
    prompt: str
    completion: str
    final_label: str
    annotation_1: str = ""
    annotation_2: str = ""

    @property
    def safety(self) -> str:
        """``"unsafe"`` (should be refused) or ``"safe"`` (should be complied with)."""
        return safety_of(self.type)

    @property
    def set_name(self) -> str:
        """The CoCoNot set whose judge prompt the response is judged with."""
        return SET_OF_SAFETY[self.safety]

    @property
    def key(self) -> str:
        """A unique id across files: ``<model>:<id>``."""
        return f"{self.model}:{self.id}"


def model_name(path: Path) -> str:
    """The source model of a completions file: ``xstest_v2_completions_gpt4.csv`` -> ``gpt4``."""
    match = _FILE_PATTERN.match(path.name)
    return match.group("model") if match else path.stem


def find_completion_files(paths: Iterable[Path], models: Sequence[str] | None = None) -> list[Path]:
    """The completions files under ``paths`` (directories or CSV files), optionally only ``models``."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _FILE_PATTERN.match(p.name))
            if not found:
                raise XSTestError(
                    f"{path}: no XSTest completions files (xstest_v2_completions_<model>.csv) "
                    "in this directory"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise XSTestError(f"{path}: no such file or directory")
    by_model: dict[str, Path] = {}
    for file in files:
        name = model_name(file)
        if name in by_model and by_model[name].resolve() != file.resolve():
            raise XSTestError(f"{file} and {by_model[name]} are both completions of model {name!r}")
        by_model.setdefault(name, file)
    if models:
        missing = [m for m in models if m not in by_model]
        if missing:
            raise XSTestError(
                f"no completions file for model(s) {', '.join(missing)}; available: {', '.join(by_model)}"
            )
        return [by_model[m] for m in dict.fromkeys(models)]
    return list(by_model.values())


def load_completions(path: Path) -> list[XSTestRow]:
    """Read and check one XSTest completions CSV (else :class:`XSTestError`)."""
    model = model_name(path)
    rows: list[XSTestRow] = []
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames
            if not header:
                raise XSTestError(
                    f"{path}: empty file (expected a CSV header with {', '.join(REQUIRED_COLUMNS)})"
                )
            missing = [c for c in REQUIRED_COLUMNS if c not in header]
            if missing:
                raise XSTestError(
                    f"{path}: missing column(s) {', '.join(missing)} (header: {', '.join(header)}); "
                    "expected an XSTest v2 completions file"
                )
            seen: dict[str, int] = {}
            for number, record in enumerate(reader, start=1):
                where = f"{path}: row {number} (line {reader.line_num})"
                rows.append(_check_row(record, model, str(path), number, where, seen))
    except UnicodeDecodeError as exc:
        raise XSTestError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except csv.Error as exc:
        raise XSTestError(f"{path}: not a valid CSV file ({exc})") from None
    except OSError as exc:
        raise XSTestError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not rows:
        raise XSTestError(f"{path}: no data rows")
    return rows


def _check_row(
    record: dict[str | Any, Any], model: str, source: str, number: int, where: str, seen: dict[str, int]
) -> XSTestRow:
    if None in record:
        raise XSTestError(f"{where}: more fields than columns in the header")
    if any(value is None for value in record.values()):
        raise XSTestError(f"{where}: fewer fields than columns in the header")
    row_id = record["id"].strip()
    if not row_id:
        raise XSTestError(f"{where}: empty id")
    if row_id in seen:
        raise XSTestError(f"{where}: id {row_id!r} already used in row {seen[row_id]}")
    seen[row_id] = number
    prompt_type = record["type"].strip()
    if prompt_type not in SAFE_TYPES and prompt_type not in UNSAFE_TYPES:
        raise XSTestError(
            f"{where}: unknown XSTest prompt type {prompt_type!r}; expected one of "
            f"{', '.join(SAFE_TYPES + UNSAFE_TYPES)}"
        )
    if not record["prompt"].strip():
        raise XSTestError(f"{where}: empty prompt")
    labels = {name: record.get(name, "").strip() for name in ("final_label", "annotation_1", "annotation_2")}
    for name, value in labels.items():
        if (name == "final_label" or value) and value not in HUMAN_LABELS:
            raise XSTestError(f"{where}: {name} {value!r} is not one of {', '.join(HUMAN_LABELS)}")
    return XSTestRow(
        model=model,
        source=source,
        row=number,
        id=row_id,
        type=prompt_type,
        prompt=record["prompt"],  # verbatim, as the model saw it
        completion=record["completion"],  # verbatim, as the model wrote it
        final_label=labels["final_label"],
        annotation_1=labels["annotation_1"],
        annotation_2=labels["annotation_2"],
    )


def evenly_spaced(rows: Sequence[T], limit: int | None) -> list[T]:
    """At most ``limit`` rows, evenly spaced over ``rows`` (all rows when ``limit`` is ``None``).

    XSTest files are ordered by prompt type in blocks of 25, so the first N rows would cover
    only the first types; evenly spaced rows cover all 18 types from N = 18 on.
    """
    if limit is None or limit >= len(rows):
        return list(rows)
    return [rows[i * len(rows) // limit] for i in range(limit)]
