"""Statistics of ``coconot report``: Wilson intervals, exact McNemar, paired differences.

Known values are computed here by hand and by independent formulas (the Wilson bounds as the
roots of the score-test quadratic; scipy's binomial test when scipy is installed).
"""

from __future__ import annotations

import math

import pytest

from coconot_tasks.tools.report.stats import Z95, mcnemar_exact, paired_difference, wilson


def wilson_by_quadratic(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson bounds as the roots of (n + z²) p² − (2k + z²) p + k²/n = 0 (|p̂ − p| = z·se(p))."""
    a = n + z * z
    b = -(2 * k + z * z)
    c = k * k / n
    root = math.sqrt(b * b - 4 * a * c)
    return ((-b - root) / (2 * a), (-b + root) / (2 * a))


def test_wilson_known_case_8_of_10() -> None:
    lower, upper = wilson(8, 10)
    assert round(lower, 4) == 0.4902
    assert round(upper, 4) == 0.9433
    assert (lower, upper) == pytest.approx(wilson_by_quadratic(8, 10), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(1, 2), (3, 7), (50, 100), (593, 1001), (1, 1000), (999, 1000)])
def test_wilson_matches_the_quadratic_roots(k: int, n: int) -> None:
    assert wilson(k, n) == pytest.approx(wilson_by_quadratic(k, n), abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(0, 10), (8, 10), (10, 10), (0, 1), (1, 1), (236, 379)])
def test_wilson_matches_scipy(k: int, n: int) -> None:
    stats = pytest.importorskip("scipy.stats")
    interval = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((interval.low, interval.high), abs=1e-9)


def test_wilson_edges() -> None:
    assert wilson(0, 0) == (0.0, 1.0)  # nothing observed: nothing known
    lower, upper = wilson(0, 10)
    assert lower == 0.0 and upper == pytest.approx(wilson_by_quadratic(0, 10)[1])
    assert round(upper, 4) == 0.2775
    lower, upper = wilson(10, 10)
    assert upper == 1.0 and round(lower, 4) == 0.7225
    # the interval always contains the observed rate and stays in [0, 1]
    for n in (1, 2, 5, 17):
        for k in range(n + 1):
            lo, hi = wilson(k, n)
            assert 0.0 <= lo <= k / n <= hi <= 1.0


@pytest.mark.parametrize(("k", "n"), [(-1, 5), (6, 5), (0, -1)])
def test_wilson_rejects_impossible_counts(k: int, n: int) -> None:
    with pytest.raises(ValueError, match="0 <= k <= n"):
        wilson(k, n)


def test_mcnemar_exact_hand_computed() -> None:
    # b=1, c=9: p = 2 * P(X <= 1 | n=10, p=1/2) = 2 * (1 + 10) / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, abs=1e-15)
    assert mcnemar_exact(9, 1) == mcnemar_exact(1, 9)
    assert round(mcnemar_exact(1, 9), 5) == 0.02148
    assert mcnemar_exact(0, 5) == pytest.approx(2 / 32)
    assert mcnemar_exact(2, 8) == pytest.approx(2 * (1 + 10 + 45) / 1024)


def test_mcnemar_ties_and_no_discordant_pairs() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(1, 1) == 1.0
    assert mcnemar_exact(4, 5) == 1.0


def test_mcnemar_matches_scipy_binomial_test() -> None:
    stats = pytest.importorskip("scipy.stats")
    for b, c in [(0, 1), (1, 9), (3, 12), (20, 35), (219, 243), (369, 154), (0, 60)]:
        assert mcnemar_exact(b, c) == pytest.approx(stats.binomtest(min(b, c), b + c, 0.5).pvalue, rel=1e-9)


def test_mcnemar_stays_exact_for_large_counts() -> None:
    p = mcnemar_exact(500, 700)
    assert 0.0 < p < 1e-7  # no overflow, no chi-square shortcut
    assert mcnemar_exact(600, 600) == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


def test_paired_difference_hand_computed() -> None:
    pairs = [(True, True)] * 3 + [(True, False)] * 1 + [(False, True)] * 4 + [(False, False)] * 2
    result = paired_difference(pairs)
    assert (result.n, result.positives_a, result.positives_b, result.b, result.c) == (10, 4, 7, 1, 4)
    assert result.rate_a == pytest.approx(0.4) and result.rate_b == pytest.approx(0.7)
    assert result.difference == pytest.approx(0.3)
    assert result.p_value == pytest.approx(2 * (1 + 5) / 32)
    # Wald interval of a paired difference: se² = (p10 + p01 − (p01 − p10)²) / n
    se = math.sqrt((0.1 + 0.4 - 0.3**2) / 10)
    assert result.difference_ci == pytest.approx((0.3 - Z95 * se, 0.3 + Z95 * se))


def test_paired_difference_without_items_or_discordance() -> None:
    empty = paired_difference([])
    assert empty.n == 0 and empty.difference is None and empty.rate_a is None and empty.p_value == 1.0
    same = paired_difference([(True, True), (False, False)])
    assert same.difference == 0.0 and same.p_value == 1.0 and same.difference_ci == (0.0, 0.0)
