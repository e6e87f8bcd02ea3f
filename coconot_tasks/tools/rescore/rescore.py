"""Re-judge the saved responses of a CoCoNot run, without generating: through the task's own answer
rules, judge engine, per-sample metrics and lm-eval's aggregation, into a run in lm-eval's shape plus
``agreement.json`` / ``.md`` (old verdicts = judge A, new = B); docs/tools.md describes the files."""

from __future__ import annotations

import json
import math
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from lm_eval.utils import sanitize_model_name

from coconot_tasks import __version__
from coconot_tasks.benchmark.names import FILTER_NAME, SCORE_NAME
from coconot_tasks.generation import Answer, AnswerRules, judge_answers
from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.dedup import judge_unique
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.settings import JUDGE_RECORD_KEY, JudgeSettings
from coconot_tasks.judge.types import OUTCOME_NO_ANSWER, JudgeItem, JudgeResult, JudgeStats
from coconot_tasks.metric import sample_metrics
from coconot_tasks.results.results_json import (
    aggregate_groups,
    build_results,
    task_block,
)
from coconot_tasks.results.saved_runs import Run, RunError, Sample
from coconot_tasks.tools.agreement import AgreementReport, VerdictPair, compare_verdicts
from coconot_tasks.tools.export.writers import write_jsonl
from coconot_tasks.tools.report.numbers import verdict_of
from coconot_tasks.tools.rescore.checks import check_output_dir, check_samples_match_sets

#: Keys of a task config's ``metadata`` that describe the judge (replaced on rescoring).
JUDGE_METADATA_KEYS = ("judge_backend", "judge_model", "judge_base_url", JUDGE_RECORD_KEY)
#: The judge accounting a rescored run records in ``config.rescore.judge_stats``.
_RECORDED_STATS = (
    "items", "requests", "cached", "empty", "errors", "not_judged",
    "prompt_tokens", "completion_tokens", "cost_usd",
)  # fmt: skip


@dataclass
class TaskRescore:
    """Old and new headline numbers of one task."""

    task: str
    samples: int
    old_compliance_rate: float | None
    new_compliance_rate: float | None
    changed: int  # samples whose verdict changed (both sides with a verdict)


@dataclass
class RescoreSummary:
    """What :func:`rescore_run` did and where it wrote."""

    source: Path
    model: str
    old_judges: list[str]
    judge: str
    results_path: Path  # the rescored run's; its samples files are beside it
    agreement_files: tuple[Path, Path]  # agreement.json, agreement.md
    tasks: list[TaskRescore]
    groups: dict[str, tuple[float | None, float | None]]  # group -> (old, new) coconot_score
    agreement: AgreementReport
    stats: JudgeStats
    no_answer: int  # samples without an answer (reasoning that never finished): not judged, not errors

    @property
    def no_verdict(self) -> int:
        """Samples the new judge gave no verdict (judge errors plus items not judged)."""
        return self.stats.no_verdict


def target_dir(run: Run, output_dir: Path) -> Path:
    """Where the rescore of ``run`` goes: ``output_dir/<model_name_sanitized>``, like lm-eval (which
    computes the name this way when the results file lacks it)."""
    return output_dir / str(run.results.get("model_name_sanitized") or sanitize_model_name(run.base_model))


def check_rescorable(run: Run, output_dir: Path) -> None:
    """Raise :class:`RunError` if ``run`` cannot be rescored into ``output_dir`` (before any judging):
    every CoCoNot task needs its samples file, one line per evaluated document, each a row of the
    task's own set; the output must be a writable directory other than the run's own."""
    for info in run.tasks:
        samples = run.samples.get(info.task)
        if samples is None:
            raise RunError(
                f"{run.results_path}: no samples file for task {info.task} next to it (expected "
                f"samples_{info.task}_<date>.jsonl); rescoring needs the responses, so the run must be "
                "made with lm_eval --log_samples"
            )
        counts = (run.results.get("n-samples") or {}).get(info.task) or {}
        effective = counts.get("effective") if isinstance(counts, dict) else None  # documents evaluated
        expected = int(effective) if isinstance(effective, (int, float)) else None
        if expected is not None and expected != len(samples):
            raise RunError(
                f"{run.results_path}: the samples file of {info.task} holds {len(samples)} samples but "
                f"the results were computed on {expected}"
            )
        for number, sample in enumerate(samples, start=1):
            if not isinstance(sample.raw.get("doc"), dict) or not sample.prompt:
                raise RunError(f"{run.results_path}: sample {number} of {info.task} has no CoCoNot doc")
    check_samples_match_sets(run)
    target = target_dir(run, output_dir).resolve()
    if target == run.results_path.parent.resolve():
        raise RunError(
            f"{target}: is the directory of the run being rescored; choose another --output-dir "
            "(a newer results file there would hide the original run)"
        )
    check_output_dir(output_dir.resolve(), target)


def judge_run(
    run: Run, settings: JudgeSettings, *, progress: bool, none_placeholder: str, desc: str
) -> tuple[list[JudgeResult], JudgeStats]:
    """Judge (or, for a dry run, estimate) the answer in every CoCoNot response of ``run``, task by task,
    each found as the task found it: its rules from the task metadata saved in the results, the opened
    reasoning from the logged prompt, ``none_placeholder`` as lm-eval's of the run."""
    items: list[JudgeItem] = []
    answers: list[Answer] = []
    for info in run.tasks:
        config = (run.results.get("configs") or {}).get(info.task) or {}
        rules = AnswerRules.from_metadata(config.get("metadata") or {}, none_placeholder)
        for s in run.samples.get(info.task, []):
            items.append(s.judge_item())
            answers.append(
                rules.answer(s.response, prompt_opened=rules.prompt_opens_reasoning(_logged_prompt(s)))
            )
    return judge_answers(
        items, answers, lambda batch: judge_unique(batch, settings, progress=progress, desc=desc)
    )


def rescore_run(
    run: Run, settings: JudgeSettings, output_dir: Path, *, progress: bool = True, none_placeholder: str = ""
) -> RescoreSummary:
    """Re-judge every CoCoNot response of ``run`` with ``settings`` (checked, not a dry run) and write the
    rescored run; failed judge calls become samples without a verdict. RunError (nothing judged): the
    run cannot be rescored (:func:`check_rescorable`)."""
    check_rescorable(run, output_dir)
    started = time.time()
    results, stats = judge_run(
        run,
        settings,
        progress=progress,
        none_placeholder=none_placeholder,
        desc=f"CoCoNot rescore ({run.model})",
    )
    remaining = iter(results)  # task by task
    task_metrics: dict[str, dict[str, Any]] = {}
    sample_lines: dict[str, list[dict[str, Any]]] = {}
    served: dict[str, Counter[str]] = {}
    pairs: list[VerdictPair] = []
    for info in run.tasks:
        samples = run.samples[info.task]
        task_results = list(islice(remaining, len(samples)))
        raw_metrics, sample_lines[info.task] = _score_samples(samples, task_results)
        task_metrics[info.task] = task_block(run.results, info.task, raw_metrics)
        served[info.task] = Counter(
            r.served_model for r in task_results if r.served_model and r.verdict is not None
        )
        pairs += [_pair(sample, new) for sample, new in zip(samples, task_results, strict=True)]
    group_metrics = aggregate_groups(run.results, task_metrics)
    old_judges = source_judges(run)
    agreement = compare_verdicts(
        pairs, judge_a=" + ".join(old_judges) or "original", judge_b=settings.judge_id
    )
    date_id = datetime.now().isoformat().replace(":", "-")
    out = target_dir(run, output_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / f"results_{date_id}.json"
    for task, lines in sample_lines.items():
        write_jsonl(lines, out / f"samples_{task}_{date_id}.jsonl")
    agreement_files = _write_agreement(out, run, agreement, results_path)
    document = build_results(
        run.results,
        task_metrics,
        group_metrics,
        started=started,
        rewrite_config=lambda config: rescored_config(config, settings, served.get(str(config.get("task")))),
        config_update={"rescore": rescore_provenance(run, settings, stats)},
    )
    # written last: a results file is only ever found together with its samples
    results_path.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str), "utf-8")

    changed = {task: counts.n - counts.agreed for task, counts in agreement.by_task.items()}
    return RescoreSummary(
        source=run.results_path,
        model=run.base_model,
        old_judges=old_judges,
        judge=settings.judge_id,
        results_path=results_path,
        agreement_files=agreement_files,
        tasks=[
            TaskRescore(
                task=task,
                samples=len(run.samples[task]),
                old_compliance_rate=run.metric(task, "compliance_rate"),
                new_compliance_rate=_metric(task_metrics[task], "compliance_rate"),
                changed=changed.get(task, 0),
            )
            for task in task_metrics
        ],
        groups={
            group: (_metric(run.results["results"].get(group, {}), SCORE_NAME), _metric(values, SCORE_NAME))
            for group, values in group_metrics.items()
        },
        agreement=agreement,
        stats=stats,
        no_answer=sum(1 for result in results if result.outcome == OUTCOME_NO_ANSWER),
    )


# --- what a rescored run records ----------------------------------------------------------------


def source_judges(run: Run) -> list[str]:
    """The judges whose verdicts ``run``'s samples hold, sorted (empty if none is recorded)."""
    return sorted(
        {
            sample.result.judge
            for samples in run.samples.values()
            for sample in samples
            if sample.result is not None and sample.result.judge
        }
    )


def rescored_config(
    config: Mapping[str, Any], settings: JudgeSettings, served_models: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """A copy of a task config whose ``metadata`` judge keys describe the judge of ``settings``
    (``served_models``: this task's new verdicts per model id the endpoint reported)."""
    old = config.get("metadata") or {}
    metadata = {key: value for key, value in old.items() if key not in JUDGE_METADATA_KEYS}
    metadata["judge_backend"] = settings.backend
    if backend_for(settings).remote:  # an offline judge (heuristic) has no model
        metadata["judge_model"] = settings.model
    if settings.base_url:
        metadata["judge_base_url"] = settings.endpoint
    metadata[JUDGE_RECORD_KEY] = judge_provenance(settings, served_models)
    return {**config, "metadata": metadata}


def rescore_provenance(run: Run, settings: JudgeSettings, stats: JudgeStats) -> dict[str, Any]:
    """``config.rescore``: the source run, both judges, the new judge's accounting (``stats``) and
    the source's own ``config.rescore`` as ``previous_rescore``."""
    previous_config = run.results.get("config") or {}
    source_metadata = {
        task: {k: v for k, v in ((config or {}).get("metadata") or {}).items() if k in JUDGE_METADATA_KEYS}
        for task, config in (run.results.get("configs") or {}).items()
    }
    provenance: dict[str, Any] = {
        "tool": "coconot rescore",
        "coconot_tasks_version": __version__,
        "rescored_from": str(run.results_path.resolve()),
        "source_date": run.results.get("date"),
        "source_judges": source_judges(run),
        "source_judge_metadata": {task: meta for task, meta in source_metadata.items() if meta},
        "judge": settings.judge_id,
        "judge_settings": judge_provenance(settings, stats.served_models),
        "judge_stats": {name: getattr(stats, name) for name in _RECORDED_STATS},
    }
    if isinstance(previous_config, dict) and "rescore" in previous_config:
        provenance["previous_rescore"] = previous_config["rescore"]
    return provenance


# --- helpers ---------------------------------------------------------------------------------


def _logged_prompt(sample: Sample) -> str:
    """The prompt lm-eval logged for ``sample`` (``arguments.gen_args_0.arg_0``; ``""`` if absent)."""
    arguments = sample.raw.get("arguments")
    first = arguments.get("gen_args_0") if isinstance(arguments, dict) else None
    prompt = first.get("arg_0") if isinstance(first, dict) else None
    return prompt if isinstance(prompt, str) else ""


def _score_samples(
    samples: Sequence[Sample], results: Sequence[JudgeResult]
) -> tuple[dict[tuple[str, str], list[float]], list[dict[str, Any]]]:
    """A task's per-sample metrics of the new verdicts, keyed like lm-eval's ``(metric, filter)`` and
    each in document order, and its samples lines: the original ones with the new verdict and metrics."""
    raw_metrics: dict[tuple[str, str], list[float]] = {}
    lines: list[dict[str, Any]] = []
    for sample, result in zip(samples, results, strict=True):
        metrics = sample_metrics(sample.raw["doc"], result)
        filter_key = str(sample.raw.get("filter") or FILTER_NAME)
        for name, value in metrics.items():
            raw_metrics.setdefault((name, filter_key), []).append(value)
        old_metrics = set(sample.raw.get("metrics") or [])
        line = {key: value for key, value in sample.raw.items() if key not in old_metrics}
        lines.append({**line, "filtered_resps": [result.to_json()], "metrics": list(metrics), **metrics})
    return raw_metrics, lines


def _write_agreement(
    out: Path, run: Run, agreement: AgreementReport, results_path: Path
) -> tuple[Path, Path]:
    """Write ``agreement.json`` and ``agreement.md`` into ``out``; return their paths."""
    agreement_json, agreement_md = out / "agreement.json", out / "agreement.md"
    payload = {
        "source": str(run.results_path),
        "results_file": results_path.name,
        "model": run.base_model,
        **agreement.to_dict(),
    }
    agreement_json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", "utf-8")
    notes = [f"judge A's verdicts: `{run.results_path}`", f"judge B's verdicts: `{results_path}`"]
    agreement_md.write_text(agreement.to_markdown(notes=notes), "utf-8")
    return agreement_json, agreement_md


def _pair(sample: Sample, new: JudgeResult) -> VerdictPair:
    """The sample's old verdict (judge A) and ``new`` one (judge B)."""
    old = sample.result
    return VerdictPair(
        set_name=sample.task.set_name,
        subcategory=sample.subcategory,
        doc_id=sample.doc_id,
        prompt=sample.prompt,
        verdict_a=verdict_of(old),
        verdict_b=verdict_of(new),
        rationale_a=old.output if old is not None else "",
        rationale_b=new.output,
        category=sample.category,
        task=sample.task.task,
    )


def _metric(values: Mapping[str, Any], name: str) -> float | None:
    value = values.get(f"{name},{FILTER_NAME}")
    return float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None
