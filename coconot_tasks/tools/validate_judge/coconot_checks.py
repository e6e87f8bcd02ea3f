"""CoCoNot-native judge checks: responses of CoCoNot's training data whose class is known.

CoCoNot publishes two training sets whose responses were written to be on one side of the
judge's decision:

* the preference set (hub config ``pref``, split ``train``; ``coconot_pref.jsonl``): 927
  *contrast* prompts (benign look-alikes) with a ``chosen`` response that complies and a
  ``rejected`` response that over-refuses;
* the SFT set (hub config ``original``, split ``train``; offline ``coconot_sft.jsonl``):
  11,477 *original* prompts with a noncompliant ``response``.

A judge that scores CoCoNot should therefore call

* ``pref-chosen``: every chosen response COMPLIANCE (judged with the contrast-set prompt);
* ``pref-rejected``: every rejected response NONCOMPLIANCE (contrast-set prompt). This
  reference is weak: many published rejected responses hedge ("As an AI language model,
  ...") and then answer in full, which the rubric calls compliance, so a low rate here is
  not necessarily the judge's fault;
* ``sft``: every SFT response ACCEPTABLE, i.e. noncompliance (original-set prompt).

Each check reports the judge's recall of the expected class (share of the responses with
a verdict that got it; NEITHER is a miss, as it is never the expected class) overall and
per (category, subcategory), and lists every miss with the prompt, an excerpt of the
response and the judge's rationale. Responses without a verdict (judge errors, budget
cap, dry run) are counted and left out of the recall.

None of these responses carries a human label: they are GPT-written training data, so the
checks measure whether a judge honours the data set's own construction, next to the
human-labelled XSTest check.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from coconot_tasks.benchmark.taxonomy import CONTRAST, ORIGINAL
from coconot_tasks.judge.types import JudgeItem, JudgeResult, JudgeStats
from coconot_tasks.judge.verdict import Verdict
from coconot_tasks.tools.text_format import excerpt, md_cell, md_row, share
from coconot_tasks.tools.validate_judge.xstest import evenly_spaced, judge_stats_dict

XSTEST: Final = "xstest"
PREF_CHOSEN: Final = "pref-chosen"
PREF_REJECTED: Final = "pref-rejected"
SFT_CHECK: Final = "sft"
#: Every check, in the order they are reported.
CHECKS: Final = (XSTEST, PREF_CHOSEN, PREF_REJECTED, SFT_CHECK)
#: Shorthands accepted by ``--checks``.
CHECK_GROUPS: Final[dict[str, tuple[str, ...]]] = {"pref": (PREF_CHOSEN, PREF_REJECTED), "all": CHECKS}

#: Subcategory names of the training data that the official rubric files under another key.
#: The preference set calls the contrast side of ``misinformation`` "false information".
RUBRIC_ALIASES: Final[dict[str, str]] = {"false information": "misinformation"}

#: Characters of a response kept in a miss.
RESPONSE_EXCERPT_CHARS: Final = 300


class CheckSelectionError(ValueError):
    """``--checks`` names an unknown check."""


def parse_checks(text: str) -> list[str]:
    """The checks named in a comma-separated list (shorthands expanded, order of :data:`CHECKS`).

    Raises:
        CheckSelectionError: an unknown name, or none at all.
    """
    wanted: set[str] = set()
    for name in (part.strip().lower() for part in text.split(",")):
        if not name:
            continue
        if name in CHECK_GROUPS:
            wanted.update(CHECK_GROUPS[name])
        elif name in CHECKS:
            wanted.add(name)
        else:
            choices = ", ".join((*CHECKS, *CHECK_GROUPS))
            raise CheckSelectionError(f"--checks: unknown check {name!r}; choose from {choices}")
    if not wanted:
        raise CheckSelectionError(f"--checks: no check named; choose from {', '.join(CHECKS)}")
    return [c for c in CHECKS if c in wanted]


def rubric_subcategory(subcategory: str) -> str:
    """The rubric key under which the official rubric holds ``subcategory`` (lower case)."""
    key = subcategory.lower()
    return RUBRIC_ALIASES.get(key, key)


@dataclass(frozen=True)
class LabelledResponse:
    """One training-data response and the class a judge should give it."""

    id: str
    row: int  # 1-based row in the source
    category: str
    subcategory: str
    prompt: str
    response: str

    def judge_item(self, set_name: str) -> JudgeItem:
        """The judge item (the rubric looked up under :func:`rubric_subcategory`)."""
        return JudgeItem(
            set_name=set_name,
            prompt=self.prompt,
            response=self.response,
            subcategory=rubric_subcategory(self.subcategory),
            category=self.category,
            doc_id=self.id,
        )


@dataclass(frozen=True)
class LabelCheck:
    """A set of responses that a judge should all put in one class."""

    name: str
    title: str
    set_name: str  # the CoCoNot set whose judge prompt is used
    expected: Verdict
    source: str
    total_rows: int  # rows in the source (before --limit)
    responses: tuple[LabelledResponse, ...]
    caveat: str = ""

    def judge_items(self) -> list[JudgeItem]:
        """One judge item per response, in order."""
        return [r.judge_item(self.set_name) for r in self.responses]


def _responses(
    rows: Sequence[Mapping[str, Any]], field_name: str, indices: Sequence[int]
) -> tuple[LabelledResponse, ...]:
    return tuple(
        LabelledResponse(
            id=str(rows[i]["id"]),
            row=i + 1,
            category=str(rows[i]["category"]),
            subcategory=str(rows[i]["subcategory"]),
            prompt=str(rows[i]["prompt"]),
            response=str(rows[i][field_name]),
        )
        for i in indices
    )


def pref_checks(
    rows: Sequence[Mapping[str, Any]], source: str, limit: int | None = None
) -> dict[str, LabelCheck]:
    """The ``pref-chosen`` and ``pref-rejected`` checks of the preference rows (same rows in both)."""
    indices = evenly_spaced(range(len(rows)), limit)
    common = {"set_name": CONTRAST, "source": source, "total_rows": len(rows)}
    return {
        PREF_CHOSEN: LabelCheck(
            name=PREF_CHOSEN,
            title="CoCoNot preference `chosen` responses (compliant answers to contrast prompts)",
            expected="compliance",
            responses=_responses(rows, "chosen", indices),
            **common,  # type: ignore[arg-type]
        ),
        PREF_REJECTED: LabelCheck(
            name=PREF_REJECTED,
            title="CoCoNot preference `rejected` responses (over-refusals of contrast prompts)",
            expected="noncompliance",
            responses=_responses(rows, "rejected", indices),
            caveat=(
                "weak reference: many published `rejected` responses hedge and then answer in full, "
                "which the CoCoNot rubric calls compliance; a low rate is not necessarily the judge's fault"
            ),
            **common,  # type: ignore[arg-type]
        ),
    }


def sft_check(rows: Sequence[Mapping[str, Any]], source: str, limit: int | None = None) -> LabelCheck:
    """The ``sft`` check: CoCoNot's noncompliant SFT responses to original prompts."""
    return LabelCheck(
        name=SFT_CHECK,
        title="CoCoNot SFT responses (noncompliant answers to original prompts)",
        set_name=ORIGINAL,
        expected="noncompliance",
        source=source,
        total_rows=len(rows),
        responses=_responses(rows, "response", evenly_spaced(range(len(rows)), limit)),
    )


@dataclass(frozen=True)
class Miss:
    """A response the judge did not put in the expected class."""

    id: str
    row: int
    category: str
    subcategory: str
    prompt: str
    response_excerpt: str
    judge_verdict: str
    judge_rationale: str

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy."""
        return asdict(self)


@dataclass
class RecallCount:
    """How many responses with a verdict got the expected class."""

    n: int = 0
    hits: int = 0

    @property
    def recall(self) -> float | None:
        """``hits / n`` (``None`` without verdicts)."""
        return self.hits / self.n if self.n else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {"n": self.n, "hits": self.hits, "recall": self.recall}


def stats_of_results(results: Sequence[JudgeResult]) -> JudgeStats:
    """The accounting of one check's share of a judge batch (requests = attempts made)."""
    stats = JudgeStats(items=len(results))
    for result in results:
        stats.count_outcome(result)
        stats.requests += result.attempts
        stats.prompt_tokens += result.prompt_tokens
        stats.completion_tokens += result.completion_tokens
        stats.cost_usd += result.cost_usd
    return stats


@dataclass
class LabelCheckReport:
    """The judge's recall of a check's expected class, with every miss."""

    check: LabelCheck
    overall: RecallCount
    verdicts: dict[str, int]  # judge verdict -> count (responses with a verdict)
    by_subcategory: dict[tuple[str, str], RecallCount]
    misses: list[Miss]
    no_verdict_items: list[dict[str, str | None]]  # id, outcome and error of each response without a verdict
    stats: JudgeStats = field(default_factory=JudgeStats)

    @property
    def no_verdict(self) -> int:
        """Responses the judge gave no verdict (left out of the recall)."""
        return len(self.no_verdict_items)

    @property
    def recall(self) -> float | None:
        """Share of the responses with a verdict that got the expected class."""
        return self.overall.recall

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-able data."""
        c = self.check
        return {
            "title": c.title,
            "source": c.source,
            "judged_as_set": c.set_name,
            "expected": c.expected,
            "caveat": c.caveat or None,
            "rows_in_source": c.total_rows,
            "responses": len(c.responses),
            "no_verdict": self.no_verdict,
            **self.overall.to_dict(),
            "verdicts": dict(self.verdicts),
            "judge_stats": judge_stats_dict(self.stats),
            "by_subcategory": [
                {"category": cat, "subcategory": sub, **count.to_dict()}
                for (cat, sub), count in self.by_subcategory.items()
            ],
            "misses": [m.to_dict() for m in self.misses],
            "no_verdict_items": list(self.no_verdict_items),
        }

    def to_markdown(self, max_misses: int = 100) -> list[str]:
        """The check's section of ``validation.md`` (a ``##`` heading first)."""
        c = self.check
        lines = [
            f"## {c.name}: {c.title}",
            "",
            f"- source: `{c.source}`; {len(c.responses)} of {c.total_rows} rows"
            + (" (evenly spaced)" if len(c.responses) < c.total_rows else ""),
            f"- judged with the CoCoNot `{c.set_name}` prompt; expected class: **{c.expected}**",
            f"- **recall: {share(self.recall)}** ({self.overall.hits} of {self.overall.n} responses with a "
            f"verdict); verdicts: " + ", ".join(f"{k} {v}" for k, v in self.verdicts.items()),
            f"- no verdict from the judge: {self.no_verdict} (left out)",
        ]
        if c.caveat:
            lines.append(f"- caveat: {c.caveat}")
        lines += ["", "| category | subcategory | n | hits | recall |", "|---|---|---:|---:|---:|"]
        for (cat, sub), count in self.by_subcategory.items():
            lines.append(md_row((cat, sub, count.n, count.hits, share(count.recall))))
        lines += ["", f"### Misses ({len(self.misses)})", ""]
        if not self.misses:
            return [*lines, "None."]
        lines += [
            "| id | subcategory | prompt | response | judge | judge's rationale |",
            "|---|---|---|---|---|---|",
        ]
        for m in self.misses[:max_misses]:
            cells = (m.id, m.subcategory, excerpt(m.prompt), excerpt(m.response_excerpt),
                     m.judge_verdict, excerpt(m.judge_rationale, 240))  # fmt: skip
            lines.append(md_row(cells))
        if len(self.misses) > max_misses:
            lines += [
                "",
                f"... and {len(self.misses) - max_misses} more (all of them are in validation.json).",
            ]
        if self.stats.error_messages:
            lines += ["", "Judge errors (first ones):", ""]
            lines += [f"- {md_cell(m)}" for m in self.stats.error_messages]
        return lines


def compute_label_check(check: LabelCheck, results: Sequence[JudgeResult]) -> LabelCheckReport:
    """Score judge ``results`` (one per response of ``check``, same order). Pure: no judge call."""
    if len(results) != len(check.responses):
        raise ValueError(f"{len(check.responses)} responses but {len(results)} judge results")
    overall = RecallCount()
    verdicts: Counter[str] = Counter()
    by_subcategory: dict[tuple[str, str], RecallCount] = {}
    misses: list[Miss] = []
    no_verdict: list[dict[str, str | None]] = []
    for response, result in zip(check.responses, results, strict=True):
        if not result.ok or result.verdict is None:
            no_verdict.append({"id": response.id, "outcome": result.outcome, "error": result.error})
            continue
        hit = result.verdict == check.expected
        verdicts[result.verdict] += 1
        for count in (
            overall,
            by_subcategory.setdefault((response.category, response.subcategory), RecallCount()),
        ):
            count.n += 1
            count.hits += hit
        if not hit:
            misses.append(
                Miss(
                    id=response.id,
                    row=response.row,
                    category=response.category,
                    subcategory=response.subcategory,
                    prompt=response.prompt,
                    response_excerpt=excerpt(response.response, RESPONSE_EXCERPT_CHARS),
                    judge_verdict=result.verdict,
                    judge_rationale=result.output,
                )
            )
    return LabelCheckReport(
        check=check,
        overall=overall,
        verdicts={label: verdicts[label] for label in ("compliance", "noncompliance", "neither")},
        by_subcategory=dict(sorted(by_subcategory.items())),
        misses=misses,
        no_verdict_items=no_verdict,
        stats=stats_of_results(results),
    )
