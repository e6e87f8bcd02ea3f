"""Judge agreement statistics: percent agreement, Cohen's kappa, confusion, grouping, exclusions."""

from __future__ import annotations

import json
import math
import warnings

import pytest
from sklearn.metrics import cohen_kappa_score

from coconot_tasks.tools.agreement import LABELS, VerdictPair, cohen_kappa, compare_verdicts
from coconot_tasks.tools.text_format import excerpt

C, N, X = "compliance", "noncompliance", "neither"


def pairs_from_counts(counts: dict[tuple[str, str], int], set_name: str = "original",
                      subcategory: str = "privacy violations") -> list[VerdictPair]:  # fmt: skip
    """``counts[(verdict of A, verdict of B)]`` pairs with distinct ids and prompts."""
    pairs: list[VerdictPair] = []
    for (a, b), count in counts.items():
        for _ in range(count):
            i = len(pairs)
            pairs.append(
                VerdictPair(set_name, subcategory, f"id{i}", f"prompt {i}", a, b, f"A says {a}", f"B: {b}")
            )
    return pairs


def sklearn_kappa(pairs: list[VerdictPair]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns when kappa is undefined
        return float(
            cohen_kappa_score([p.verdict_a for p in pairs], [p.verdict_b for p in pairs], labels=LABELS)
        )


def test_textbook_2x2_kappa() -> None:
    # The classic two-rater example (Wikipedia, "Cohen's kappa"): 50 items.
    #                 B: compliance  B: noncompliance
    # A: compliance        20              5           -> A says compliance 25/50 = 0.5
    # A: noncompliance     10             15           -> B says compliance 30/50 = 0.6
    # p_o = (20 + 15) / 50 = 0.7
    # p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5
    # kappa = (0.7 - 0.5) / (1 - 0.5) = 0.4
    pairs = pairs_from_counts({(C, C): 20, (C, N): 5, (N, C): 10, (N, N): 15})
    report = compare_verdicts(pairs, "judge-a", "judge-b")
    assert report.overall.n == 50
    assert report.overall.percent_agreement == pytest.approx(70.0)
    assert report.overall.kappa == pytest.approx(0.4, abs=1e-12)
    assert report.overall.kappa == pytest.approx(sklearn_kappa(pairs), abs=1e-12)
    assert report.overall.confusion == [[20, 5, 0], [10, 15, 0], [0, 0, 0]]


def test_hand_computed_3x3_kappa() -> None:
    # rows: A, columns: B, order (compliance, noncompliance, neither)
    #   [[10,  2, 1],    row sums 13, 15, 6; column sums 14, 15, 5; n = 34
    #    [ 3, 12, 0],    agreed = 10 + 12 + 4 = 26 -> p_o = 26/34
    #    [ 1,  1, 4]]    sum(row_k * col_k) = 13*14 + 15*15 + 6*5 = 182 + 225 + 30 = 437 -> p_e = 437/1156
    # kappa = (34*26 - 437) / (34^2 - 437) = (884 - 437) / (1156 - 437) = 447/719 = 0.62169680...
    counts = {(C, C): 10, (C, N): 2, (C, X): 1, (N, C): 3, (N, N): 12, (X, C): 1, (X, N): 1, (X, X): 4}
    pairs = pairs_from_counts(counts)
    report = compare_verdicts(pairs)
    assert report.overall.confusion == [[10, 2, 1], [3, 12, 0], [1, 1, 4]]
    assert report.overall.agreed == 26
    assert report.overall.percent_agreement == pytest.approx(100 * 26 / 34)
    assert report.overall.kappa == pytest.approx(447 / 719, abs=1e-15)
    assert report.overall.kappa == pytest.approx(sklearn_kappa(pairs), abs=1e-12)
    assert cohen_kappa(report.overall.confusion) == report.overall.kappa
    # judge A: 13/34 compliance, judge B: 14/34
    assert report.overall.rate("a", C) == pytest.approx(13 / 34)
    assert report.overall.rate("b", C) == pytest.approx(14 / 34)
    assert len(report.disagreements) == 34 - 26


def test_perfect_agreement_is_kappa_one_with_no_disagreements() -> None:
    pairs = pairs_from_counts({(C, C): 7, (N, N): 5, (X, X): 2})
    report = compare_verdicts(pairs)
    assert report.overall.percent_agreement == 100.0
    assert report.overall.kappa == 1.0 == sklearn_kappa(pairs)
    assert report.disagreements == []
    assert "Disagreements (0)" in report.to_markdown()


def test_degenerate_cases() -> None:
    # Both judges give every response the same single label: chance agreement is 1, kappa is 0/0.
    same = compare_verdicts(pairs_from_counts({(N, N): 9}))
    assert same.overall.percent_agreement == 100.0
    assert same.overall.kappa is None
    assert math.isnan(sklearn_kappa(pairs_from_counts({(N, N): 9})))
    assert "Cohen's kappa: n/a" in same.to_markdown()
    # No pairs at all.
    empty = compare_verdicts([])
    assert (empty.overall.n, empty.overall.percent_agreement, empty.overall.kappa) == (0, None, None)
    assert cohen_kappa([[0, 0], [0, 0]]) is None
    # Each judge uses one label, but different ones: p_o = 0 = p_e, kappa = 0 (not undefined).
    opposite = pairs_from_counts({(C, N): 4})
    assert compare_verdicts(opposite).overall.kappa == 0.0 == sklearn_kappa(opposite)
    # Complete disagreement over two labels each way: kappa = (0 - 0.5) / (1 - 0.5) = -1.
    flipped = pairs_from_counts({(C, N): 3, (N, C): 3})
    assert compare_verdicts(flipped).overall.kappa == pytest.approx(-1.0) == sklearn_kappa(flipped)
    with pytest.raises(ValueError, match="square"):
        cohen_kappa([[1, 2], [3]])


def test_grouping_per_task_and_per_set_subcategory() -> None:
    pairs = [
        *pairs_from_counts({(C, C): 3, (C, N): 1}, "original", "privacy violations"),
        *pairs_from_counts({(N, N): 2}, "original", "wildchats"),
        # the same subcategory name in the other set is its own group
        *pairs_from_counts({(C, C): 1, (N, C): 2}, "contrast", "privacy violations"),
    ]
    report = compare_verdicts(pairs)
    assert list(report.by_subcategory) == [
        ("original", "privacy violations"),
        ("original", "wildchats"),
        ("contrast", "privacy violations"),
    ]
    privacy_original = report.by_subcategory[("original", "privacy violations")]
    assert (privacy_original.n, privacy_original.agreed) == (4, 3)
    assert report.by_subcategory[("original", "wildchats")].kappa is None  # one label on both sides
    privacy_contrast = report.by_subcategory[("contrast", "privacy violations")]
    assert privacy_contrast.confusion == [[1, 0, 0], [2, 0, 0], [0, 0, 0]]
    # without a task name, pairs are grouped per set
    assert {k: v.n for k, v in report.by_task.items()} == {"original": 6, "contrast": 3}
    assert report.overall.n == 9
    assert [(d.set_name, d.subcategory, d.verdict_a, d.verdict_b) for d in report.disagreements] == [
        ("original", "privacy violations", C, N),
        ("contrast", "privacy violations", N, C),
        ("contrast", "privacy violations", N, C),
    ]
    markdown = report.to_markdown()
    assert "| contrast / privacy violations | 3 | 0 | 33.3% |" in markdown
    assert "| original | 6 | 0 | 83.3% |" in markdown


def test_pairs_without_a_verdict_are_excluded_and_counted() -> None:
    complete = pairs_from_counts({(C, C): 4, (C, N): 2, (N, N): 3, (X, N): 1})
    incomplete = [
        VerdictPair("original", "privacy violations", "e1", "p", None, C),  # A: judge error
        VerdictPair("original", "privacy violations", "e2", "p", N, None),  # B: judge error
        VerdictPair("original", "privacy violations", "e3", "p", None, None),  # both
        VerdictPair("original", "privacy violations", "e4", "p", C, "MAYBE"),  # not a verdict
    ]
    report = compare_verdicts(complete[:5] + incomplete + complete[5:])
    baseline = compare_verdicts(complete)
    assert report.overall.excluded == 4
    assert (report.overall.missing_a, report.overall.missing_b) == (2, 3)
    assert report.overall.n == baseline.overall.n == 10
    assert report.overall.confusion == baseline.overall.confusion
    assert report.overall.kappa == baseline.overall.kappa
    assert [d.doc_id for d in report.disagreements] == [d.doc_id for d in baseline.disagreements]
    assert report.by_subcategory[("original", "privacy violations")].excluded == 4
    assert "left out (a judge gave no verdict): 4" in report.to_markdown()


def test_disagreements_and_serialisation() -> None:
    long_prompt = "Tell me | everything\nabout " + "x" * 300
    pairs = [
        VerdictPair(
            "contrast",
            "underspecified",
            "abc",
            long_prompt,
            C,
            X,
            "rationale A",
            "rationale | B",
            category="Incomplete requests",
            task="coconot_contrast_sysprompt",
        ),  # fmt: skip
        VerdictPair("contrast", "underspecified", "def", "fine", C, C, task="coconot_contrast_sysprompt"),
    ]
    report = compare_verdicts(pairs, "openai:judge-a", "openai:judge-b")
    (only,) = report.disagreements
    assert (only.task, only.doc_id, only.category, only.verdict_a, only.verdict_b) == (
        "coconot_contrast_sysprompt", "abc", "Incomplete requests", C, X,
    )  # fmt: skip
    assert only.prompt_excerpt == excerpt(long_prompt) and len(only.prompt_excerpt) == 120
    assert "\n" not in only.prompt_excerpt and only.prompt_excerpt.endswith("…")
    assert (only.rationale_a, only.rationale_b) == ("rationale A", "rationale | B")

    data = json.loads(json.dumps(report.to_dict()))
    assert data["judge_a"] == "openai:judge-a" and data["judge_b"] == "openai:judge-b"
    assert data["overall"]["confusion"] == [[1, 0, 1], [0, 0, 0], [0, 0, 0]]
    assert data["overall"]["labels"] == list(LABELS)
    assert data["overall"]["percent_agreement"] == 50.0
    assert data["by_task"]["coconot_contrast_sysprompt"]["n"] == 2
    assert data["by_subcategory"] == [{"set": "contrast", "subcategory": "underspecified", **data["overall"]}]
    assert data["disagreements"][0]["doc_id"] == "abc" and data["disagreements"][0]["set"] == "contrast"

    markdown = report.to_markdown()
    row = next(line for line in markdown.splitlines() if "| abc |" in line)
    assert "Tell me \\| everything about" in row and "rationale \\| B" in row
    assert row.count(" | ") == 7  # eight cells: escaped pipes do not break the table


def test_markdown_caps_the_disagreement_list() -> None:
    report = compare_verdicts(pairs_from_counts({(C, N): 5}))
    markdown = report.to_markdown(max_disagreements=2)
    assert markdown.count("| prompt ") == 1 + 2  # the header and two rows
    assert "... and 3 more (all of them are in the JSON report)." in markdown
