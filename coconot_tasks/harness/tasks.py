"""The functions the YAML task definitions name with ``!function``.

- ``original_dataset`` / ``contrast_dataset`` (``custom_dataset``): resolve the judge
  settings from ``--metadata`` and the environment, check that the judge can work (this
  runs while lm-eval builds its tasks, i.e. before any generation), then load the data;
- :class:`CoconotJudgeFilter`: judges all responses of a task in one concurrent batch;
- :func:`process_results`: turns each verdict into per-sample metrics.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

from lm_eval.api.filter import Filter
from lm_eval.api.registry import AGGREGATION_REGISTRY, register_aggregation

from coconot_tasks.benchmark.dataset import ENV_DATA_DIR, load_dataset_dict
from coconot_tasks.benchmark.official_files import load_system_prompt, rubric_for
from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL, SUM_AGGREGATION
from coconot_tasks.harness.run_log import install_log_filter, logger, report_batch, report_run_total
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeItem, JudgeResult
from coconot_tasks.metric import sample_metrics, total

install_log_filter()

if SUM_AGGREGATION not in AGGREGATION_REGISTRY:
    register_aggregation(SUM_AGGREGATION)(total)

#: Judge settings per set, resolved when lm-eval builds the task (before generation).
_SETTINGS: dict[str, JudgeSettings] = {}
_CHECKED: set[JudgeSettings] = set()


def _prepare(set_name: str, metadata: dict[str, Any], with_system_prompt: bool = False) -> Any:
    data_dir = metadata.get("data_dir")
    if data_dir:
        # The rubric and system prompt are looked up in the data directory too (offline use).
        os.environ.setdefault(ENV_DATA_DIR, str(data_dir))
    settings = JudgeSettings.resolve(metadata)
    if settings not in _CHECKED:
        check_judge(settings)
        _CHECKED.add(settings)
    _SETTINGS[set_name] = settings
    dataset = load_dataset_dict(
        set_name,
        data_dir=data_dir,
        revision=metadata.get("data_revision"),
        system_prompt=load_system_prompt() if with_system_prompt else None,
    )
    if settings.backend != "heuristic":
        for subcategory in sorted(set(dataset["test"]["subcategory"])):
            rubric_for(subcategory)  # fail now, not after generation
    else:
        logger.warning(
            "CoCoNot %s: judging with the offline HEURISTIC detector -- a smoke test, not the "
            "paper's LLM-judge metric.",
            set_name,
        )
    logger.info("CoCoNot %s: judge %s", set_name, settings.public())
    return dataset


def original_dataset(**metadata: Any) -> Any:
    """``custom_dataset`` of ``coconot_original``."""
    return _prepare(ORIGINAL, metadata)


def contrast_dataset(**metadata: Any) -> Any:
    """``custom_dataset`` of ``coconot_contrast``."""
    return _prepare(CONTRAST, metadata)


def original_sysprompt_dataset(**metadata: Any) -> Any:
    """``custom_dataset`` of ``coconot_original_sysprompt`` (rows carry the paper's system prompt)."""
    return _prepare(ORIGINAL, metadata, with_system_prompt=True)


def contrast_sysprompt_dataset(**metadata: Any) -> Any:
    """``custom_dataset`` of ``coconot_contrast_sysprompt`` (rows carry the paper's system prompt)."""
    return _prepare(CONTRAST, metadata, with_system_prompt=True)


def settings_for(set_name: str) -> JudgeSettings:
    """The judge settings of ``set_name`` (from the environment if the task did not set them)."""
    return _SETTINGS.get(set_name) or JudgeSettings.resolve()


class CoconotJudgeFilter(Filter):
    """Judge every response of a task in one concurrent, cached batch.

    Returns one JSON string per document (a :class:`JudgeResult`); never raises for a
    failed judge call, so the generations are never lost.
    """

    def __init__(self, set_name: str = ORIGINAL, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.set_name = set_name

    def apply(self, resps: Iterable[Any], docs: Sequence[dict[str, Any]]) -> list[str]:
        """Judge ``resps`` (one list of generations per doc) against ``docs``."""
        responses = [_first(r) for r in resps]
        items = [
            JudgeItem(
                set_name=self.set_name,
                prompt=str(doc["prompt"]),
                response=response,
                subcategory=str(doc["subcategory"]),
                category=str(doc["category"]),
                doc_id=str(doc.get("id", "")),
            )
            for doc, response in zip(docs, responses, strict=True)
        ]
        settings = settings_for(self.set_name)
        results, stats = judge_items(items, settings, desc=f"CoCoNot judge ({self.set_name})")
        report_batch(self.set_name, settings, stats)
        report_run_total(stats)
        return [result.to_json() for result in results]


def _first(resp: Any) -> str:
    if isinstance(resp, (list, tuple)):
        resp = resp[0] if resp else ""
    return "" if resp is None else str(resp)


def process_results(doc: dict[str, Any], results: Sequence[Any]) -> dict[str, float]:
    """Per-sample metrics of one doc (see :mod:`coconot_tasks.metric`)."""
    return sample_metrics(doc, JudgeResult.from_json(str(results[0])))
