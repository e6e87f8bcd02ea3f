"""What ``coconot rescore`` checks before it spends anything: that each samples file holds rows of its
own task's set, each id once, and that the output folder can be written; a failure is a
:class:`~coconot_tasks.results.saved_runs.RunError` naming the file, the sample and the fix."""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.dataset import DataError, load_rows
from coconot_tasks.benchmark.taxonomy import SETS
from coconot_tasks.results.saved_runs import Run, RunError, Sample, samples_files

#: The fields of a sample's doc that must equal the set's row of the same id.
_CHECKED_FIELDS = ("prompt", "category", "subcategory")


def check_samples_match_sets(run: Run) -> None:
    """Raise :class:`RunError` unless every sample of ``run`` is a row of its task's set (same id,
    prompt, category and subcategory), in the data the run's task metadata names (if still there)."""
    rows = {name: _rows_by_id(run, name) for name in dict.fromkeys(info.set_name for info in run.tasks)}
    files = samples_files(run.results_path)
    for info in run.tasks:
        samples = run.samples.get(info.task, [])
        path = files.get(info.task, run.results_path)
        _check_no_repeats(samples, path)
        own = rows[info.set_name]
        foreign = [number for number, sample in enumerate(samples, start=1) if sample.doc_id not in own]
        if not foreign:
            for number, sample in enumerate(samples, start=1):
                _check_sample(sample, own[sample.doc_id], f"{path}, sample {number}")
            continue
        other_set = next(name for name in SETS if name != info.set_name)
        if len(foreign) == len(samples) and other_set not in rows:
            try:
                rows[other_set] = _rows_by_id(run, other_set)
            except RunError:  # that set is not at hand: say what is known
                rows[other_set] = {}
        if len(foreign) == len(samples) and all(sample.doc_id in rows[other_set] for sample in samples):
            raise RunError(
                f"{path}: holds rows of the CoCoNot {other_set} set, but {info.task} is a task of the "
                f"{info.set_name} set: the {info.set_name} and {other_set} samples files were swapped or "
                f"renamed. Give each file its own task's name; rescored as {info.set_name} rows they "
                "would be judged with the wrong rubric and classes"
            )
        sample = samples[foreign[0] - 1]
        data_dir, revision = _data_settings(run, info.set_name)
        pinned = f" {revision}" if revision else ""
        source = (
            f"data_dir {data_dir}" if data_dir else f"COCONOT_DATA_DIR or the pinned hub revision{pinned}"
        )
        raise RunError(
            f"{path}, sample {foreign[0]}: id {sample.doc_id!r} is not a row of the CoCoNot {info.set_name} "
            f"set ({source}); this samples file does not belong to {info.task}"
        )


def _check_no_repeats(samples: list[Sample], path: Path) -> None:
    """Raise :class:`RunError` if a CoCoNot id appears twice in one samples file (a repeat hides a gap)."""
    counts = Counter(sample.doc_id for sample in samples)
    repeated = sorted(doc_id for doc_id, count in counts.items() if count > 1)
    if not repeated:
        return
    positions = [sample.raw.get("doc_id") for sample in samples]
    indices = [p for p in positions if isinstance(p, int)]
    gaps = ""
    if len(indices) == len(positions) and min(indices) == 0:  # lm-eval's doc indices from 0 (--limit)
        missing = sorted(set(range(max(indices) + 1)) - set(indices))
        if missing:
            gaps = f"; lm-eval doc_id {', '.join(map(str, missing[:10]))} missing"
    raise RunError(
        f"{path}: id {', '.join(repr(i) for i in repeated[:10])} appears more than once{gaps} "
        f"({len(samples)} lines, {len(counts)} distinct ids): the file was edited or concatenated. Use "
        "the samples file lm_eval --log_samples wrote for this run"
    )


def _check_sample(sample: Sample, row: Mapping[str, Any], where: str) -> None:
    doc = sample.raw.get("doc") or {}
    for field in _CHECKED_FIELDS:
        if str(doc.get(field, "")) != str(row[field]):
            raise RunError(
                f"{where}: the {field} of id {sample.doc_id!r} differs from that row of the CoCoNot "
                f"{sample.task.set_name} set ({str(doc.get(field, ''))[:60]!r} vs {str(row[field])[:60]!r}); "
                "this samples file was edited or comes from other data"
            )


def _data_settings(run: Run, set_name: str) -> tuple[str | None, str | None]:
    """(data_dir, data_revision) recorded in the task metadata of the run's ``set_name`` tasks."""
    task = next((info.task for info in run.tasks if info.set_name == set_name), None)
    metadata = ((run.results.get("configs") or {}).get(task) or {}).get("metadata") or {}
    data_dir, revision = metadata.get("data_dir"), metadata.get("data_revision")
    if data_dir and not Path(str(data_dir)).expanduser().is_dir():
        data_dir = None  # moved or on another machine: the default data, as for a new run
    return (str(data_dir) if data_dir else None), (str(revision) if revision else None)


def _rows_by_id(run: Run, set_name: str) -> dict[str, dict[str, Any]]:
    data_dir, revision = _data_settings(run, set_name)
    try:
        rows = load_rows(set_name, data_dir=data_dir, revision=revision)
    except DataError as exc:
        raise RunError(
            f"cannot check the samples of {run.results_path} against the CoCoNot {set_name} set: {exc}"
        ) from None
    return {str(row["id"]): row for row in rows}


def check_output_dir(output_dir: Path, target: Path) -> None:
    """Raise :class:`RunError` unless ``target`` (below ``output_dir``) can be created and written
    (creates nothing: it tries a temporary file in the deepest existing directory)."""
    existing = target
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        if existing == output_dir:
            problem = "is a file, not a directory"
        elif existing == target:
            problem = f"holds a file named {target.name} where this model's rescore would go"
        else:
            problem = f"cannot be created: {existing} is a file"
        raise RunError(f"--output-dir {output_dir}: {problem}; choose another --output-dir")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise RunError(
            f"--output-dir {output_dir}: cannot write into {existing} ({exc.strerror or exc}); "
            "choose a writable --output-dir"
        ) from None
