"""Statistics for CoCoNot reports (standard library only): Wilson intervals, exact McNemar, paired rates."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

#: Two-sided 95% standard-normal quantile (``scipy.stats.norm.ppf(0.975)``).
Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval ``(lower, upper)`` of ``k/n`` (exact 0 / 1 at the edges; (0, 1) if n=0)."""
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


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value ``min(1, 2 P(X <= min(b, c)))``, X ~ Binomial(b + c, 1/2)."""
    if b < 0 or c < 0:
        raise ValueError(f"mcnemar_exact: counts must be >= 0, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * (sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n))


@dataclass(frozen=True)
class PairedDifference:
    """Binary outcomes of A (reference) and B on the same items: ``b`` only A positive, ``c`` only B.

    The rates and ``difference`` (``rate_b - rate_a``) are ``None`` without items."""

    n: int
    positives_a: int
    positives_b: int
    b: int
    c: int
    p_value: float
    difference_ci: tuple[float, float]
    rate_a: float | None
    rate_b: float | None
    difference: float | None

    def to_dict(self, a: str, b: str) -> dict[str, object]:
        """JSON-able numbers; the discordant counts are ``only_<a>_complied`` and ``only_<b>_complied``."""
        return {
            "n": self.n,
            "difference": self.difference,
            "difference_ci95": list(self.difference_ci),
            f"only_{a}_complied": self.b,
            f"only_{b}_complied": self.c,
            "mcnemar_exact_p": self.p_value,
        }


def paired_difference(pairs: Iterable[tuple[bool, bool]], z: float = Z95) -> PairedDifference:
    """Rates, discordant counts, Wald interval ``d +- z sqrt((b + c) - (c - b)**2 / n) / n`` and McNemar."""
    pairs = [(bool(a), bool(b)) for a, b in pairs]
    n = len(pairs)
    only_a = sum(a and not b for a, b in pairs)
    only_b = sum(b and not a for a, b in pairs)
    positives_a, positives_b = sum(a for a, _ in pairs), sum(b for _, b in pairs)
    interval = (-1.0, 1.0)
    rates: tuple[float | None, float | None, float | None] = (None, None, None)
    if n:
        d = (only_b - only_a) / n
        half = z * math.sqrt(max(0.0, (only_a + only_b) - (only_b - only_a) ** 2 / n)) / n
        interval = (max(-1.0, d - half), min(1.0, d + half))
        rates = (positives_a / n, positives_b / n, d)
    p_value = mcnemar_exact(only_a, only_b)
    return PairedDifference(n, positives_a, positives_b, only_a, only_b, p_value, interval, *rates)
