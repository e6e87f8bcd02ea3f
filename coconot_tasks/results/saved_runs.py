"""Read saved CoCoNot runs: a ``results_<date>.json`` (``lm_eval --output_path`` or ``coconot rescore``)
and the ``samples_<task>_<date>.jsonl`` files next to it with the same date stamp."""

from __future__ import annotations

import json
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from coconot_tasks.benchmark.names import SYSPROMPT_SUFFIX, TASK_PREFIX
from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL
from coconot_tasks.judge.types import JudgeItem, JudgeResult


class RunError(ValueError):
    """A path holds no readable CoCoNot run."""


@dataclass(frozen=True)
class TaskInfo:
    """What a CoCoNot task name says: the set and whether the system prompt was given."""

    task: str
    set_name: str
    system_prompt: bool


def task_info(task: str) -> TaskInfo | None:
    """Parse ``coconot_original``, ``coconot_contrast_sysprompt``, ...; ``None`` for other tasks."""
    for set_name in (ORIGINAL, CONTRAST):
        for system_prompt in (False, True):
            if task == TASK_PREFIX + set_name + (SYSPROMPT_SUFFIX if system_prompt else ""):
                return TaskInfo(task=task, set_name=set_name, system_prompt=system_prompt)
    return None


@dataclass
class Sample:
    """One judged response of a saved run."""

    task: TaskInfo
    doc_id: str
    category: str
    subcategory: str
    prompt: str
    response: str
    result: JudgeResult | None  # None when the sample carries no CoCoNot verdict
    raw: dict[str, Any] = field(repr=False, default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        """Identifies the prompt across runs: (set name, CoCoNot row id or prompt text)."""
        return (self.task.set_name, self.doc_id or self.prompt)

    def judge_item(self) -> JudgeItem:
        """The judge request for this response, as the lm-eval filter builds it."""
        return JudgeItem(
            self.task.set_name, self.prompt, self.response, self.subcategory, self.category, self.doc_id
        )


def sample_from_line(task: TaskInfo, line: dict[str, Any]) -> Sample:
    """Build a :class:`Sample` from one line of lm-eval's samples JSONL."""
    doc = line.get("doc") or {}
    first = (line.get("resps") or [[""]])[0]
    response = first[0] if isinstance(first, list) and first else first
    filtered = line.get("filtered_resps") or []
    result: JudgeResult | None = None
    with suppress(ValueError, TypeError):  # not a CoCoNot verdict
        result = JudgeResult.from_json(str(filtered[0])) if filtered else None
    return Sample(
        task=task,
        doc_id=str(doc.get("id", line.get("doc_id", ""))),
        category=str(doc.get("category", "")),
        subcategory=str(doc.get("subcategory", "")),
        prompt=str(doc.get("prompt", "")),
        response="" if response is None else str(response),
        result=result,
        raw=line,
    )


@dataclass
class Run:
    """One saved run: its results JSON and the samples of its CoCoNot tasks."""

    results_path: Path
    results: dict[str, Any]
    samples: dict[str, list[Sample]]

    @property
    def model(self) -> str:
        """A readable model name; a rescored run's names its judge too: ``org/model [judge X]``."""
        rescore = (self.results.get("config") or {}).get("rescore")
        if isinstance(rescore, dict) and rescore.get("judge"):
            return f"{self.base_model} [judge {rescore['judge']}]"
        return self.base_model

    @property
    def base_model(self) -> str:
        """The model under test: lm-eval's ``model_name``, else the model args, else the directory."""
        name = self.results.get("model_name")
        if name:
            return str(name)
        args = (self.results.get("config") or {}).get("model_args") or {}
        if isinstance(args, dict):
            for key in ("pretrained", "model", "path"):
                if args.get(key):
                    return str(args[key])
        return self.results_path.parent.name

    @property
    def tasks(self) -> list[TaskInfo]:
        """The CoCoNot tasks in the results (groups excluded)."""
        infos = (task_info(t) for t in (self.results.get("results") or {}))
        return [info for info in infos if info is not None]

    def metric(self, task: str, name: str, stderr: bool = False) -> float | None:
        """A metric value of ``task`` as lm-eval stored it (``name`` without filter suffix)."""
        values = (self.results.get("results") or {}).get(task) or {}
        key = f"{name}_stderr" if stderr else name
        for full, value in values.items():
            metric, _, _filter = full.rpartition(",")
            if metric == key and isinstance(value, (int, float)):
                return float(value)
        return None


def samples_files(results_path: Path) -> dict[str, Path]:
    """The samples file of each task of the run (same directory, same date stamp)."""
    stamp = results_path.stem[len("results_") :]
    return {
        path.name[len("samples_") : -len(f"_{stamp}.jsonl")]: path
        for path in results_path.parent.glob(f"samples_*_{stamp}.jsonl")
    }


def read_samples(path: Path, task: TaskInfo) -> list[Sample]:
    """Read one samples JSONL file."""
    samples: list[Sample] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                samples.append(sample_from_line(task, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise RunError(f"{path}, line {number}: invalid JSON ({exc.msg})") from None
    return samples


def load_run(results_path: Path) -> Run:
    """Load one results JSON and the CoCoNot samples written with it."""
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RunError(f"{results_path}: not a readable results JSON ({exc})") from None
    if not isinstance(results, dict) or "results" not in results:
        raise RunError(f"{results_path}: not an lm-eval results JSON (no 'results' key)")
    samples: dict[str, list[Sample]] = {}
    for task, path in samples_files(results_path).items():
        info = task_info(task)
        if info is not None:
            samples[task] = read_samples(path, info)
    run = Run(results_path=results_path, results=results, samples=samples)
    if not run.tasks:
        raise RunError(f"{results_path}: holds no CoCoNot task results")
    return run


def find_results_files(path: Path) -> list[Path]:
    """The newest results JSON of every model directory under ``path`` (or ``path`` itself)."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise RunError(f"{path}: no such file or directory")
    newest: dict[Path, Path] = {}
    for candidate in sorted(path.rglob("results_*.json")):  # per directory, the newest date comes last
        newest[candidate.parent] = candidate
    if not newest:
        raise RunError(f"{path}: no results_*.json below it (an lm_eval --output_path directory?)")
    return sorted(newest.values())


def load_runs(paths: list[Path]) -> list[Run]:
    """Load every run found under ``paths`` (directories or results files), each results file once."""
    found: dict[Path, Path] = {}
    for path in paths:
        for results in find_results_files(path):
            found.setdefault(results.resolve(), results)
    return [load_run(results) for results in found.values()]
