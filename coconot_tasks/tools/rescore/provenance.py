"""What a rescored run records: ``config.rescore`` (the source run, both judges, what judging cost)
and, in each task config's ``metadata``, the new judge instead of the old one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coconot_tasks import __version__
from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.settings import JUDGE_RECORD_KEY, JudgeSettings
from coconot_tasks.judge.types import JudgeStats
from coconot_tasks.results.saved_runs import Run

#: Keys of a task config's ``metadata`` that describe the judge (replaced on rescoring).
JUDGE_METADATA_KEYS = ("judge_backend", "judge_model", "judge_base_url", JUDGE_RECORD_KEY)


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
    updated = dict(config)
    metadata = dict(updated.get("metadata") or {})
    for key in JUDGE_METADATA_KEYS:
        metadata.pop(key, None)
    metadata["judge_backend"] = settings.backend
    if backend_for(settings).remote:  # an offline judge (heuristic) has no model
        metadata["judge_model"] = settings.model
    if settings.base_url:
        metadata["judge_base_url"] = settings.endpoint
    metadata[JUDGE_RECORD_KEY] = judge_provenance(settings, served_models)
    updated["metadata"] = metadata
    return updated


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
        "judge_stats": {
            "items": stats.items,
            "requests": stats.requests,
            "cached": stats.cached,
            "empty": stats.empty,
            "errors": stats.errors,
            "not_judged": stats.not_judged,
            "prompt_tokens": stats.prompt_tokens,
            "completion_tokens": stats.completion_tokens,
            "cost_usd": stats.cost_usd,
        },
    }
    if isinstance(previous_config, dict) and "rescore" in previous_config:
        provenance["previous_rescore"] = previous_config["rescore"]
    return provenance
