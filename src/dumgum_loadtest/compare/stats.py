"""The statistics of ``compare``: two samples of latency, two proportions, and Holm's correction.

Latency (seconds per request): the quantile differences current - baseline with percentile
bootstrap intervals, the two runs resampled independently with a fixed seed, and a two-sided
bootstrap p-value per quantile (the smallest alpha at which the percentile interval leaves out
0, so p < alpha exactly when the 1 - alpha interval excludes 0); and the Mann-Whitney U rank
test of the whole distributions (``scipy.stats.mannwhitneyu``).

The bootstrap is exact and needs no subsampling: a resample is F_n^-1(U_1..U_n) for uniform
U_i, and F_n^-1 is monotone, so the k-th smallest value of a resample of n sorted values is
x[ceil(n * B)] with B ~ Beta(k, n - k + 1), the k-th order statistic of n uniforms. One sort and
``resamples`` Beta draws per quantile: 10,000 resamples of a 10 M-request run cost about as
much as sorting it.

Rates: Fisher's exact test of the 2x2 table (``scipy.stats.fisher_exact``) and Newcombe's
hybrid score interval of the difference, built from the Wilson intervals of each rate
(``scipy.stats.binomtest(...).proportion_ci(method="wilson")``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats  # type: ignore[import-untyped,unused-ignore]  # no stubs pinned

QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}
CONFIDENCE = 0.99
RESAMPLES = 10_000
SEED = 20261207
# A quantile is tested only when each side has at least this many requests beyond it: a p99
# from 100 requests is the second-largest value, and its bootstrap interval is meaningless.
MIN_TAIL_COUNT = 5


@dataclass(frozen=True, slots=True)
class QuantileChange:
    name: str  # p50, p95, p99
    baseline_s: float
    current_s: float
    low_s: float | None  # the interval of current - baseline (None: not tested)
    high_s: float | None
    p_value: float | None  # two-sided bootstrap p-value (None: too few requests to test)
    why_untested: str = ""

    @property
    def change_s(self) -> float:
        return self.current_s - self.baseline_s


@dataclass(frozen=True, slots=True)
class DistributionChange:
    baseline_count: int
    current_count: int
    rank_p_value: float | None  # Mann-Whitney U, two-sided (None: a side is empty)
    superiority: float | None  # U / (n x m): P(current > baseline) + P(tie) / 2
    quantiles: tuple[QuantileChange, ...]


@dataclass(frozen=True, slots=True)
class ProportionChange:
    baseline_rate: float
    current_rate: float
    low: float  # the interval of current - baseline
    high: float
    p_value: float  # Fisher's exact test, two-sided

    @property
    def change(self) -> float:
        return self.current_rate - self.baseline_rate


def compare_distributions(
    baseline_s: np.ndarray,
    current_s: np.ndarray,
    *,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> DistributionChange:
    """Quantile differences with intervals and p-values, and the rank test; NaN left out.

    The point figures are linearly interpolated quantiles (as the summary's); the bootstrap
    replicates are nearest-rank quantiles of the resamples.
    """
    baseline = np.sort(_clean(baseline_s))
    current = np.sort(_clean(current_s))
    if not baseline.size or not current.size:
        return DistributionChange(baseline.size, current.size, None, None, ())
    rank = stats.mannwhitneyu(current, baseline, alternative="two-sided")
    superiority = float(rank.statistic) / (current.size * baseline.size)
    rng = np.random.default_rng(seed)
    alpha = 1 - confidence
    changes = []
    for name, level in QUANTILES.items():
        base_q = float(np.quantile(baseline, level))
        cur_q = float(np.quantile(current, level))
        if min(baseline.size, current.size) * (1 - level) < MIN_TAIL_COUNT:
            needed = math.ceil(MIN_TAIL_COUNT / (1 - level))
            why = f"too few requests to test a {name} (fewer than {needed} on a side)"
            changes.append(QuantileChange(name, base_q, cur_q, None, None, None, why))
            continue
        diffs = bootstrap_quantile(current, level, resamples, rng) - bootstrap_quantile(
            baseline, level, resamples, rng
        )
        low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
        below = float(np.mean(diffs <= 0))
        above = float(np.mean(diffs >= 0))
        p_value = min(1.0, 2 * min(below, above))
        changes.append(QuantileChange(name, base_q, cur_q, float(low), float(high), p_value))
    return DistributionChange(
        baseline.size, current.size, float(rank.pvalue), superiority, tuple(changes)
    )


def bootstrap_quantile(
    sorted_values: np.ndarray, level: float, resamples: int, rng: np.random.Generator
) -> np.ndarray:
    """The nearest-rank ``level`` quantile of ``resamples`` bootstrap resamples of
    ``sorted_values`` (ascending), drawn exactly through the order statistic (module text)."""
    count = sorted_values.size
    rank = min(count, max(1, math.ceil(level * count)))
    uniform_order_statistic = rng.beta(rank, count - rank + 1, size=resamples)
    index = np.clip(np.ceil(uniform_order_statistic * count).astype(np.intp) - 1, 0, count - 1)
    replicates: np.ndarray = sorted_values[index]
    return replicates


def compare_proportions(
    baseline_events: int,
    baseline_trials: int,
    current_events: int,
    current_trials: int,
    *,
    confidence: float = CONFIDENCE,
) -> ProportionChange | None:
    """Fisher's exact test and Newcombe's interval of the difference; None when a side has no
    trials."""
    if baseline_trials <= 0 or current_trials <= 0:
        return None
    table = [
        [current_events, current_trials - current_events],
        [baseline_events, baseline_trials - baseline_events],
    ]
    p_value = float(stats.fisher_exact(table, alternative="two-sided").pvalue)
    base_rate = baseline_events / baseline_trials
    cur_rate = current_events / current_trials
    base_low, base_high = _wilson(baseline_events, baseline_trials, confidence)
    cur_low, cur_high = _wilson(current_events, current_trials, confidence)
    change = cur_rate - base_rate
    # Newcombe (1998), method 10: each side's Wilson limits combined.
    low = change - math.hypot(cur_rate - cur_low, base_high - base_rate)
    high = change + math.hypot(cur_high - cur_rate, base_rate - base_low)
    return ProportionChange(base_rate, cur_rate, low, high, p_value)


def _wilson(events: int, trials: int, confidence: float) -> tuple[float, float]:
    interval = stats.binomtest(events, trials).proportion_ci(
        confidence_level=confidence, method="wilson"
    )
    return float(interval.low), float(interval.high)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error rate), in the input order."""
    count = len(p_values)
    order = sorted(range(count), key=lambda index: p_values[index])
    adjusted = [1.0] * count
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _clean(values: np.ndarray) -> np.ndarray:
    array = np.asarray(values, dtype="float64")
    clean: np.ndarray = array[~np.isnan(array)]
    return clean
