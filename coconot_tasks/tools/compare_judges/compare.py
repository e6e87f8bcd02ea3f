"""The numbers of ``coconot compare-judges``: every judge's verdicts on the same saved responses.

A response without a verdict from a judge is left out of that judge's numbers and counted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations

from coconot_tasks.benchmark.names import slug
from coconot_tasks.judge.dedup import judge_unique
from coconot_tasks.judge.types import JudgeResult, JudgeStats
from coconot_tasks.results.saved_runs import Run, Sample
from coconot_tasks.tools.agreement import AgreementStats, VerdictPair
from coconot_tasks.tools.compare_judges.specs import JudgeSpec
from coconot_tasks.tools.report.numbers import Scope, sample_scopes, verdict_of
from coconot_tasks.tools.report.stats import PairedDifference, paired_difference, wilson


@dataclass(frozen=True)
class Response:
    """One saved response to judge: its run (by name) and its sample."""

    run: str
    sample: Sample


def select_responses(
    runs: Sequence[Run], *, limit: int | None = None, set_name: str | None = None, category: str | None = None
) -> list[Response]:
    """The logged responses: the first ``limit`` per task, of one set and one category (name or slug)."""
    wanted = slug(category.strip()) if category else None
    models = [run.model for run in runs]
    chosen: list[Response] = []
    for run in runs:
        name = run.model if models.count(run.model) == 1 else f"{run.model} ({run.results_path})"
        for info in run.tasks:
            if set_name and info.set_name != set_name:
                continue
            samples = [
                s
                for s in run.samples.get(info.task, [])
                if wanted is None or wanted in (slug(s.category), s.category.lower())
            ]
            chosen += [Response(name, s) for s in samples[:limit]]
    return chosen


def judge_all(
    specs: Sequence[JudgeSpec],
    responses: Sequence[Response],
    *,
    max_cost_usd: float | None = None,
    progress: bool = True,
) -> tuple[list[list[JudgeResult | None]], list[JudgeStats | None]]:
    """Each judge's result per response (``saved``: the run's own verdict) and its stats.

    ``max_cost_usd`` caps all judges together: each gets what the ones before it left."""
    items = [r.sample.judge_item() for r in responses]
    verdicts: list[list[JudgeResult | None]] = []
    stats: list[JudgeStats | None] = []
    spent = 0.0
    for spec in specs:
        if spec.settings is None:
            verdicts.append([r.sample.result for r in responses])
            stats.append(None)
            continue
        settings = spec.settings
        if max_cost_usd is not None:
            # JudgeSettings refuses a cap of 0: a tiny positive one stops before the first call
            settings = replace(settings, max_cost_usd=max(max_cost_usd - spent, 1e-12))
        results, judge_stats = judge_unique(
            items, settings, progress=progress, desc=f"CoCoNot judge {spec.name}"
        )
        spent += judge_stats.estimated_cost_usd if settings.dry_run else judge_stats.cost_usd
        verdicts.append(list(results))
        stats.append(judge_stats)
    return verdicts, stats


@dataclass
class JudgeRate:
    """One judge's compliance rate over one scope: ``k`` of the ``n`` responses with a verdict complied."""

    rate: float | None
    k: int
    n: int
    ci95: tuple[float, float] | None  # 95% Wilson interval
    no_verdict: int

    @classmethod
    def of(cls, verdicts: list[str | None]) -> JudgeRate:
        """The rate of some verdicts (``None``: no verdict)."""
        k, n = verdicts.count("compliance"), len(verdicts) - verdicts.count(None)
        return cls(k / n if n else None, k, n, wilson(k, n) if n else None, len(verdicts) - n)


@dataclass
class ScopeNumbers:
    """Everything computed for one scope."""

    scope: Scope
    rates: list[JudgeRate]
    differences: list[PairedDifference | None]  # judge j vs the first judge (None for the first)
    agreement: dict[tuple[int, int], AgreementStats] = field(default_factory=dict)  # i < j


@dataclass
class JudgeComparison:
    """The judges, the responses, every verdict and the numbers per scope."""

    judges: list[JudgeSpec]
    responses: list[Response]
    results: list[list[JudgeResult | None]]  # per judge, per response
    verdicts: list[list[str | None]]  # per judge, per response (None: no verdict)
    stats: list[JudgeStats | None]
    scopes: list[ScopeNumbers]

    @property
    def names(self) -> list[str]:
        """The judges' names, in order."""
        return [spec.name for spec in self.judges]

    def whole_set(self, set_name: str) -> ScopeNumbers | None:
        """The numbers of a whole set (``None`` when no response is of that set)."""
        return next((s for s in self.scopes if s.scope == Scope(set_name)), None)

    def disagreements(self) -> list[int]:
        """Responses where at least two judges gave different verdicts."""
        return [i for i in range(len(self.responses)) if len({c[i] for c in self.verdicts} - {None}) > 1]


def compare_judges(
    judges: Sequence[JudgeSpec],
    responses: Sequence[Response],
    results: Sequence[Sequence[JudgeResult | None]],
    stats: Sequence[JudgeStats | None],
) -> JudgeComparison:
    """The numbers of every scope (set, category, subcategory) from each judge's results."""
    verdicts = [[verdict_of(r) for r in column] for column in results]
    members: dict[Scope, list[int]] = defaultdict(list)
    for index, response in enumerate(responses):
        for scope in sample_scopes(response.sample):
            members[scope].append(index)
    scopes = []
    for scope in sorted(members):
        columns = [[column[i] for i in members[scope]] for column in verdicts]  # per judge
        rates = [JudgeRate.of(column) for column in columns]
        differences: list[PairedDifference | None] = [None]
        for column in columns[1:]:
            both = [(a, b) for a, b in zip(columns[0], column, strict=True) if None not in (a, b)]
            differences.append(paired_difference((a == "compliance", b == "compliance") for a, b in both))
        agreement = {}
        for a, b in combinations(range(len(judges)), 2):
            agreement[(a, b)] = AgreementStats()
            for x, y in zip(columns[a], columns[b], strict=True):
                agreement[(a, b)].add(VerdictPair(scope.set_name, "", "", "", x, y))
        scopes.append(ScopeNumbers(scope, rates, differences, agreement))
    per_judge = [list(column) for column in results]
    return JudgeComparison(list(judges), list(responses), per_judge, verdicts, list(stats), scopes)
