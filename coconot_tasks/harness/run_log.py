"""What a CoCoNot run tells its user beyond the table: log lines, judge spend and exit status."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from typing import Final

from coconot_tasks.benchmark.names import group_name, task_name
from coconot_tasks.benchmark.taxonomy import SETS
from coconot_tasks.harness import exit_status
from coconot_tasks.judge.backends import request_shape
from coconot_tasks.judge.outcome import batch_failure, what_to_do
from coconot_tasks.judge.pricing import format_cost, prices_known
from coconot_tasks.judge.provenance import served_by
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeStats

logger = logging.getLogger("coconot_tasks")

#: How an ``lm_eval`` run resumes after transient judge errors.
_RERUN = (
    "rerun the same command with --use_cache <path> (generations): verdicts already obtained come from "
    "the judge cache, so only the items without one are judged again"
)


#: The lm-eval task and group names this package defines.
TASK_AND_GROUP_NAMES: Final = frozenset(
    {task_name(set_name, system_prompt) for set_name in SETS for system_prompt in (False, True)}
    | {group_name(system_prompt) for system_prompt in (False, True)}
)


class _QuietExpectedWarnings(logging.Filter):
    """Drop lm-eval warnings that CoCoNot's design makes expected and unactionable (rates returned
    only for the rows they cover, per-set metric directions, the ``--metadata`` hint), for this
    package's own tasks and groups only (by exact name)."""

    _EXPECTED = tuple(
        re.compile(pattern)
        for pattern in (
            r"^\[(?P<name>[^\]]+)\] Metrics were not scored on the same number of documents",
            r"^(?P<name>\S+): Custom kwargs can be passed to `--metadata`",
            r"^Higher_is_better values for metric \S+ in group (?P<name>\S+) are not consistent",
        )
    )

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for pattern in self._EXPECTED:
            match = pattern.match(message)
            if match and match.group("name") in TASK_AND_GROUP_NAMES:
                return False
        return True


def install_log_filter() -> None:
    """Attach the filter to the lm-eval loggers that emit those warnings (idempotent)."""
    for name in ("lm_eval.evaluator_utils", "lm_eval.api.task", "lm_eval.api.group", "lm_eval.evaluator"):
        target = logging.getLogger(name)
        if not any(isinstance(f, _QuietExpectedWarnings) for f in target.filters):
            target.addFilter(_QuietExpectedWarnings())


#: Judge spend of this process so far, over all CoCoNot tasks (sets and conditions). lm-eval
#: builds a new filter for every task, so a run-wide total can only live in the process.
_RUN_TOTAL: defaultdict[str, float] = defaultdict(float)


def report_run_total(stats: JudgeStats, settings: JudgeSettings) -> None:
    """Log the running total; after the last CoCoNot task it is the whole run's judge spend."""
    added = {
        "tasks": 1, "unpriced": not prices_known(settings), "calls": stats.requests,
        "prompt_tokens": stats.prompt_tokens, "completion_tokens": stats.completion_tokens,
        "cost_usd": stats.cost_usd,
    }  # fmt: skip
    for key, value in added.items():
        _RUN_TOTAL[key] += value
    if _RUN_TOTAL["tasks"] > 1:
        logger.warning(
            "CoCoNot judge total over the %d CoCoNot tasks judged so far: %d judge calls, %d prompt + %d "
            "completion tokens, cost %s",
            _RUN_TOTAL["tasks"], _RUN_TOTAL["calls"], _RUN_TOTAL["prompt_tokens"],
            _RUN_TOTAL["completion_tokens"], format_cost(_RUN_TOTAL["cost_usd"], not _RUN_TOTAL["unpriced"]),
        )  # fmt: skip


def report_batch(set_name: str, settings: JudgeSettings, stats: JudgeStats) -> None:
    """Log the batch's accounting; say loudly what has no verdict and how to resume."""
    priced = prices_known(settings)
    logger.warning(
        "CoCoNot %s judged by %s: %d items, %d judge calls (%d cached, %d empty responses), "
        "%d judge errors, %d not judged; %d prompt + %d completion tokens, cost %s; %.2f s (%.2f s CPU), "
        "%.1f calls/s, concurrency peak %d (limit %d..%d, %d throttled, %d retried)",
        set_name, settings.judge_id, stats.items, stats.requests, stats.cached, stats.empty,
        stats.errors, stats.not_judged, stats.prompt_tokens, stats.completion_tokens,
        format_cost(stats.cost_usd, priced), stats.wall_seconds, stats.cpu_seconds, stats.calls_per_second,
        stats.peak_in_flight,
        int(stats.lowest_concurrency), settings.concurrency, stats.throttled, stats.retried,
    )  # fmt: skip
    if stats.served_models:
        logger.warning(
            "CoCoNot %s: verdicts from %s served by %s",
            set_name, settings.endpoint,
            served_by(stats.served_models),
        )  # fmt: skip
    unexpected = stats.unexpected_served_models(settings.model)
    if unexpected:
        logger.warning(
            "CoCoNot %s: the judge endpoint %s answered as %s, not the requested model %r or one of "
            "its snapshots: the verdicts are that model's (recorded in each sample and the results).",
            set_name, settings.endpoint, ", ".join(unexpected), settings.model,
        )  # fmt: skip
    if stats.cache_problem:
        logger.error(
            "CoCoNot %s: the judge verdict cache failed (%d reads counted as misses, %d verdicts used in "
            "this run but not stored, so a rerun judges them again): %s",
            set_name, stats.cache_read_failures, stats.cache_write_failures, stats.cache_problem,
        )  # fmt: skip
    if settings.dry_run:
        logger.warning(
            "CoCoNot %s DRY RUN (nothing sent to the judge): %d judge calls needed, estimated cost "
            "%s (at most %s if every verdict used all %d completion tokens); %d already cached.",
            set_name, stats.estimated_calls, format_cost(stats.estimated_cost_usd, priced),
            format_cost(stats.estimated_max_cost_usd, priced),
            request_shape(settings).max_completion_tokens, stats.cached,
        )  # fmt: skip
    if stats.budget_exhausted:
        logger.error(
            "CoCoNot %s: the judge budget cap of $%s was reached; %d items were NOT judged and are "
            "counted in judge_error_rate. Raise judge_max_cost_usd and rerun the same command: judged "
            "items come from the cache.", set_name, settings.max_cost_usd, stats.not_judged,
        )  # fmt: skip
    advice = what_to_do(stats, settings, _RERUN)
    if stats.config_error:
        logger.error(
            "CoCoNot %s: the judge endpoint rejected a request parameter: %s", set_name, stats.config_error
        )
    if stats.endpoint_down:
        logger.error(
            "CoCoNot %s: judging STOPPED early, %s. %d items were NOT judged and are counted in "
            "judge_error_rate. %s",
            set_name, stats.endpoint_down, stats.not_judged, advice,
        )  # fmt: skip
    if stats.errors:
        logger.error(
            "CoCoNot %s: %d of %d items have NO verdict (judge errors; reported as judge_error_rate and "
            "left out of compliance_rate). First errors: %s. %s",
            set_name, stats.errors, stats.items, "; ".join(stats.error_messages[:3]), advice,
        )  # fmt: skip
    missing = stats.no_verdict
    failure = batch_failure(stats, settings)
    if failure:
        exit_status.fail_after_run(f"CoCoNot {set_name}: {failure}. {advice}")
    elif (
        settings.max_error_rate is not None
        and stats.items
        and missing / stats.items > settings.max_error_rate
    ):
        exit_status.fail_after_run(
            f"CoCoNot {set_name}: {missing}/{stats.items} items without a verdict exceeds "
            f"judge_max_error_rate={settings.max_error_rate}. {advice}"
        )
