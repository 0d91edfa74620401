"""A chi-square goodness-of-fit test without scipy: the statistic and its critical value.

The critical value is exact for 1 and 2 degrees of freedom and uses the Wilson-Hilferty
approximation above: within 2 % of the tables from 3 degrees of freedom on, erring high
(a slightly stricter test of "does not fit") at small alphas.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist


def chi_square(observed: Sequence[float], expected: Sequence[float]) -> float:
    """Pearson's statistic: the sum of (observed - expected)^2 / expected."""
    if len(observed) != len(expected):
        raise ValueError(f"{len(observed)} observed counts but {len(expected)} expected")
    total = 0.0
    for seen, wanted in zip(observed, expected, strict=True):
        if wanted <= 0:
            if seen:
                return math.inf
            continue
        total += (seen - wanted) ** 2 / wanted
    return total


def chi_square_critical(degrees_of_freedom: int, alpha: float = 0.001) -> float:
    """The statistic that a true fit exceeds with probability ``alpha``."""
    if degrees_of_freedom < 1:
        raise ValueError(f"degrees_of_freedom must be >= 1, got {degrees_of_freedom}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if degrees_of_freedom == 1:
        return NormalDist().inv_cdf(1 - alpha / 2) ** 2
    if degrees_of_freedom == 2:
        return -2 * math.log(alpha)
    k = float(degrees_of_freedom)
    z = NormalDist().inv_cdf(1 - alpha)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def fits(observed: Sequence[float], shares: Sequence[float], alpha: float = 0.001) -> bool:
    """Whether counts ``observed`` are consistent with drawing from ``shares`` (any scale)."""
    total_seen = sum(observed)
    total_share = sum(shares)
    expected = [total_seen * share / total_share for share in shares]
    categories = sum(1 for share in shares if share > 0)
    if categories < 2:
        return all(seen == 0 for seen, share in zip(observed, shares, strict=True) if share <= 0)
    return chi_square(observed, expected) <= chi_square_critical(categories - 1, alpha)
