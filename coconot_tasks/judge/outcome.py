"""Whether a batch's judging failed, and what to do about it: one rule for every judging path.

Failed (exit status 3 after the output is written): a rejected request parameter, the circuit
breaker, or judge errors without a single verdict. A dry run, ``--predict_only`` and the budget
cap judge less on purpose. Transient errors heal by rerunning; a permanent one names the fix.
"""

from __future__ import annotations

from coconot_tasks.judge.backends import backend_for
from coconot_tasks.judge.settings import JudgeSettings
from coconot_tasks.judge.types import JudgeStats

_UNCHANGED = "rerunning the unchanged command would fail the same way"


def batch_failure(stats: JudgeStats, settings: JudgeSettings) -> str | None:
    """Why the batch's judging failed (one clause), or ``None`` when it did not."""
    if settings.dry_run:
        return None
    if stats.config_error:
        return f"the judge endpoint rejected a request parameter: {stats.config_error}"
    if stats.endpoint_down:
        return f"judging stopped early ({stats.not_judged} items not judged): {stats.endpoint_down}"
    if stats.errors and not stats.judge_verdicts:
        return f"the judge gave not one verdict ({stats.errors} judge errors, {stats.empty} empty responses)"
    return None


def what_to_do(stats: JudgeStats, settings: JudgeSettings, rerun: str) -> str:
    """One sentence for the items without a verdict: ``rerun`` (e.g. "rerun the same command")
    when every error was transient, else the setting to change."""
    if stats.config_error:
        return f"Change that setting ({stats.config_error}); {_UNCHANGED}."
    if stats.permanent_error is None:
        if stats.budget_exhausted and not stats.errors and not stats.endpoint_down:
            rerun = f"raise the budget cap (judge_max_cost_usd), then {rerun}"
        return f"{rerun[:1].upper()}{rerun[1:]}."
    status, model = stats.permanent_status, settings.model
    if status == 401:
        fix = f"the endpoint {settings.endpoint} rejected the API key: set {backend_for(settings).key_hint()}"
    elif status == 403:
        fix = f"no access to judge model {model!r}: use a key that has access, or another judge_model"
    elif status == 404:
        fix = (
            f"the endpoint {settings.endpoint} does not serve judge model {model!r}: set judge_model to a "
            "model it serves, or judge_base_url to its API root (usually ending in /v1)"
        )
    elif status is None:
        fix = (
            f"judge model {model!r} answered without a <label>: raise judge_max_tokens (a reasoning judge "
            "can spend them all on reasoning) or choose another judge_model"
        )
    else:
        fix = f"change the judge setting the endpoint refused ({stats.permanent_error})"
    return f"Fix the judge: {fix}; {_UNCHANGED}."
