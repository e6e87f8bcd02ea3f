"""What the task YAMLs name with ``!function``: :func:`dataset` (resolves and checks the judge and
loads the data, before any generation), :class:`CoconotJudgeFilter` (judges all answers of a task
in one concurrent batch) and :func:`process_results` (one verdict -> the doc's metrics)."""

from __future__ import annotations

import functools
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

from lm_eval import evaluator
from lm_eval.api.filter import Filter
from lm_eval.api.registry import AGGREGATION_REGISTRY, register_aggregation
from lm_eval.api.task import ConfigurableTask, Task

from coconot_tasks.benchmark.dataset import DataError, load_dataset_dict
from coconot_tasks.benchmark.names import RATE_AGGREGATION, SUM_AGGREGATION, metric_names
from coconot_tasks.benchmark.official_files import (
    ResourceError,
    Rubric,
    load_rubric,
    load_system_prompt,
    rubric_entry,
)
from coconot_tasks.generation import (
    AnswerConfigError,
    AnswerRules,
    judge_answers,
    lm_eval_none_placeholder,
    warn_about_answers,
)
from coconot_tasks.harness import exit_status
from coconot_tasks.harness.checks import running_call_locals, warn_if_chat_template_missing
from coconot_tasks.harness.run_log import install_log_filter, logger, report_batch, report_run_total
from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.backends.base import JudgeFacts
from coconot_tasks.judge.engine import judge_items
from coconot_tasks.judge.errors import JudgeConfigError
from coconot_tasks.judge.preflight import check_judge
from coconot_tasks.judge.provenance import judge_provenance
from coconot_tasks.judge.settings import JUDGE_RECORD_KEY, JudgeSettings
from coconot_tasks.judge.types import OUTCOME_NOT_JUDGED, JudgeItem, JudgeResult
from coconot_tasks.metric import rate_mean, sample_metrics, total, with_every_key

# lm-eval looks aggregations and filters up by name in its registries, and offers no hook
# to undo a log filter: registering them when lm-eval loads the tasks is its own contract.
install_log_filter()
exit_status.register()
for _name, _function in ((SUM_AGGREGATION, total), (RATE_AGGREGATION, rate_mean)):
    if _name not in AGGREGATION_REGISTRY:
        register_aggregation(_name)(_function)


@dataclass(frozen=True)
class TaskJudge:
    """What a task's filter needs to judge: the settings and rubric resolved with its data."""

    settings: JudgeSettings
    rubric: Rubric | None
    #: The judge record of the task config's metadata (the empty dict its YAML declares):
    #: lm-eval passes the metadata to ``custom_dataset`` as a copy but nested values by
    #: reference, so completing this dict writes it into the results JSON with the config.
    record: dict[str, Any] | None = None
    #: How the answer is found in each response (the reasoning removed).
    answers: AnswerRules = AnswerRules()


#: Per task name. lm-eval passes ``--metadata`` to a task's ``custom_dataset`` but not to
#: its filter, so the judge resolved (and checked) with the data waits here for the filter.
_TASK_JUDGES: dict[str, TaskJudge] = {}

#: Each judge is checked once per process; what the check learned is kept.
_check_judge_once = functools.cache(check_judge)


#: Errors whose message says what to fix: shown as one line, without a traceback.
CONFIG_ERRORS = (JudgeConfigError, DataError, ResourceError, AnswerConfigError)


def dataset(*, task: str, set_name: str, system_prompt: bool = False, **metadata: Any) -> Any:
    """``custom_dataset`` of every CoCoNot task; ``task``, ``set_name`` and ``system_prompt`` come
    from the task's ``dataset_kwargs``, everything else from ``--metadata``."""
    try:
        return _load(task, set_name, system_prompt, metadata)
    except CONFIG_ERRORS:
        _show_config_errors_in_one_line()
        raise


@functools.cache  # installed once
def _show_config_errors_in_one_line() -> None:
    """Make the interpreter print an uncaught :data:`CONFIG_ERRORS` as ``error: <message>`` (lm-eval
    lets them reach it: a 45-line traceback); API callers still get the exception."""
    previous = sys.excepthook

    def hook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if isinstance(exc, CONFIG_ERRORS):
            print(f"error: {exc}", file=sys.stderr)
        else:
            previous(kind, exc, tb)

    sys.excepthook = hook


def _load(task: str, set_name: str, system_prompt: bool, metadata: dict[str, Any]) -> Any:
    warn_if_chat_template_missing(task)
    settings = JudgeSettings.resolve(metadata)
    answers = AnswerRules.from_metadata(metadata, lm_eval_none_placeholder())
    data_dir = metadata.get("data_dir")
    facts: JudgeFacts | None = None
    if _predict_only_requested():
        logger.warning("CoCoNot %s: --predict_only: responses are saved unjudged, for coconot rescore.", task)
    else:
        backend_for(settings).reserve(settings)  # this task will judge: a judge server stays up until then
        facts = _check_judge_once(settings)  # for judge_backend=vllm: starts the local server
    data = load_dataset_dict(
        set_name,
        data_dir=data_dir,
        revision=metadata.get("data_revision"),
        system_prompt=load_system_prompt(data_dir) if system_prompt else None,
    )
    rubric = None
    if backend_for(settings).remote:
        rubric = load_rubric(data_dir)
        for subcategory in sorted(set(data["test"]["subcategory"])):
            rubric_entry(rubric, subcategory)  # fail now, not after generation
    else:
        logger.warning(
            "CoCoNot %s: judging with the offline HEURISTIC detector -- a smoke test, not the "
            "paper's LLM-judge metric.",
            task,
        )
    record = metadata.get(JUDGE_RECORD_KEY)
    if isinstance(record, dict):
        shutdown = facts.shutdown_date if facts else None
        record.clear()
        record.update(judge_provenance(settings), shutdown_date=shutdown.isoformat() if shutdown else None)
    else:
        record = None
    _TASK_JUDGES[task] = TaskJudge(settings, rubric, record, answers)
    logger.info("CoCoNot %s: judge %s", task, settings.public())
    return data


class CoconotJudgeFilter(Filter):
    """Judge every response of a task in one concurrent, cached batch: one :class:`JudgeResult` JSON
    string per doc; a failed judge call never raises, so the generations are never lost."""

    def __init__(self, task: str, set_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.set_name = set_name

    def apply(self, resps: Iterable[Any], docs: Sequence[dict[str, Any]]) -> list[str]:
        """Judge ``resps`` (one list of generations per doc) against ``docs``."""
        items = [
            JudgeItem.from_row(self.set_name, doc, _first(resp))
            for doc, resp in zip(docs, resps, strict=True)
        ]
        judge = _TASK_JUDGES.get(self.task) or TaskJudge(JudgeSettings.resolve(), None)
        lm_task = _filtering_task()
        opened = [judge.answers.prompt_opens_reasoning(prompt) for prompt in _prompts(lm_task, len(items))]
        answers = [
            judge.answers.answer(item.response, prompt_opened=prompt_opened)
            for item, prompt_opened in zip(items, opened, strict=True)
        ]
        for message in warn_about_answers(self.task, judge.answers, answers, sum(opened)):
            logger.warning("%s", message)
        if "bypass" in getattr(lm_task, "_metric_fn_list", {}):  # lm-eval's --predict_only
            logger.warning("CoCoNot %s: --predict_only: %d responses saved unjudged.", self.task, len(items))
            reason = "predict only: not judged"
            return [JudgeResult.without_verdict(item, OUTCOME_NOT_JUDGED, reason).to_json() for item in items]
        settings = judge.settings
        if (world_size := _world_size()) > 1 and settings.max_cost_usd is not None:
            # every rank judges its own shard: an equal share of the cap keeps the run within it
            settings = replace(settings, max_cost_usd=settings.max_cost_usd / world_size)
        try:
            results, stats = judge_answers(
                items,
                answers,
                lambda answered: judge_items(
                    answered, settings, rubric=judge.rubric, desc=f"CoCoNot judge ({self.task})"
                ),
            )
        finally:
            backend_for(judge.settings).release(judge.settings)  # the last task frees a judge server now
        report_batch(self.task, settings, stats)
        report_run_total(stats, settings)
        if judge.record is not None:
            judge.record.update(judge_provenance(judge.settings, stats.served_models))
        return [result.to_json() for result in results]


def process_results(doc: dict[str, Any], results: Sequence[Any]) -> dict[str, float | None]:
    """Per-sample metrics of one doc (see :mod:`coconot_tasks.metric`)."""
    result = JudgeResult.from_json(str(results[0]))
    metrics = sample_metrics(doc, result)
    return with_every_key(metrics, metric_names(result.set_name)) if _world_size() > 1 else dict(metrics)


def _first(resp: Any) -> str:
    if isinstance(resp, (list, tuple)):
        resp = resp[0] if resp else ""
    return "" if resp is None else str(resp)


def _predict_only_requested() -> bool:
    """``lm_eval --predict_only`` (``-x``): lm-eval tells the tasks only after building them, so
    the command line is the one place to know it before the judge is checked."""
    return any(arg in ("--predict_only", "-x") or arg.startswith("--predict_only=") for arg in sys.argv[1:])


def _filtering_task() -> Any:
    """The lm-eval task whose filters are running (``None`` outside ``Task.apply_filters``)."""
    return (running_call_locals(Task.apply_filters, ConfigurableTask.apply_filters) or {}).get("self")


def _prompts(task: Any, count: int) -> list[str]:
    """The prompt each of the ``count`` responses answered, as the model got it (``""`` if unknown):
    lm-eval hands a filter no requests, but ``task``'s instances (one per response, in order) hold
    the rendered prompt, which with a local chat template may end with an opening ``<think>``."""
    instances = getattr(task, "_instances", None)
    if not isinstance(instances, list) or len(instances) != count:
        return [""] * count
    return [str(instance.arguments[0]) if instance.arguments else "" for instance in instances]


def _world_size() -> int:
    """The number of ranks lm-eval shards the documents over (1 unless data-parallel)."""
    size = (running_call_locals(evaluator.evaluate) or {}).get("WORLD_SIZE")
    return size if isinstance(size, int) and size > 1 else 1
