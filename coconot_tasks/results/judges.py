"""Which judge scored a saved run: each task config's judge record, else the logged verdicts, else
*unknown*. Two judges are the same with the same backend and served model ids (plus vLLM's pinned
revision); an unknown judge equals no judge, not even another unknown."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from coconot_tasks.judge.backends import BACKENDS
from coconot_tasks.judge.settings import JUDGE_RECORD_KEY
from coconot_tasks.results.saved_runs import Run

#: Shown for a run whose judge no file records.
UNKNOWN_JUDGE = "judge unknown"


@dataclass(frozen=True)
class JudgeRecord:
    """One judge as a saved run records it."""

    judge: str | None  # the judge id asked for, e.g. openai:gpt-4.1-mini-2025-04-14
    backend: str | None
    served_models: tuple[str, ...] = ()
    endpoint: str | None = None
    revision: str | None = None  # the managed vLLM judge's pinned revision
    #: The decoding parameters sent, when they differ from the paper's request (else ``None``).
    request: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    source: str = "results"  # results | samples | unknown

    @property
    def known(self) -> bool:
        """False when nothing records the judge."""
        return self.judge is not None or bool(self.served_models)

    @property
    def identity(self) -> str | None:
        """What makes two judges the same (``None``: unknown, equal to nothing)."""
        if not self.known:
            return None
        pinned = f"@{self.revision}" if self.revision else ""
        if not self.served_models:
            return f"{self.judge}{'' if pinned and pinned in str(self.judge) else pinned}"
        return f"{self.backend or '?'}:{'+'.join(self.served_models)}{pinned}"

    def describe(self) -> str:
        """``openai:gpt-4o (served gpt-4o-2024-08-06; endpoint https://...)``, or ``judge unknown``."""
        if not self.known:
            return UNKNOWN_JUDGE
        details = []
        if self.served_models:
            details.append("served " + ", ".join(self.served_models))
        if self.endpoint:
            details.append(f"endpoint {self.endpoint}")
        if self.backend and not str(self.judge or "").startswith(f"{self.backend}:"):
            details.append(f"backend {self.backend}")
        if self.request is not None:
            details.append("request " + json.dumps(dict(self.request), sort_keys=True))
        if self.source == "samples":
            details.append("read from the verdicts")
        name = self.judge or f"{self.backend}:{'+'.join(self.served_models)}"
        return f"{name} ({'; '.join(details)})" if details else name

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return {**asdict(self), "identity": self.identity, "description": self.describe()}


def _from_provenance(record: Mapping[str, Any]) -> JudgeRecord:
    served = record.get("served_models")
    models = tuple(sorted(str(m) for m in served)) if isinstance(served, Mapping) else ()
    backend = record.get("backend")
    request = record.get("request")
    return JudgeRecord(
        judge=str(record["judge"]) if record.get("judge") else None,
        backend=str(backend) if backend else None,
        served_models=models,
        endpoint=str(record["endpoint"]) if record.get("endpoint") else None,
        revision=_revision(str(backend), str(record.get("judge") or ""), record),
        request=request if record.get("paper_request") is False and isinstance(request, Mapping) else None,
    )


def _revision(backend: str, judge_id: str, record: Mapping[str, Any] | None = None) -> str | None:
    """The pinned model revision of a recorded judge, as its backend records it (unknown backend: none)."""
    known = BACKENDS.get(backend)
    return known.revision(judge_id, record) if known is not None else None


def _from_samples(run: Run, task: str) -> JudgeRecord:
    results = [s.result for s in run.samples.get(task, []) if s.result is not None and s.result.judge]
    if not results:
        return JudgeRecord(judge=None, backend=None, source="unknown")
    requested = " + ".join(sorted({r.judge for r in results}))
    served = tuple(sorted({r.served_model for r in results if r.served_model and r.verdict is not None}))
    endpoint = next((r.endpoint for r in results if r.endpoint), None)
    backend = results[0].judge.partition(":")[0]
    return JudgeRecord(
        requested, backend, served, endpoint, _revision(backend, results[0].judge), source="samples"
    )


def task_judge(run: Run, task: str) -> JudgeRecord:
    """The judge of one task of ``run``: its judge record, else its verdicts, else unknown."""
    config = (run.results.get("configs") or {}).get(task)
    metadata = config.get("metadata") if isinstance(config, Mapping) else None
    record = metadata.get(JUDGE_RECORD_KEY) if isinstance(metadata, Mapping) else None
    if isinstance(record, Mapping) and (record.get("judge") or record.get("served_models")):
        return _from_provenance(record)
    return _from_samples(run, task)


def run_judges(run: Run, tasks: Iterable[str] | None = None) -> list[JudgeRecord]:
    """The distinct judges of ``run``'s CoCoNot tasks (or of ``tasks``), in task order."""
    found: list[JudgeRecord] = []
    for task in tasks if tasks is not None else [t.task for t in run.tasks]:
        record = task_judge(run, task)
        if record not in found:
            found.append(record)
    return found


def describe_judges(records: Sequence[JudgeRecord]) -> str:
    """The judges of one run on one line (``judge unknown`` when none is recorded)."""
    return "; ".join(r.describe() for r in records) or UNKNOWN_JUDGE


@dataclass
class JudgeMix:
    """Whether a set of runs was scored by one judge, and the notice to show when not."""

    judges: dict[str, list[JudgeRecord]]  # run name -> its judges

    @property
    def mixed(self) -> bool:
        """True when the runs were not provably scored by one judge (an unknown judge mixes)."""
        identities = [r.identity for records in self.judges.values() for r in records]
        if not identities:
            return len(self.judges) > 1
        if None in identities:
            return len(self.judges) > 1 or len(identities) > 1
        return len(set(identities)) > 1

    @property
    def notice(self) -> str | None:
        """One line naming the judges when they are mixed, else ``None``."""
        if not self.mixed:
            return None
        named = " vs ".join(f"{describe_judges(records)} [{run}]" for run, records in self.judges.items())
        return (
            f"these runs were scored by different judges ({named}); their numbers are not comparable: "
            "differences mix model and judge effects (re-judge them with one judge: coconot rescore)"
        )


def judge_mix(runs: Mapping[str, Run]) -> JudgeMix:
    """The judges of each named run (``name -> run``)."""
    return JudgeMix({name: run_judges(run) for name, run in runs.items()})
