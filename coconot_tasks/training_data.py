"""CoCoNot's training data, converted for the tools people fine-tune with.

Two kinds of training data come with CoCoNot (HF hub ``allenai/coconot``):

- ``sft``: config ``original``, split ``train``: 11,477 prompts with noncompliant responses
  (fields ``id, category, subcategory, prompt, response``);
- ``preference``: config ``pref``, split ``train``: 927 contrast prompts with a compliant
  ``chosen`` and an over-refusing ``rejected`` response (plus ``chosen_model`` and
  ``rejected_model``).

They load from the hub at the pinned revision (:data:`coconot_tasks.data.HUB_REVISION`), from
a local directory (``--data-dir`` / ``COCONOT_DATA_DIR``) holding :data:`LOCAL_FILES`, or from
one explicit JSONL (or parquet) file. Every row is schema-checked; an error names the file,
the row and the problem.

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
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from coconot_tasks.data import (
    ENV_DATA_DIR,
    ENV_REVISION,
    HUB_REPO,
    HUB_REVISION,
    LOCAL_FILES,
    DataError,
    parse_jsonl,
    resolve_data_dir,
    validate_rows,
)
from coconot_tasks.taxonomy import CATEGORY_SLUGS, slug

SFT: Final = "sft"
PREFERENCE: Final = "preference"
KINDS: Final = (SFT, PREFERENCE)

#: Local file name of each kind in a data directory. ``coconot_pref.jsonl`` is the name in the
#: official repository (github.com/allenai/noncompliance ``data/``); the SFT split has no file
#: there, so this package names it ``coconot_sft.jsonl``.
LOCAL_FILES_TRAIN: Final[dict[str, str]] = {SFT: "coconot_sft.jsonl", PREFERENCE: "coconot_pref.jsonl"}

#: (hub config, split) of each kind.
HUB_SPLITS: Final[dict[str, tuple[str, str]]] = {SFT: ("original", "train"), PREFERENCE: ("pref", "train")}

#: Fields required besides ``id, category, subcategory, prompt`` (non-empty strings).
EXTRA_FIELDS: Final[dict[str, tuple[str, ...]]] = {SFT: ("response",), PREFERENCE: ("chosen", "rejected")}

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

#: The keys of one exported line, per format (``metadata`` is added on request).
RECORD_KEYS: Final[dict[str, tuple[str, ...]]] = {
    MESSAGES: ("messages",),
    TRL_DPO: ("prompt", "chosen", "rejected"),
    OPENAI_DPO: ("input", "preferred_output", "non_preferred_output"),
}
METADATA_FIELDS: Final = ("id", "category", "subcategory")

#: File names of the evaluation sets (current official names, and an older one).
EVAL_FILE_NAMES: Final = (*LOCAL_FILES.values(), "coconot_evaluation.jsonl")
_EVAL_NAME_TOKENS: Final = frozenset({"eval", "evaluation", "test"})
#: Share of a source's prompts found in the evaluation sets from which it is refused even with
#: fresh ids (below it, the overlap is reported as a warning).
PROMPT_OVERLAP_REFUSE: Final = 0.5

TRAIN: Final = "train"
VALIDATION: Final = "validation"


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


@dataclass
class TrainingRows:
    """Validated training rows of one kind and where they came from."""

    kind: str
    rows: list[dict[str, Any]]
    source: str
    eval_check: EvalCheck


# --------------------------------------------------------------------------- loading


def _parse_rows(path: Path) -> tuple[list[Any], list[int]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path).to_pylist()
        except Exception as exc:
            raise DataError(f"{path}: not a readable parquet file ({exc})") from None
        return table, list(range(1, len(table) + 1))
    try:
        return parse_jsonl(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason}); expected JSONL") from None


def _check_extra_fields(
    kind: str, rows: Sequence[Mapping[str, Any]], source: str, numbers: Sequence[int] | None
) -> None:
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


def validate_training_rows(
    kind: str,
    rows: Sequence[Mapping[str, Any]],
    source: str,
    numbers: Sequence[int] | None = None,
    eval_files: Sequence[Path] = (),
) -> TrainingRows:
    """Check the CoCoNot schema, that the rows are not evaluation rows, and the fields of ``kind``.

    The evaluation-set guard runs before the kind's fields are checked, so that an evaluation
    file is named as such rather than as a file with empty responses.

    Raises:
        EvalSetError: the rows belong to the evaluation sets in ``eval_files``.
        DataError: naming ``source``, the row and the problem.
    """
    _check_kind(kind)
    checked = validate_rows(rows, source, numbers)
    eval_check = check_not_eval(checked, source, eval_files)
    _check_extra_fields(kind, checked, source, numbers)
    return TrainingRows(kind, checked, source, eval_check)


def read_training_file(kind: str, path: Path, eval_files: Sequence[Path] = ()) -> TrainingRows:
    """Read and validate one training file (JSONL, or parquet as downloaded from the hub)."""
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    rows, numbers = _parse_rows(path)
    return validate_training_rows(kind, rows, str(path), numbers, eval_files)


def eval_file_name_reason(path: Path) -> str | None:
    """Why ``path`` is named like an evaluation file, or None."""
    if path.name in EVAL_FILE_NAMES:
        return f"{path.name} is a CoCoNot evaluation file"
    tokens = set(re.split(r"[^a-z0-9]+", path.name.lower()))
    found = sorted(tokens & _EVAL_NAME_TOKENS)
    if found:
        return f"its name contains {found[0]!r}, as evaluation/test split files do"
    return None


def _read_eval_keys(path: Path) -> tuple[set[str], set[str]]:
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
                    prompts.add(_normalise(row["prompt"]))
    return ids, prompts


def _normalise(prompt: str) -> str:
    return " ".join(prompt.split()).casefold()


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


def check_not_eval(rows: Sequence[Mapping[str, Any]], source: str, eval_files: Sequence[Path]) -> EvalCheck:
    """Refuse rows that belong to the evaluation sets.

    Any id shared with an evaluation file, or most prompts found there, means the source is
    (a copy of) an evaluation set.

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
            f"{', '.join(str(p) for p in eval_files)}). Refusing to export evaluation rows as training "
            "data: training on the test set would invalidate CoCoNot numbers."
        )
    overlapping = sum(1 for row in rows if _normalise(str(row["prompt"])) in eval_prompts)
    if rows and overlapping / len(rows) >= PROMPT_OVERLAP_REFUSE:
        raise EvalSetError(
            f"{source}: {overlapping} of {len(rows)} prompts are prompts of the CoCoNot evaluation sets "
            f"({', '.join(str(p) for p in eval_files)}). Refusing to export evaluation rows as training "
            "data: training on the test set would invalidate CoCoNot numbers."
        )
    check.overlapping_prompts = overlapping
    return check


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise DataError(f"unknown kind of training data {kind!r}; expected one of {list(KINDS)}")


def load_training_rows(
    kind: str,
    source: str | os.PathLike[str] | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
) -> TrainingRows:
    """Load and validate the training rows of ``kind`` (``"sft"`` or ``"preference"``).

    Args:
        kind: ``"sft"`` (hub ``original``/``train``) or ``"preference"`` (hub ``pref``/``train``).
        source: one explicit file (JSONL or parquet); wins over everything else.
        data_dir: a directory holding :data:`LOCAL_FILES_TRAIN` (default: ``COCONOT_DATA_DIR``;
            without either, the hub at ``revision`` / ``COCONOT_DATA_REVISION`` / the pin).
        revision: hub revision (only for hub loading).

    Raises:
        EvalSetError: the source is an evaluation set.
        DataError: missing data or a row without CoCoNot's schema.
    """
    _check_kind(kind)
    explicit_dir = Path(data_dir).expanduser() if data_dir else None
    if explicit_dir is not None and not explicit_dir.is_dir():
        raise DataError(f"data directory {explicit_dir} does not exist")
    env_value = os.environ.get(ENV_DATA_DIR)
    env_dir = Path(env_value).expanduser() if env_value else None
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
    import datasets

    config, split = HUB_SPLITS[kind]
    rev = revision or os.environ.get(ENV_REVISION) or HUB_REVISION
    source_name = f"{HUB_REPO} (config {config!r}, split {split!r}, revision {rev[:12]})"
    try:
        hub = datasets.load_dataset(HUB_REPO, config, split=split, revision=rev)
    except Exception as exc:
        raise DataError(
            f"could not load {source_name}: {exc}. Offline? Use --data-dir DIR (or {ENV_DATA_DIR}) with "
            f"{LOCAL_FILES_TRAIN[kind]}, or --source FILE."
        ) from exc
    # The hub's train splits are not evaluation rows (no local evaluation files to compare with here).
    return validate_training_rows(kind, list(hub), source_name)


# --------------------------------------------------------------------------- selection


def _name_keys(name: str) -> set[str]:
    keys = {name.casefold(), slug(name), re.sub(r"[^a-z0-9]+", "_", name.casefold()).strip("_")}
    return keys


def _match_names(wanted: Sequence[str], present: Sequence[str], what: str) -> set[str]:
    chosen: set[str] = set()
    for item in wanted:
        keys = _name_keys(item.strip())
        matches = {name for name in present if keys & _name_keys(name)}
        if not matches:
            available = "; ".join(
                f"{name} ({CATEGORY_SLUGS.get(name) or slug(name)})" for name in sorted(set(present))
            )
            raise DataError(f"unknown {what} {item!r}; this data has: {available}")
        chosen |= matches
    return chosen


def filter_rows(
    rows: Sequence[dict[str, Any]],
    categories: Sequence[str] | None = None,
    subcategories: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Keep the rows of the given categories and subcategories (names or slugs, any case).

    Raises:
        DataError: a name matches no row of the data (the message lists the names present),
            or the two filters together leave no row.
    """
    kept = list(rows)
    if categories:
        names = _match_names(categories, [r["category"] for r in rows], "category")
        kept = [r for r in kept if r["category"] in names]
    if subcategories:
        names = _match_names(subcategories, [r["subcategory"] for r in rows], "subcategory")
        kept = [r for r in kept if r["subcategory"] in names]
    if not kept:
        raise DataError(
            f"no rows left after filtering (categories {list(categories or [])}, subcategories "
            f"{list(subcategories or [])})"
        )
    return kept


def select_rows(
    rows: Sequence[dict[str, Any]], shuffle: bool = False, seed: int = 0, limit: int | None = None
) -> list[dict[str, Any]]:
    """Optionally shuffle (seeded), then keep the first ``limit`` rows."""
    chosen = list(rows)
    if shuffle:
        random.Random(f"coconot-shuffle-{seed}").shuffle(chosen)
    if limit is not None:
        if limit < 1:
            raise DataError(f"--limit must be at least 1, got {limit}")
        chosen = chosen[:limit]
    return chosen


def split_rows(
    rows: Sequence[dict[str, Any]], val_fraction: float, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Split into (train, validation), deterministically for a seed; both keep the input order.

    The validation set takes ``round(len(rows) * val_fraction)`` rows (at least 1), drawn per
    category in proportion to its size, so that it has the category mix of the data. Rows with
    the same prompt (up to case and whitespace) always land in the same split, so no
    validation prompt is seen in training; a set of such rows may take the validation set
    slightly past its size.

    Raises:
        DataError: the fraction is not in (0, 1), or there are too few rows to split.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    groups: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        groups.setdefault(_normalise(str(row["prompt"])), []).append(index)
    if len(groups) < 2:
        raise DataError(
            f"cannot split {len(rows)} rows ({len(groups)} distinct prompts) into train and validation"
        )
    target = min(max(1, round(len(rows) * val_fraction)), len(rows) - 1)
    by_category: dict[str, list[list[int]]] = {}
    for members in groups.values():
        by_category.setdefault(str(rows[members[0]]["category"]), []).append(members)
    # Largest-remainder quotas per category summing to the target.
    sizes = {cat: sum(len(m) for m in groups_) for cat, groups_ in by_category.items()}
    exact = {cat: target * size / len(rows) for cat, size in sizes.items()}
    quotas = {cat: int(value) for cat, value in exact.items()}
    for cat in sorted(exact, key=lambda c: (-(exact[c] - quotas[c]), c))[: target - sum(quotas.values())]:
        quotas[cat] += 1
    rng = random.Random(f"coconot-split-{seed}")
    validation: set[int] = set()
    for cat in sorted(by_category):
        candidates = sorted(by_category[cat], key=lambda m: m[0])
        rng.shuffle(candidates)
        taken = 0
        for members in candidates:
            if taken >= quotas[cat]:
                break
            validation.update(members)
            taken += len(members)
    if len(validation) >= len(rows):  # only possible with huge duplicate groups
        raise DataError(f"cannot split {len(rows)} rows: rows sharing prompts leave no training rows")
    train = [row for i, row in enumerate(rows) if i not in validation]
    val = [row for i, row in enumerate(rows) if i in validation]
    return train, val


# --------------------------------------------------------------------------- formats


def _message(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def to_record(
    row: Mapping[str, Any],
    fmt: str,
    system_prompt: str | None = None,
    with_metadata: bool = False,
    strip_responses: bool = False,
) -> dict[str, Any]:
    """Convert one validated row to one line of ``fmt`` (``messages``, ``trl-dpo`` or ``openai-dpo``).

    Texts are kept as published unless ``strip_responses``, which strips leading and trailing
    whitespace from the assistant texts (in the preference data, 487 of 927 ``rejected``
    responses start with a space and no ``chosen`` one does: a surface cue a preference
    trainer can learn instead of the behaviour).
    """

    def reply(name: str) -> dict[str, str]:
        text = str(row[name])
        return _message("assistant", text.strip() if strip_responses else text)

    context = [_message("system", system_prompt)] if system_prompt is not None else []
    user = _message("user", str(row["prompt"]))
    record: dict[str, Any]
    if fmt == MESSAGES:
        record = {"messages": [*context, user, reply("response")]}
    elif fmt == TRL_DPO:
        record = {"prompt": [*context, user], "chosen": [reply("chosen")], "rejected": [reply("rejected")]}
    elif fmt == OPENAI_DPO:
        record = {
            "input": {"messages": [*context, user]},
            "preferred_output": [reply("chosen")],
            "non_preferred_output": [reply("rejected")],
        }
    else:
        raise DataError(f"unknown line format {fmt!r}; expected one of {list(RECORD_KEYS)}")
    if with_metadata:
        record["metadata"] = {name: str(row[name]) for name in METADATA_FIELDS}
    return record


# --------------------------------------------------------------------------- writing


def output_paths(output: Path, fmt: str, validation: bool) -> dict[str, Path]:
    """Where each split goes: JSONL ``NAME.jsonl`` -> ``NAME.train.jsonl``/``NAME.validation.jsonl``
    with a validation split, else ``NAME.jsonl``; ``hf-dataset``: the directory itself."""
    if fmt == HF_DATASET or not validation:
        return {TRAIN: output}
    suffix = output.suffix or ".jsonl"
    stem = output.name[: -len(output.suffix)] if output.suffix else output.name
    return {split: output.with_name(f"{stem}.{split}{suffix}") for split in (TRAIN, VALIDATION)}


def check_outputs(paths: Sequence[Path], fmt: str, overwrite: bool, source: str | None = None) -> None:
    """Refuse to clobber files unless ``overwrite`` (and never the source or a foreign directory)."""
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
    """Save the splits as a ``datasets.DatasetDict`` (``datasets.load_from_disk(path)``)."""
    import datasets

    dataset = datasets.DatasetDict(
        {name: datasets.Dataset.from_list([dict(r) for r in records]) for name, records in splits.items()}
    )
    if path.is_dir() and (path / "dataset_dict.json").is_file():
        shutil.rmtree(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_to_disk(str(path))


# --------------------------------------------------------------------------- export


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


@contextmanager
def _system_prompt_from(data_dir: Path | None) -> Iterator[None]:
    """Let the official system prompt be found in ``data_dir`` (like ``COCONOT_DATA_DIR``)."""
    from coconot_tasks.resources import SYSTEM_PROMPT

    candidate = data_dir / SYSTEM_PROMPT.name if data_dir is not None else None
    if candidate is None or os.environ.get(SYSTEM_PROMPT.env_var) or not candidate.is_file():
        yield
        return
    os.environ[SYSTEM_PROMPT.env_var] = str(candidate)
    try:
        yield
    finally:
        os.environ.pop(SYSTEM_PROMPT.env_var, None)


def resolve_system_prompt(value: str | None, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """``"official"``: the paper's system prompt (verified copy); any other text is used as is.

    Raises:
        DataError: empty text, or the official prompt cannot be found (offline without a copy).
    """
    if value is None:
        return None
    if not value.strip():
        raise DataError("the system prompt is empty")
    if value != "official":
        return value
    from coconot_tasks.resources import ResourceError, load_system_prompt

    try:
        with _system_prompt_from(Path(data_dir).expanduser() if data_dir else None):
            return load_system_prompt()
    except ResourceError as exc:
        raise DataError(str(exc)) from exc


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
    checked before loading is (format, fraction, output paths).

    Raises:
        DataError (EvalSetError for evaluation data): every problem of the input.
    """
    _check_kind(kind)
    fmt = fmt or DEFAULT_FORMAT[kind]
    if fmt not in FORMATS[kind]:
        raise DataError(
            f"format {fmt!r} does not fit {kind} data; {kind} formats: {', '.join(FORMATS[kind])}"
        )
    if val_fraction is not None and not 0 < val_fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1, got {limit}")
    out = Path(output).expanduser()
    paths = output_paths(out, fmt, validation=val_fraction is not None)
    local_dir = data_dir or os.environ.get(ENV_DATA_DIR)
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
    # hf-dataset rows have the TRL layout of the kind: messages, or prompt/chosen/rejected.
    layout = DEFAULT_FORMAT[kind] if fmt == HF_DATASET else fmt
    records = {
        name: [to_record(r, layout, system_text, with_metadata, strip_responses) for r in split]
        for name, split in splits.items()
    }
    if fmt == HF_DATASET:
        save_hf_dataset(records, paths[TRAIN])
    else:
        for name, split_records in records.items():
            write_jsonl(split_records, paths[name])
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
