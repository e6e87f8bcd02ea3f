"""Agreement between two judges' verdicts on the same responses (pure functions).

A pair where either judge has no verdict (error, budget cap, dry run, a label outside
:data:`LABELS`) is left out of every statistic and counted instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from coconot_tasks.tools.text_format import decimal, excerpt, md_row, percent, share

#: The verdict classes, in the order of the confusion matrix's rows and columns.
LABELS: Final = ("compliance", "noncompliance", "neither")


@dataclass(frozen=True)
class VerdictPair:
    """The two judges' verdicts on one response (``None``: that judge gave no verdict)."""

    set_name: str
    subcategory: str
    doc_id: str
    prompt: str
    verdict_a: str | None
    verdict_b: str | None
    rationale_a: str = ""
    rationale_b: str = ""
    category: str = ""
    task: str = ""  # e.g. coconot_original_sysprompt; empty when not known

    @property
    def complete(self) -> bool:
        """True when both judges gave one of the three verdicts."""
        return self.verdict_a in LABELS and self.verdict_b in LABELS

    @property
    def prompt_excerpt(self) -> str:
        """The prompt on one line, shortened for tables and disagreement records."""
        return excerpt(self.prompt)

    def to_dict(self) -> dict[str, Any]:
        """The JSON record of a disagreement."""
        return {
            "set": self.set_name,
            "task": self.task,
            "doc_id": self.doc_id,
            "category": self.category,
            "subcategory": self.subcategory,
            "prompt_excerpt": self.prompt_excerpt,
            "verdict_a": self.verdict_a,
            "verdict_b": self.verdict_b,
            "rationale_a": self.rationale_a,
            "rationale_b": self.rationale_b,
        }


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or ``None`` when ``whole`` is 0 (a statistic without data)."""
    return part / whole if whole else None


def cohen_kappa(confusion: Sequence[Sequence[int]]) -> float | None:
    """Cohen's kappa of a square confusion matrix of counts (rows: judge A, columns: judge B).

    Computed from the integer counts, so that an undefined kappa (no pairs, or chance agreement
    of 1: one and the same label everywhere) is detected exactly and returned as ``None``.
    """
    size = len(confusion)
    if any(len(row) != size for row in confusion):
        raise ValueError("the confusion matrix must be square")
    n = sum(sum(row) for row in confusion)
    if n == 0:
        return None
    agreed = sum(confusion[i][i] for i in range(size))
    rows = [sum(row) for row in confusion]
    cols = [sum(confusion[i][j] for i in range(size)) for j in range(size)]
    chance = sum(r * c for r, c in zip(rows, cols, strict=True))  # n^2 * p_e
    if chance == n * n:
        return None
    return (n * agreed - chance) / (n * n - chance)


@dataclass
class AgreementStats:
    """Agreement of two judges over a set of pairs."""

    confusion: list[list[int]] = field(default_factory=lambda: [[0] * len(LABELS) for _ in LABELS])
    excluded: int = 0  # pairs left out because at least one judge gave no verdict
    missing_a: int = 0  # of those: judge A gave no verdict
    missing_b: int = 0  # of those: judge B gave no verdict (a pair may count in both)

    def add(self, pair: VerdictPair) -> None:
        """Count one pair (or its exclusion)."""
        a_ok, b_ok = pair.verdict_a in LABELS, pair.verdict_b in LABELS
        if a_ok and b_ok:
            self.confusion[LABELS.index(str(pair.verdict_a))][LABELS.index(str(pair.verdict_b))] += 1
            return
        self.excluded += 1
        self.missing_a += not a_ok
        self.missing_b += not b_ok

    @property
    def n(self) -> int:
        """Pairs where both judges gave a verdict (the denominator of every statistic)."""
        return sum(sum(row) for row in self.confusion)

    @property
    def agreed(self) -> int:
        """Pairs with the same verdict from both judges."""
        return sum(self.confusion[i][i] for i in range(len(LABELS)))

    @property
    def percent_agreement(self) -> float | None:
        """Share of compared pairs with the same verdict, in percent (``None`` without pairs)."""
        return 100.0 * self.agreed / self.n if self.n else None

    @property
    def kappa(self) -> float | None:
        """Cohen's kappa (``None`` when undefined, see :func:`cohen_kappa`)."""
        return cohen_kappa(self.confusion)

    def count(self, judge: str, label: str) -> int:
        """Compared pairs that judge ``"a"`` or ``"b"`` labelled ``label``."""
        index = LABELS.index(label)
        return sum(self.confusion[index]) if judge == "a" else sum(row[index] for row in self.confusion)

    def rate(self, judge: str, label: str) -> float | None:
        """Share of compared pairs that judge ``"a"`` or ``"b"`` labelled ``label``."""
        return ratio(self.count(judge, label), self.n)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able summary."""
        return {
            "n": self.n,
            "agreed": self.agreed,
            "excluded": self.excluded,
            "missing_a": self.missing_a,
            "missing_b": self.missing_b,
            "percent_agreement": self.percent_agreement,
            "kappa": self.kappa,
            "labels": list(LABELS),
            "confusion": [list(row) for row in self.confusion],
            "compliance_rate_a": self.rate("a", "compliance"),
            "compliance_rate_b": self.rate("b", "compliance"),
        }


@dataclass
class AgreementReport:
    """Agreement of judge A and judge B overall, per task and per (set, subcategory)."""

    judge_a: str
    judge_b: str
    overall: AgreementStats
    by_task: dict[str, AgreementStats]
    by_subcategory: dict[tuple[str, str], AgreementStats]
    disagreements: list[VerdictPair]  # both judges gave a verdict, and not the same one

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able copy (subcategories as a list of ``{"set", "subcategory", ...}``)."""
        return {
            "judge_a": self.judge_a,
            "judge_b": self.judge_b,
            "overall": self.overall.to_dict(),
            "by_task": {task: stats.to_dict() for task, stats in self.by_task.items()},
            "by_subcategory": [
                {"set": set_name, "subcategory": sub, **stats.to_dict()}
                for (set_name, sub), stats in self.by_subcategory.items()
            ],
            "disagreements": [d.to_dict() for d in self.disagreements],
        }

    def to_markdown(self, max_disagreements: int = 200, notes: Sequence[str] = ()) -> str:
        """A Markdown report; ``notes`` are listed under the judges (e.g. which files were compared)."""
        lines = [
            "# Judge agreement",
            "",
            f"- judge A: `{self.judge_a}`",
            f"- judge B: `{self.judge_b}`",
            *(f"- {note}" for note in notes),
            f"- compared responses: {self.overall.n}; left out (a judge gave no verdict): "
            f"{self.overall.excluded} (no verdict from A: {self.overall.missing_a}, "
            f"from B: {self.overall.missing_b})",
            f"- percent agreement: {percent(self.overall.percent_agreement)}; "
            f"Cohen's kappa: {decimal(self.overall.kappa)}",
            "",
            "## Confusion matrix (rows: judge A, columns: judge B)",
            "",
            *confusion_table(self.overall, "A \\ B"),
        ]
        lines += ["", "## Per task", ""]
        lines += stats_table("task", self.by_task.items())
        lines += ["", "## Per subcategory", ""]
        lines += stats_table(
            "set / subcategory", [(f"{s} / {sub}", stats) for (s, sub), stats in self.by_subcategory.items()]
        )
        lines += ["", f"## Disagreements ({len(self.disagreements)})", ""]
        rows = [(d.task or d.set_name, d.doc_id, d.subcategory, d.prompt_excerpt, d.verdict_a, d.verdict_b,
                 excerpt(d.rationale_a, 200), excerpt(d.rationale_b, 200))
                for d in self.disagreements]  # fmt: skip
        header = ("task", "doc id", "subcategory", "prompt", "A", "B", "A's rationale", "B's rationale")
        lines += capped_table(header, rows, max_disagreements, "the JSON report")
        return "\n".join(lines) + "\n"


def compare_verdicts(pairs: Iterable[VerdictPair], judge_a: str = "A", judge_b: str = "B") -> AgreementReport:
    """Agreement statistics and disagreements of two judges over ``pairs`` (groups in order of appearance)."""
    overall = AgreementStats()
    by_task: dict[str, AgreementStats] = {}
    by_subcategory: dict[tuple[str, str], AgreementStats] = {}
    disagreements: list[VerdictPair] = []
    for pair in pairs:
        overall.add(pair)
        by_task.setdefault(pair.task or pair.set_name, AgreementStats()).add(pair)
        by_subcategory.setdefault((pair.set_name, pair.subcategory), AgreementStats()).add(pair)
        if pair.complete and pair.verdict_a != pair.verdict_b:
            disagreements.append(pair)
    return AgreementReport(judge_a, judge_b, overall, by_task, by_subcategory, disagreements)


def capped_table(header: Sequence[str], rows: Sequence[Sequence[object]], limit: int, full: str) -> list[str]:
    """A Markdown table of the first ``limit`` rows and a line counting the rest (all in ``full``)."""
    if not rows:
        return ["None."]
    lines = [md_row(header), "|" + "---|" * len(header), *(md_row(cells) for cells in rows[:limit])]
    if len(rows) > limit:
        lines += ["", f"... and {len(rows) - limit} more (all of them are in {full})."]
    return lines


def confusion_table(stats: AgreementStats, corner: str) -> list[str]:
    """The Markdown confusion matrix of ``stats`` with totals; ``corner`` is the top-left cell."""
    lines = [
        f"| {corner} | " + " | ".join(LABELS) + " | total |",
        "|---|" + "---:|" * (len(LABELS) + 1),
    ]
    for label, row in zip(LABELS, stats.confusion, strict=True):
        lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + f" | {sum(row)} |")
    totals = [sum(row[j] for row in stats.confusion) for j in range(len(LABELS))]
    lines.append("| total | " + " | ".join(str(v) for v in totals) + f" | {stats.n} |")
    return lines


def stats_table(
    title: str,
    rows: Iterable[tuple[str, AgreementStats]],
    *,
    left_out_title: str = "left out",
    left_out: Callable[[AgreementStats], int] = lambda stats: stats.excluded,
    judges: tuple[str, str] = ("A", "B"),
) -> list[str]:
    """The Markdown lines of one agreement table: a row per ``(name, stats)`` of ``rows``.

    ``left_out(stats)`` fills the ``left_out_title`` column (default: every pair left out).
    """
    lines = [
        f"| {title} | compared | {left_out_title} | agreement | kappa | {judges[0]} compliance | "
        f"{judges[1]} compliance |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, stats in rows:
        cells = (name, stats.n, left_out(stats), percent(stats.percent_agreement), decimal(stats.kappa),
                 share(stats.rate("a", "compliance")), share(stats.rate("b", "compliance")))  # fmt: skip
        lines.append(md_row(cells))
    return lines
