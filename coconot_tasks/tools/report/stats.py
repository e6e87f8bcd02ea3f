"""Statistics for CoCoNot reports (standard library only).

* :func:`wilson` -- the Wilson score interval of a proportion ``k/n``;
* :func:`mcnemar_exact` -- the exact (binomial) McNemar test for paired binary outcomes;
* :func:`paired_difference` -- the difference of two paired rates with its discordant
  counts, a 95% interval and the exact McNemar p-value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Two-sided 95% standard-normal quantile (``scipy.stats.norm.ppf(0.975)``).
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of the proportion ``k/n`` (95% with the default ``z``).

    Returns ``(lower, upper)`` as fractions in [0, 1]. With ``n == 0`` nothing is known and
    the interval is ``(0.0, 1.0)``. ``k == 0`` gives a lower bound of exactly 0 and
    ``k == n`` an upper bound of exactly 1.

    Raises:
        ValueError: when ``n < 0`` or ``k`` is not in ``[0, n]``.
    """
    if n < 0 or not 0 <= k <= n:
        raise ValueError(f"wilson: need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = (z / denominator) * math.sqrt(p * (1.0 - p) / n + z2 / (4 * n * n))
    lower = 0.0 if k == 0 else max(0.0, centre - half)
    upper = 1.0 if k == n else min(1.0, centre + half)
    return (lower, upper)


def binomial_cdf_half(x: int, n: int) -> float:
    """``P(X <= x)`` for ``X ~ Binomial(n, 1/2)``, exactly (integer arithmetic, then one division)."""
    if x < 0:
        return 0.0
    if x >= n:
        return 1.0
    return sum(math.comb(n, i) for i in range(x + 1)) / 2**n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for discordant pair counts ``b`` and ``c``.

    Under the null hypothesis (both conditions have the same rate) each discordant pair
    falls either way with probability 1/2, so ``min(b, c)`` is Binomial(b + c, 1/2); the
    two-sided p-value is ``min(1, 2 * P(X <= min(b, c)))``. No discordant pair gives 1.

    Raises:
        ValueError: for a negative count.
    """
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar_exact: counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * binomial_cdf_half(min(b, c), n))


@dataclass(frozen=True)
class PairedDifference:
    """Two binary outcomes observed on the same items (A = reference, B = compared).

    ``b`` counts items where only A is positive, ``c`` items where only B is positive;
    ``difference`` is ``rate_b - rate_a`` (a fraction), with a 95% Wald interval for paired
    proportions and the exact McNemar p-value.
    """

    n: int
    positives_a: int
    positives_b: int
    b: int
    c: int
    p_value: float
    difference_ci: tuple[float, float]

    @property
    def rate_a(self) -> float | None:
        """Share of items positive under A (``None`` without items)."""
        return self.positives_a / self.n if self.n else None

    @property
    def rate_b(self) -> float | None:
        """Share of items positive under B (``None`` without items)."""
        return self.positives_b / self.n if self.n else None

    @property
    def difference(self) -> float | None:
        """``rate_b - rate_a`` (``None`` without items)."""
        return (self.c - self.b) / self.n if self.n else None


def paired_difference(pairs: Iterable[tuple[bool, bool]], z: float = Z95) -> PairedDifference:
    """Compare paired binary outcomes ``(a, b)`` per item: rates, discordant counts, McNemar.

    The interval of the difference is the Wald interval for paired proportions,
    ``d +- z * sqrt((b + c) - (c - b)**2 / n) / n``, clipped to [-1, 1]; the test is exact.
    """
    n = positives_a = positives_b = only_a = only_b = 0
    for a, b in pairs:
        n += 1
        positives_a += bool(a)
        positives_b += bool(b)
        if a and not b:
            only_a += 1
        elif b and not a:
            only_b += 1
    if n == 0:
        interval = (-1.0, 1.0)
    else:
        d = (only_b - only_a) / n
        variance = max(0.0, (only_a + only_b) - (only_b - only_a) ** 2 / n)
        half = z * math.sqrt(variance) / n
        interval = (max(-1.0, d - half), min(1.0, d + half))
    return PairedDifference(
        n=n,
        positives_a=positives_a,
        positives_b=positives_b,
        b=only_a,
        c=only_b,
        p_value=mcnemar_exact(only_a, only_b),
        difference_ci=interval,
    )
