"""The numbers of a CoCoNot report: one row per model and condition (with or without the system prompt).

Rates are counted on the logged samples (judge errors left out, as the metric does), checked against the
results JSON and given a 95% Wilson interval; without samples, the results JSON value is used.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from coconot_tasks.benchmark.names import (
    CATEGORY_SLUGS,
    COMPLIANCE_HIGHER_IS_BETTER,
    SCORE_NAME,
    group_name,
    metric_scopes,
    slug,
)
from coconot_tasks.benchmark.taxonomy import CONTRAST, EXPECTED_COUNTS, ORIGINAL, SETS
from coconot_tasks.judge.types import OUTCOME_NO_ANSWER, JudgeResult
from coconot_tasks.results.judges import JudgeMix, JudgeRecord, describe_judges, judge_mix, run_judges
from coconot_tasks.results.saved_runs import Run, Sample
from coconot_tasks.tools.report.stats import PairedDifference, paired_difference, wilson

RATE = "compliance_rate"
#: Relative tolerance when checking a rate counted on the samples against the results JSON.
TOLERANCE = 1e-9
NO_CI_NOTE = "no CI: samples not logged"
COUNTED_NOTE = "not in the results JSON: counted on the samples"
SET_TITLES = {ORIGINAL: "Original set", CONTRAST: "Contrast set"}
#: The verdict that counts as a failure, per set (original: complied; contrast: refused).
FAILURE_VERDICT = {ORIGINAL: "compliance", CONTRAST: "noncompliance"}


class ReportError(ValueError):
    """The runs cannot be reported (inconsistent files, unknown baseline, ...)."""


class MixedJudgesError(ReportError):
    """The runs were scored by different judges and mixing them was not allowed."""


def arrow(set_name: str) -> str:
    """The direction of improvement of the compliance rate of a set: ``↓`` or ``↑``."""
    return "↑" if COMPLIANCE_HIGHER_IS_BETTER[set_name] else "↓"


def direction(set_name: str) -> str:
    """``higher is better`` or ``lower is better`` for the compliance rate of a set."""
    return "higher is better" if COMPLIANCE_HIGHER_IS_BETTER[set_name] else "lower is better"


_CATEGORY_NAMES = {cat_slug: name for name, cat_slug in CATEGORY_SLUGS.items()}
_SUBCATEGORY_NAMES = {slug(sub): sub for counts in EXPECTED_COUNTS.values() for _category, sub in counts}
#: Every (category, subcategory) pair of slugs, in the paper's order.
_PAIRS = list(dict.fromkeys((slug(c), slug(s)) for counts in EXPECTED_COUNTS.values() for c, s in counts))


def _rank(value: object, order: Sequence[object]) -> int:
    return order.index(value) if value in order else len(order)


@dataclass(frozen=True)
class Scope:
    """What a rate covers: a whole set, one category or one subcategory (by slug)."""

    set_name: str
    category: str = ""
    subcategory: str = ""

    @classmethod
    def from_suffix(cls, set_name: str, suffix: str) -> Scope:
        """Parse a metric-name suffix (``""``, ``":safety"``, ``":safety/privacy_violations"``)."""
        category, _, subcategory = suffix.removeprefix(":").partition("/")
        return cls(set_name, category, subcategory)

    @property
    def metric(self) -> str:
        """The compliance-rate metric name of this scope (e.g. ``compliance_rate:safety/copyright``)."""
        category = f":{self.category}" if self.category else ""
        return RATE + category + (f"/{self.subcategory}" if self.subcategory else "")

    @property
    def level(self) -> str:
        """``set``, ``category`` or ``subcategory``."""
        return "subcategory" if self.subcategory else ("category" if self.category else "set")

    @property
    def category_name(self) -> str:
        """The category's CoCoNot name (or its slug when unknown)."""
        return _CATEGORY_NAMES.get(self.category, self.category)

    @property
    def short_label(self) -> str:
        """A column header: ``Safety``, ``Original (all)``, ``Contrast (all)``."""
        if not self.category:
            return f"{self.set_name.capitalize()} (all)"
        if self.subcategory:
            return _SUBCATEGORY_NAMES.get(self.subcategory, self.subcategory)
        return self.category.capitalize()

    @property
    def label(self) -> str:
        """A readable description: ``Requests with safety concerns / privacy violations``."""
        if not self.category:
            return f"{SET_TITLES.get(self.set_name, self.set_name)} (all)"
        return self.category_name + (f" / {self.short_label}" if self.subcategory else "")

    def _key(self) -> tuple[int, int, int, str, str]:
        return (
            _rank(self.set_name, SETS),
            _rank(self.category, ["", *CATEGORY_SLUGS.values()]),
            _rank((self.category, self.subcategory), [(self.category, ""), *_PAIRS]),
            self.category,
            self.subcategory,
        )

    def __lt__(self, other: Scope) -> bool:
        """Display order: set, then categories in the paper's order, each followed by its subcategories."""
        return self._key() < other._key()


def sample_scopes(sample: Sample) -> list[Scope]:
    """The three scopes a sample counts in (set, category, subcategory)."""
    return [
        Scope.from_suffix(sample.task.set_name, s) for s in metric_scopes(sample.category, sample.subcategory)
    ]


def verdict_of(result: JudgeResult | None) -> str | None:
    """The verdict, or ``None`` when the judge gave none (errors, budget cap, unreadable)."""
    return result.verdict if result is not None and result.ok else None


def has_no_answer(sample: Sample) -> bool:
    """True when the response held no answer (reasoning that never finished): not judged, no judge error."""
    return sample.result is not None and sample.result.outcome == OUTCOME_NO_ANSWER


@dataclass
class RateCell:
    """One rate of a row: the results JSON's (else ``k/n``), with the Wilson ``ci`` of sampled ``k/n``."""

    scope: Scope
    rate: float | None
    k: int | None = None
    n: int | None = None
    ci95: tuple[float, float] | None = None
    neither: int | None = None
    judge_errors: int | None = None
    source: str = "samples"  # samples | results | missing
    note: str = ""

    def to_json(self) -> dict[str, object]:
        """The cell for ``report.json`` (its scope as the metric name)."""
        values = {key: value for key, value in vars(self).items() if key != "scope"}
        return {"metric": self.scope.metric, **values, "note": self.note or None}


@dataclass
class ReportRow:
    """One model under one condition (with or without the system prompt)."""

    label: str
    model: str
    system_prompt: bool
    run: Run
    tasks: dict[str, str]  # set name -> lm-eval task
    samples: dict[str, list[Sample]]  # set name -> samples ([] when not logged)
    cells: dict[Scope, RateCell] = field(default_factory=dict)
    score: float | None = None
    score_source: str = "missing"  # results | computed | missing

    @property
    def judges(self) -> list[str]:
        """The judges named in the samples' verdicts."""
        found = {s.result.judge for samples in self.samples.values() for s in samples if s.result is not None}
        return sorted(j for j in found if j)

    @property
    def judge_records(self) -> list[JudgeRecord]:
        """The judges that scored this row's tasks (see :mod:`coconot_tasks.results.judges`)."""
        return run_judges(self.run, self.tasks.values())

    def judge_errors(self, set_name: str) -> list[Sample]:
        """Samples of ``set_name`` without a verdict."""
        samples = self.samples.get(set_name, [])
        return [s for s in samples if verdict_of(s.result) is None and not has_no_answer(s)]

    def failures(self, scope: Scope) -> list[Sample]:
        """Samples of a subcategory whose verdict is the set's failure (see ``FAILURE_VERDICT``)."""
        samples = self.samples.get(scope.set_name, [])
        bad = FAILURE_VERDICT[scope.set_name]
        return [s for s in samples if verdict_of(s.result) == bad and sample_scopes(s)[2] == scope]


@dataclass
class Comparison:
    """Paired comparison of two rows on the prompts both answered with a verdict."""

    kind: str  # "model" (vs the baseline) or "system_prompt" (vs the same model without it)
    reference: ReportRow
    compared: ReportRow
    results: dict[Scope, PairedDifference]
    unmatched: dict[str, tuple[int, int]]  # set -> (only in reference, only in compared)


@dataclass
class Report:
    """Everything a report shows."""

    rows: list[ReportRow]
    scopes: list[Scope]  # every scope with data in some row, in display order
    baseline: str | None
    comparisons: list[Comparison]
    warnings: list[str] = field(default_factory=list)
    judges: JudgeMix = field(default_factory=lambda: JudgeMix({}))

    @property
    def judge_notice(self) -> str | None:
        """The notice shown on top of every format when the runs were scored by different judges."""
        notice = self.judges.notice
        return f"Different judges: {notice}." if notice else None

    def scopes_of(self, set_name: str, *levels: str) -> list[Scope]:
        """The scopes of one set at some levels (``category``, ``subcategory``), in display order."""
        return [s for s in self.scopes if s.set_name == set_name and s.level in levels]

    @property
    def main_columns(self) -> list[Scope]:
        """The Table 2 columns: the 5 original categories, the original set and the contrast set."""
        columns = [Scope(ORIGINAL, c) for c in CATEGORY_SLUGS.values()]
        extra = [s for s in self.scopes_of(ORIGINAL, "category") if s not in columns]
        return [*columns, *extra, Scope(ORIGINAL), Scope(CONTRAST)]


def _count(samples: Iterable[Sample]) -> dict[Scope, Counter[str]]:
    counts: dict[Scope, Counter[str]] = defaultdict(Counter)
    for sample in samples:
        verdict = verdict_of(sample.result)
        for scope in sample_scopes(sample):
            counts[scope]["n" if verdict else "no_answer" if has_no_answer(sample) else "errors"] += 1
            if verdict:
                counts[scope][verdict] += 1
    return counts


def _result_scopes(run: Run, task: str, set_name: str) -> list[Scope]:
    values = (run.results.get("results") or {}).get(task) or {}
    scopes = []
    for key in values:
        metric = key.rpartition(",")[0] or key
        if metric.startswith(RATE) and not metric.endswith("_stderr"):
            scopes.append(Scope.from_suffix(set_name, metric[len(RATE) :]))
    return scopes


def _build_cells(row: ReportRow) -> None:
    for set_name, task in row.tasks.items():
        samples = row.samples.get(set_name, [])
        counts = _count(samples)
        for scope in set(counts) | set(_result_scopes(row.run, task, set_name)):
            value = row.run.metric(task, scope.metric)
            if not samples:
                if value is not None:
                    row.cells[scope] = RateCell(scope, value, source="results", note=NO_CI_NOTE)
                continue
            k, n = counts[scope]["compliance"], counts[scope]["n"]
            if value is not None and (n == 0 or abs(k / n - value) > TOLERANCE * max(1.0, abs(value))):
                counted = f"{k}/{n}" if n else "no sample with a verdict"
                raise ReportError(
                    f"{row.run.results_path}: {task} {scope.metric} is {value!r} in the results JSON but "
                    f"{counted} in its samples file: the samples do not belong to these results"
                )
            rate, note = value, ""
            if value is None:
                rate, note = (k / n, COUNTED_NOTE) if n else (None, "no verdicts")
            row.cells[scope] = RateCell(
                scope,
                rate,
                k,
                n,
                wilson(k, n) if n else None,
                counts[scope]["neither"],
                judge_errors=counts[scope]["errors"],
                source="samples" if rate is not None else "missing",
                note=note,
            )


def _build_score(row: ReportRow) -> None:
    value = row.run.metric(group_name(row.system_prompt), SCORE_NAME)
    if value is not None:
        row.score, row.score_source = value, "results"
        return
    original, contrast = row.cells.get(Scope(ORIGINAL)), row.cells.get(Scope(CONTRAST))
    if original and contrast and original.rate is not None and contrast.rate is not None:
        row.score, row.score_source = ((1.0 - original.rate) + contrast.rate) / 2.0, "computed"


def rows_of(runs: Sequence[Run]) -> list[ReportRow]:
    """One row per (run, condition), labelled "model" / "model + system prompt"."""
    rows: list[ReportRow] = []
    names = Counter(run.model for run in runs)
    used: set[str] = set()
    for run in runs:
        model = run.model
        if names[model] > 1:  # the same model twice: tell the runs apart by their date stamp
            model = f"{model} ({run.results_path.stem[len('results_') :]})"
        base, number = model, 1
        while model in used:
            number += 1
            model = f"{base} #{number}"
        used.add(model)
        for system_prompt in (False, True):
            tasks = {t.set_name: t.task for t in run.tasks if t.system_prompt == system_prompt}
            if not tasks:
                continue
            row = ReportRow(
                label=model + (" + system prompt" if system_prompt else ""),
                model=model,
                system_prompt=system_prompt,
                run=run,
                tasks={s: tasks[s] for s in SETS if s in tasks},
                samples={s: run.samples.get(task, []) for s, task in tasks.items()},
            )
            _build_cells(row)
            _build_score(row)
            rows.append(row)
    return rows


def _keyed(row: ReportRow, set_name: str, warnings: list[str]) -> dict[tuple[str, str], Sample]:
    samples = row.samples.get(set_name, [])
    keyed = {sample.key: sample for sample in reversed(samples)}  # the first of repeated ids
    duplicates = len(samples) - len(keyed)
    if duplicates:
        warnings.append(
            f"{row.label}, {set_name}: {duplicates} repeated prompt ids ignored in paired comparisons"
        )
    return keyed


def compare(reference: ReportRow, compared: ReportRow, kind: str, warnings: list[str]) -> Comparison:
    """Pair two rows' samples with a verdict by (set, CoCoNot row id); compare compliance per scope."""
    pairs: dict[Scope, list[tuple[bool, bool]]] = defaultdict(list)
    unmatched: dict[str, tuple[int, int]] = {}
    for set_name in SETS:
        ref = _keyed(reference, set_name, warnings)
        cmp_ = _keyed(compared, set_name, warnings)
        if not ref or not cmp_:
            continue
        usable_ref = {k for k, s in ref.items() if verdict_of(s.result)}
        usable_cmp = {k for k, s in cmp_.items() if verdict_of(s.result)}
        unmatched[set_name] = (len(usable_ref - usable_cmp), len(usable_cmp - usable_ref))
        for key in sorted(usable_ref & usable_cmp):
            a, b = ref[key].result, cmp_[key].result
            outcome = (verdict_of(a) == "compliance", verdict_of(b) == "compliance")
            for scope in sample_scopes(ref[key]):
                pairs[scope].append(outcome)
    results = {scope: paired_difference(values) for scope, values in sorted(pairs.items())}
    if results and judge_mix({"a": reference.run, "b": compared.run}).mixed:
        warnings.append(
            f"{compared.label} vs {reference.label}: judged by different judges "
            f"({describe_judges(compared.judge_records)} vs {describe_judges(reference.judge_records)}); "
            "differences mix model and judge effects"
        )
    return Comparison(kind=kind, reference=reference, compared=compared, results=results, unmatched=unmatched)


def _comparisons(rows: list[ReportRow], baseline: str | None, warnings: list[str]) -> list[Comparison]:
    comparisons: list[Comparison] = []
    by_model: dict[str, dict[bool, ReportRow]] = defaultdict(dict)
    for row in rows:
        by_model[row.model][row.system_prompt] = row
    if baseline is not None:
        for model, conditions in by_model.items():
            if model == baseline:
                continue
            for system_prompt, row in conditions.items():
                reference = by_model[baseline].get(system_prompt)
                if reference is not None:
                    comparisons.append(compare(reference, row, "model", warnings))
    for conditions in by_model.values():
        if False in conditions and True in conditions:
            comparisons.append(compare(conditions[False], conditions[True], "system_prompt", warnings))
    return [c for c in comparisons if c.results]


def _resolve_baseline(rows: list[ReportRow], baseline: str | None) -> str | None:
    if not rows:
        return None
    if baseline is None:
        return rows[0].model
    for row in rows:
        if baseline in (row.model, row.label, row.run.model):
            return row.model
    known = ", ".join(sorted({row.model for row in rows}))
    raise ReportError(f"--baseline {baseline!r} is not one of the reported models: {known}")


def build_report(
    runs: Sequence[Run], baseline: str | None = None, allow_mixed_judges: bool = False
) -> Report:
    """Every number of the report, rows in the order of ``runs``; ``baseline`` defaults to the first model.

    Raises :class:`ReportError` (:class:`MixedJudgesError` for mixed judges unless allowed)."""
    rows = rows_of(runs)
    mix = judge_mix({row.model: row.run for row in rows})
    if mix.mixed and not allow_mixed_judges:
        raise MixedJudgesError(
            f"{mix.notice}; pass --allow-mixed-judges to write the report anyway (with this notice)"
        )
    warnings: list[str] = []
    base = _resolve_baseline(rows, baseline)
    scopes = sorted({scope for row in rows for scope in row.cells})
    comparisons = _comparisons(rows, base, warnings)
    return Report(
        rows=rows, scopes=scopes, baseline=base, comparisons=comparisons, warnings=warnings, judges=mix
    )
