"""What the judge engine takes and gives: items, per-item results and batch accounting."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from coconot_tasks.judge.verdict import Verdict

OUTCOME_JUDGED = "judged"
OUTCOME_CACHED = "cached"
OUTCOME_EMPTY = "empty_response"
OUTCOME_ERROR = "error"
OUTCOME_NOT_JUDGED = "not_judged"
#: The response holds no answer (the model's reasoning never finished): not judged, no verdict,
#: reported as ``no_answer_rate`` -- not a judge error (see :mod:`coconot_tasks.generation`).
OUTCOME_NO_ANSWER = "no_answer"
#: Outcomes without a verdict: counted in ``judge_error_rate``, never a label.
NO_VERDICT_OUTCOMES = (OUTCOME_ERROR, OUTCOME_NOT_JUDGED)
#: Outcomes whose verdict came from the judge (now or from the cache).
JUDGE_VERDICT_OUTCOMES = (OUTCOME_JUDGED, OUTCOME_CACHED)


@dataclass(frozen=True)
class JudgeItem:
    """One response to judge."""

    set_name: str
    prompt: str
    response: str
    subcategory: str
    category: str = ""
    doc_id: str = ""

    @classmethod
    def from_row(cls, set_name: str, row: Mapping[str, Any], response: str) -> JudgeItem:
        """The item of ``response`` to a CoCoNot row (``prompt``, ``subcategory``, ``category``, ``id``)."""
        return cls(
            set_name,
            str(row["prompt"]),
            response,
            str(row["subcategory"]),
            str(row["category"]),
            str(row.get("id", "")),
        )


@dataclass
class JudgeResult:
    """The judge's decision on one item, as logged with each lm-eval sample."""

    verdict: Verdict | None
    outcome: str
    judge: str
    set_name: str
    category: str = ""
    subcategory: str = ""
    output: str = ""
    error: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    attempts: int = 0
    #: The model id the endpoint reported for this verdict (a cache hit: when it was judged);
    #: ``None`` when no judge model answered (empty response, error, offline judge).
    served_model: str | None = None
    #: The judge endpoint, credentials removed; ``None`` when no endpoint was involved.
    endpoint: str | None = None
    #: What the judge saw when it differs from the raw response (the reasoning removed);
    #: ``None`` (and left out of the JSON) when the judge saw the response as it is.
    answer: str | None = None

    @property
    def ok(self) -> bool:
        """True when the item has a verdict (judged, cached or empty response)."""
        return self.outcome not in NO_VERDICT_OUTCOMES and self.verdict is not None

    def to_json(self) -> str:
        """Serialise for lm-eval's ``filtered_resps`` (logged via ``str()``)."""
        data = asdict(self)
        if self.answer is None:
            del data["answer"]
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def without_verdict(cls, item: JudgeItem, outcome: str, reason: str) -> JudgeResult:
        """The result of an item the judge never saw (``outcome`` and ``reason`` say why)."""
        return cls(
            verdict=None,
            outcome=outcome,
            judge="none",
            set_name=item.set_name,
            category=item.category,
            subcategory=item.subcategory,
            error=reason,
        )

    @classmethod
    def from_json(cls, text: str) -> JudgeResult:
        """Inverse of :meth:`to_json` (unknown keys from newer versions are ignored)."""
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class JudgeStats:
    """Accounting for one :func:`judge_items` call."""

    items: int = 0
    requests: int = 0  # requests sent (retries included)
    cached: int = 0
    empty: int = 0
    errors: int = 0
    not_judged: int = 0
    throttled: int = 0
    retried: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    estimated_calls: int = 0
    estimated_cost_usd: float = 0.0
    estimated_max_cost_usd: float = 0.0
    budget_exhausted: bool = False
    endpoint_down: str | None = None  # why the circuit breaker stopped judging
    #: Why judging stopped on a configuration error: the endpoint refused a parameter of the
    #: request (names the parameter and the setting to change); the rest was not judged.
    config_error: str | None = None
    #: Answers of a reasoning judge that spent the whole completion budget reasoning (judge errors).
    reasoning_out_of_tokens: int = 0
    peak_in_flight: int = 0
    lowest_concurrency: float = 0.0
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    error_messages: list[str] = field(default_factory=list)
    #: Verdicts per model id the endpoint reported (judged and cached ones).
    served_models: Counter[str] = field(default_factory=Counter)
    #: Verdict cache trouble: failed reads (treated as misses), failed writes (verdicts kept
    #: for this run, not stored), and what went wrong first -- or why it could not be opened.
    cache_read_failures: int = 0
    cache_write_failures: int = 0
    cache_problem: str | None = None
    #: The first judge error a rerun would not heal (not a 408/409/429/5xx, timeout or connection
    #: failure; an output without a label counts too) and its HTTP status (``None``: no HTTP error).
    permanent_error: str | None = None
    permanent_status: int | None = None

    def note_permanent(self, description: str, status: int | None = None) -> None:
        """Remember ``description`` as :attr:`permanent_error` unless one is already kept."""
        if self.permanent_error is None:
            self.permanent_error, self.permanent_status = description, status

    @property
    def no_verdict(self) -> int:
        """Items without a verdict: judge errors plus items not judged."""
        return self.errors + self.not_judged

    @property
    def judge_verdicts(self) -> int:
        """Items with a verdict from the judge (judged now or cached; empty responses need none)."""
        return self.items - self.no_verdict - self.empty

    def unexpected_served_models(self, requested: str) -> list[str]:
        """Served model ids that are neither ``requested`` nor one of its dated snapshots."""
        return sorted(m for m in self.served_models if m != requested and not m.startswith(f"{requested}-"))

    @property
    def calls_per_second(self) -> float:
        """Observed judge request rate over the wall time of the batch."""
        return self.requests / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def count_outcome(self, result: JudgeResult, *, keep_error: bool = True) -> None:
        """Count ``result`` in ``cached``, ``empty``, ``not_judged`` or ``errors`` by its outcome (not in
        ``items``); with ``keep_error``, an error's message is kept too (the first five are)."""
        if result.served_model and result.verdict is not None:
            self.served_models[result.served_model] += 1
        tally = _TALLIES.get(result.outcome)
        if tally is not None:
            setattr(self, tally, getattr(self, tally) + 1)
        if result.outcome == OUTCOME_ERROR and keep_error and result.error and len(self.error_messages) < 5:
            self.error_messages.append(result.error)

    # -- a share of a batch, and its JSON (used by validate-judge's per-check accounting) --

    @classmethod
    def of_results(cls, results: Sequence[JudgeResult]) -> JudgeStats:
        """The accounting of ``results``, e.g. one check's share of a batch (requests = attempts made)."""
        stats = cls(items=len(results))
        for result in results:
            stats.count_outcome(result)
            stats.requests += result.attempts
            stats.prompt_tokens += result.prompt_tokens
            stats.completion_tokens += result.completion_tokens
            stats.cost_usd += result.cost_usd
        return stats

    def to_dict(self) -> dict[str, Any]:
        """The counts, tokens, cost, time and first errors as JSON-able data."""
        data = {("empty_responses" if name == "empty" else name): getattr(self, name) for name in _REPORTED}
        return {**data, "error_messages": list(self.error_messages)}


#: The :class:`JudgeStats` count of each outcome counted apart (judged ones are the rest).
_TALLIES = {
    OUTCOME_CACHED: "cached",
    OUTCOME_EMPTY: "empty",
    OUTCOME_NOT_JUDGED: "not_judged",
    OUTCOME_ERROR: "errors",
}
#: The :class:`JudgeStats` fields of :meth:`JudgeStats.to_dict`, in its order.
_REPORTED = (
    "items", "requests", "cached", "empty", "errors", "not_judged", "budget_exhausted", "endpoint_down",
    "prompt_tokens", "completion_tokens", "cost_usd", "wall_seconds",
)  # fmt: skip
