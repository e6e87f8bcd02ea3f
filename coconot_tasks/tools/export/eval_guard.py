"""The guard that refuses CoCoNot's evaluation sets as training data.

A source is refused when it is named like an evaluation file (:func:`eval_file_name_reason`),
shares ids with the evaluation files found locally, or has most of its prompts in them
(:func:`check_not_eval`). Training on the evaluation sets would invalidate CoCoNot numbers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from coconot_tasks.benchmark.dataset import ENV_DATA_DIR, LOCAL_FILES, DataError

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

    eval_files: list[Path] = field(default_factory=list)
    overlapping_prompts: int = 0

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


def normalise_prompt(prompt: str) -> str:
    """A prompt up to case and whitespace: two prompts are the same prompt when these are equal."""
    return " ".join(prompt.split()).casefold()


def eval_file_name_reason(path: Path) -> str | None:
    """Why ``path`` is named like an evaluation file, or None."""
    if path.name in EVAL_FILE_NAMES:
        return f"{path.name} is a CoCoNot evaluation file"
    tokens = set(re.split(r"[^a-z0-9]+", path.name.lower()))
    found = sorted(tokens & _EVAL_NAME_TOKENS)
    if found:
        return f"its name contains {found[0]!r}, as evaluation/test split files do"
    return None


def find_eval_files(directories: Sequence[Path | None]) -> list[Path]:
    """The evaluation files present in ``directories`` (each file once)."""
    found: dict[Path, Path] = {}
    for directory in directories:
        if directory is None or not directory.is_dir():
            continue
        for name in EVAL_FILE_NAMES:
            path = directory / name
            if path.is_file():
                found.setdefault(path.resolve(), path)
    return list(found.values())


def _read_eval_keys(path: Path) -> tuple[set[str], set[str]]:
    """The ids and normalised prompts of one evaluation file (lines that are not objects skipped)."""
    ids: set[str] = set()
    prompts: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                if row.get("id") is not None:
                    ids.add(str(row["id"]))
                if isinstance(row.get("prompt"), str):
                    prompts.add(normalise_prompt(row["prompt"]))
    return ids, prompts


def check_not_eval(rows: Sequence[Mapping[str, Any]], source: str, eval_files: Sequence[Path]) -> EvalCheck:
    """Refuse rows that belong to the evaluation sets.

    Any id shared with an evaluation file, or most prompts found there, means the source is
    (a copy of) an evaluation set. Without ``eval_files`` nothing is compared.

    Raises:
        EvalSetError: with the evidence.
    """
    check = EvalCheck(eval_files=list(eval_files))
    if not eval_files:
        return check
    eval_ids: set[str] = set()
    eval_prompts: set[str] = set()
    for path in eval_files:
        ids, prompts = _read_eval_keys(path)
        eval_ids |= ids
        eval_prompts |= prompts
    shared = [str(row["id"]) for row in rows if str(row["id"]) in eval_ids]
    if shared:
        examples = ", ".join(repr(i) for i in shared[:3])
        raise EvalSetError(
            f"{source}: {len(shared)} of {len(rows)} rows have ids of the CoCoNot evaluation sets "
            f"({examples}{', ...' if len(shared) > 3 else ''}; compared with "
            f"{', '.join(str(p) for p in eval_files)}). {_REFUSAL}"
        )
    overlapping = sum(1 for row in rows if normalise_prompt(str(row["prompt"])) in eval_prompts)
    if rows and overlapping / len(rows) >= PROMPT_OVERLAP_REFUSE:
        raise EvalSetError(
            f"{source}: {overlapping} of {len(rows)} prompts are prompts of the CoCoNot evaluation sets "
            f"({', '.join(str(p) for p in eval_files)}). {_REFUSAL}"
        )
    check.overlapping_prompts = overlapping
    return check
