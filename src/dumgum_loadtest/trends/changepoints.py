"""Change points in one metric's series of runs: candidates by ruptures, kept by a t-test.

The approach is Apache Otava's (formerly Hunter, MongoDB's E-Divisive with a Student t-test
filter), built from a smaller library:

1. **Candidates.** The series is standardised by a robust estimate of its run-to-run noise
   (the median absolute successive difference, which a step does not inflate) and
   ruptures' binary segmentation (``Binseg``, least-squares cost, segments of at least
   ``min_segment_runs``) proposes every split whose cost saving beats
   ``candidate_penalty x ln(n)``: deliberately generous, the filter below decides.
2. **Filter.** Each candidate is tested against its neighbouring segments (from the previous
   kept candidate to the next): a Welch t-test (``scipy.stats.ttest_ind``, unequal variances)
   must give ``p < max_pvalue`` and the means must differ by at least ``min_magnitude`` of
   the earlier mean. The weakest failing candidate (highest p-value) is dropped, its two
   segments merge, and the rest are tested again, until every one left passes (as Otava
   does): a real step split into pieces by noise candidates regains its full segments and
   its power.

A series shorter than ``settings.min_runs`` yields no change point (``too_short``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import ruptures as rpt  # type: ignore[import-untyped]
from scipy import stats  # type: ignore[import-untyped]

from dumgum_loadtest.trends.settings import DetectionSettings

# MAD of a normal sample / its standard deviation.
_MAD_TO_SD = 1.4826


@dataclass(frozen=True, slots=True)
class Change:
    """A change at ``index``: the first value of the new segment (0-based, in the values given)."""

    index: int
    before: float  # mean of the segment ending just before index
    after: float  # mean of the segment starting at index
    relative_change: float | None  # (after - before) / |before|; None when before is 0
    pvalue: float
    runs_before: int
    runs_after: int


def too_short(count: int, settings: DetectionSettings) -> bool:
    return count < settings.min_runs


def detect_changes(
    values: Sequence[float], settings: DetectionSettings | None = None
) -> list[Change]:
    """The change points of ``values`` (finite floats, in run order), earliest first."""
    settings = settings or DetectionSettings()
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("detect_changes takes a flat sequence of finite values")
    if too_short(len(x), settings) or np.ptp(x) == 0:
        return []
    candidates = _candidates(x, settings)
    return _filter(x, candidates, settings)


def noise_scale(x: np.ndarray) -> float:
    """Run-to-run noise as one standard deviation, robust to steps and outliers.

    Successive differences cancel a level shift except at the shift itself; the median of
    their absolute values ignores those few (for normal noise it is 0.6745 x sqrt(2) sigma).
    Falls back to the standard deviation of the differences, then of the values, when that
    median is 0 (mostly equal values)."""
    diffs = np.diff(x)
    floor = 1e-9 * float(np.max(np.abs(x)))  # below this, a scale is rounding error
    for scale in (
        _MAD_TO_SD * float(np.median(np.abs(diffs))) / math.sqrt(2),
        float(np.std(diffs)) / math.sqrt(2),
        float(np.std(x)),
    ):
        if scale > floor:
            return scale
    return 1.0


def _candidates(x: np.ndarray, settings: DetectionSettings) -> list[int]:
    z = (x - np.median(x)) / noise_scale(x)
    algo = rpt.Binseg(model="l2", min_size=settings.min_segment_runs, jump=1).fit(z)
    penalty = settings.candidate_penalty * math.log(len(x))
    ends = algo.predict(pen=penalty)
    return sorted(int(end) for end in ends if 0 < end < len(x))


def _filter(x: np.ndarray, candidates: list[int], settings: DetectionSettings) -> list[Change]:
    kept = list(candidates)
    while True:
        changes = [_test(x, kept, i) for i in range(len(kept))]
        failing = [
            (change.pvalue, -_magnitude(change), i)
            for i, change in enumerate(changes)
            if not _passes(change, settings)
        ]
        if not failing:
            return changes
        _, _, weakest = max(failing)
        del kept[weakest]


def _test(x: np.ndarray, kept: list[int], i: int) -> Change:
    start = kept[i - 1] if i > 0 else 0
    end = kept[i + 1] if i + 1 < len(kept) else len(x)
    index = kept[i]
    left, right = x[start:index], x[index:end]
    before, after = float(np.mean(left)), float(np.mean(right))
    relative = (after - before) / abs(before) if before != 0 else None
    return Change(
        index=index,
        before=before,
        after=after,
        relative_change=relative,
        pvalue=welch_pvalue(left, right),
        runs_before=len(left),
        runs_after=len(right),
    )


def welch_pvalue(left: np.ndarray, right: np.ndarray) -> float:
    """Two-sided Welch t-test; two constant segments are certain to differ (p 0) or not (1)."""
    if np.ptp(left) == 0 and np.ptp(right) == 0:
        return 0.0 if left[0] != right[0] else 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # precision loss on near-equal data
        result = stats.ttest_ind(left, right, equal_var=False)
    pvalue = float(result.pvalue)
    return pvalue if math.isfinite(pvalue) else 1.0


def _magnitude(change: Change) -> float:
    if change.relative_change is None:
        return math.inf if change.after != change.before else 0.0
    return abs(change.relative_change)


def _passes(change: Change, settings: DetectionSettings) -> bool:
    return change.pvalue < settings.max_pvalue and _magnitude(change) >= settings.min_magnitude
