"""Small statistics the reports need: exact percentiles and confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
# As np.percentile derives them (q / 100): the interpolation below then matches it bit for bit.
_QUANTILES = np.true_divide(list(PERCENTILES.values()), 100)
Z95 = 1.959963984540054


def percentiles_s(values_s: pd.Series | np.ndarray) -> dict[str, float | int | None]:
    """Exact percentiles from raw values (linear interpolation), max and count; None if empty."""
    array = np.asarray(values_s, dtype="float64")
    return percentiles_in_place_s(array[~np.isnan(array)])


def percentiles_in_place_s(clean_s: np.ndarray) -> dict[str, float | int | None]:
    """``percentiles_s`` of a float64 array without NaN, which it reorders in place (no copy).

    The figures of ``np.percentile`` (linear method) and the max from one partition around
    every rank they need: np.percentile does that too, but after a copy, a NaN check and
    for one call per statistic.
    """
    count = clean_s.size
    if count == 0:
        return {**dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    positions = (count - 1) * _QUANTILES
    lower = np.floor(positions).astype(np.intp)
    upper = np.minimum(lower + 1, count - 1)
    weights = positions - lower
    _partition(clean_s, np.unique(np.concatenate([lower, upper, [count - 1]])))
    low, high = clean_s[lower], clean_s[upper]
    # np.percentile's interpolation: from the nearer neighbour, for symmetric rounding.
    step = high - low
    found = np.where(weights >= 0.5, high - step * (1 - weights), low + step * weights)
    result: dict[str, float | int | None] = {
        name: round(float(value), 6) for name, value in zip(PERCENTILES, found, strict=True)
    }
    result["max"] = round(float(clean_s[count - 1]), 6)
    result["count"] = count
    return result


def _partition(clean: np.ndarray, kth: np.ndarray) -> None:
    """``clean.partition(kth)`` in place, on the integer view when every value is >= 0.

    The bits of non-negative floats order as integers do, and numpy selects integers about
    a third faster than floats (no NaN-aware comparison).
    """
    if clean.dtype == np.float64 and clean.min() >= 0:
        clean.view(np.int64).partition(kth)
    else:
        clean.partition(kth)


def wilson_interval(successes: int, trials: int, z: float = Z95) -> dict[str, float | int | None]:
    """A rate with its Wilson score interval (good near 0 and for small samples): 95 % by
    default, else the two-sided level of the standard normal quantile ``z``."""
    if trials <= 0:
        return {"rate": None, "low": None, "high": None, "count": successes, "of": trials}
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return {
        "rate": round(p, 6),
        "low": round(max(0.0, centre - half), 6),
        "high": round(min(1.0, centre + half), 6),
        "count": successes,
        "of": trials,
    }
