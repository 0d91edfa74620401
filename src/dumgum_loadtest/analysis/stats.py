"""Small statistics the reports need: exact percentiles and confidence intervals."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}
Z95 = 1.959963984540054


def percentiles_s(values_s: pd.Series | np.ndarray) -> dict[str, float | int | None]:
    """Exact percentiles from raw values (linear interpolation), max and count; None if empty."""
    array = np.asarray(values_s, dtype="float64")
    clean = array[~np.isnan(array)]
    if clean.size == 0:
        return {**dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    found = np.percentile(clean, list(PERCENTILES.values()))
    result: dict[str, float | int | None] = {
        name: round(float(value), 6) for name, value in zip(PERCENTILES, found, strict=True)
    }
    result["max"] = round(float(clean.max()), 6)
    result["count"] = int(clean.size)
    return result


def wilson_interval(successes: int, trials: int) -> dict[str, float | int | None]:
    """A rate with its 95 % Wilson score interval (good near 0 and for small samples)."""
    if trials <= 0:
        return {"rate": None, "low": None, "high": None, "count": successes, "of": trials}
    p = successes / trials
    z2 = Z95 * Z95
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = Z95 * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return {
        "rate": round(p, 6),
        "low": round(max(0.0, centre - half), 6),
        "high": round(min(1.0, centre + half), 6),
        "count": successes,
        "of": trials,
    }
