"""What makes a change point: the thresholds of ``changepoints.py``, with their defaults.

Kept apart from the detection itself so the command line can show the defaults without
importing ruptures and scipy.
"""

from __future__ import annotations

from dataclasses import dataclass

from dumgum_loadtest.errors import ConfigError

# Apache Otava's default p-value threshold.
MAX_PVALUE = 0.001
MIN_MAGNITUDE = 0.05
MIN_SEGMENT_RUNS = 3
CANDIDATE_PENALTY = 2.0


@dataclass(frozen=True, slots=True)
class DetectionSettings:
    """How sure and how large a change must be to be reported."""

    max_pvalue: float = MAX_PVALUE  # Welch t-test between neighbouring segments, two-sided
    min_magnitude: float = MIN_MAGNITUDE  # |after - before| / |before|, 0.05 = 5 %
    min_segment_runs: int = MIN_SEGMENT_RUNS  # runs on each side of a change, at least
    candidate_penalty: float = CANDIDATE_PENALTY  # x ln(n), on the noise-standardised series

    def __post_init__(self) -> None:
        if not 0 < self.max_pvalue <= 1:
            raise ConfigError(
                f"max_pvalue (--max-pvalue) = {self.max_pvalue}: must be in (0, 1], e.g. 0.001"
            )
        if not self.min_magnitude >= 0:
            raise ConfigError(
                f"min_magnitude (--min-magnitude) = {self.min_magnitude}: must be 0 or more"
                " (0.05 = 5 %)"
            )
        if self.min_segment_runs < 2:
            raise ConfigError(
                f"min_segment_runs (--min-segment-runs) = {self.min_segment_runs}: must be 2 or"
                " more (a t-test needs two values a side)"
            )
        if not self.candidate_penalty > 0:
            raise ConfigError(
                f"candidate_penalty = {self.candidate_penalty}: must be above 0, e.g. 2"
            )

    @property
    def min_runs(self) -> int:
        """The shortest series with room for one change: a full segment each side."""
        return 2 * self.min_segment_runs
