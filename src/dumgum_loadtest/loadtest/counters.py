"""A worker's live counters and schedule-lag histogram, as written to ``progress-<worker>.json``.

Pure Python (no gevent): the orchestrator may import it to read the files. Counter keys sum
across workers; keys ending in ``_ms`` or ``_pct`` are per-worker levels (take the max).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

PROGRESS_STEM = "progress"
TURNS_STEM = "turns"
LATE_AFTER_NS = 10_000_000
"""A send that leaves more than 10 ms after its intended time counts as late."""

_CPU_SAMPLE_MIN_S = 0.5

# Lag buckets: 10 µs wide up to 10 ms, 1 ms wide up to 1 s, 100 ms wide up to 60 s.
_FINE_NS, _FINE_LIMIT_NS = 10_000, 10_000_000
_MID_NS, _MID_LIMIT_NS = 1_000_000, 1_000_000_000
_COARSE_NS, _COARSE_LIMIT_NS = 100_000_000, 60_000_000_000
_FINE_BUCKETS = _FINE_LIMIT_NS // _FINE_NS
_MID_BUCKETS = (_MID_LIMIT_NS - _FINE_LIMIT_NS) // _MID_NS
_COARSE_BUCKETS = (_COARSE_LIMIT_NS - _MID_LIMIT_NS) // _COARSE_NS


class LagHistogram:
    """Schedule lag (sent - intended) in fixed buckets: O(1) to record, bounded memory.

    Percentiles are the upper edge of their bucket, so at most 10 µs high below 10 ms.
    """

    __slots__ = ("count", "counts", "max_ns")

    def __init__(self) -> None:
        self.counts = [0] * (_FINE_BUCKETS + _MID_BUCKETS + _COARSE_BUCKETS + 1)
        self.count = 0
        self.max_ns = 0

    def record(self, lag_ns: int) -> None:
        if lag_ns < 0:
            lag_ns = 0
        if lag_ns < _FINE_LIMIT_NS:
            index = lag_ns // _FINE_NS
        elif lag_ns < _MID_LIMIT_NS:
            index = _FINE_BUCKETS + (lag_ns - _FINE_LIMIT_NS) // _MID_NS
        elif lag_ns < _COARSE_LIMIT_NS:
            index = _FINE_BUCKETS + _MID_BUCKETS + (lag_ns - _MID_LIMIT_NS) // _COARSE_NS
        else:
            index = len(self.counts) - 1
        self.counts[index] += 1
        self.count += 1
        if lag_ns > self.max_ns:
            self.max_ns = lag_ns

    @staticmethod
    def _upper_edge_ns(index: int) -> int:
        if index < _FINE_BUCKETS:
            return (index + 1) * _FINE_NS
        index -= _FINE_BUCKETS
        if index < _MID_BUCKETS:
            return _FINE_LIMIT_NS + (index + 1) * _MID_NS
        index -= _MID_BUCKETS
        return _MID_LIMIT_NS + (index + 1) * _COARSE_NS

    def percentile_ns(self, fraction: float) -> int:
        """The lag below which ``fraction`` of the sends were (0 when nothing was sent)."""
        if self.count == 0:
            return 0
        rank = max(1, int(fraction * self.count + 0.999999))
        overflow = len(self.counts) - 1
        seen = 0
        for index, bucket in enumerate(self.counts):
            seen += bucket
            if seen >= rank:
                return (
                    self.max_ns
                    if index == overflow
                    else min(self._upper_edge_ns(index), self.max_ns)
                )
        return self.max_ns


@dataclass
class Counters:
    """What one worker process has done so far; ``document`` is the progress file."""

    worker: str
    sent: int = 0  # left the generator (an HTTP request was started)
    not_sent: int = 0  # too late (past max_lateness_s) or stopped first: never left
    late: int = 0  # sent more than 10 ms after the intended time
    responses_2xx: int = 0
    responses_3xx: int = 0
    responses_4xx: int = 0
    responses_5xx: int = 0
    transport_errors: int = 0  # sent, no HTTP response
    pool_full: int = 0  # open model: a send waited for a free slot (max_in_flight)
    turns: int = 0  # closed model: turns taken
    answered: int = 0  # closed model: turns whose answer (or drop) arrived in time
    gave_up: int = 0  # closed model: turns whose answer did not come by the deadline
    done: bool = False  # the open schedule has ended (every planned send accounted)
    stopping_ns: int = 0  # when Locust began stopping the users (epoch ns; 0: not yet)
    lag: LagHistogram = field(default_factory=LagHistogram)
    _cpu_s: float = field(default=0.0, repr=False)
    _wall_s: float = field(default=0.0, repr=False)
    cpu_pct: float = 0.0

    @property
    def scheduled(self) -> int:
        """Planned sends whose time has come: each is either sent or not sent."""
        return self.sent + self.not_sent

    @property
    def in_flight(self) -> int:
        responses = self.responses_2xx + self.responses_3xx + self.responses_4xx
        return self.sent - responses - self.responses_5xx - self.transport_errors

    def count_sent(self, lag_ns: int) -> None:
        """One request left, ``lag_ns`` after its intended time."""
        self.sent += 1
        self.lag.record(lag_ns)
        if lag_ns > LATE_AFTER_NS:
            self.late += 1

    def count_status(self, status: int) -> None:
        if status < 300:
            self.responses_2xx += 1
        elif status < 400:
            self.responses_3xx += 1
        elif status < 500:
            self.responses_4xx += 1
        else:
            self.responses_5xx += 1

    def sample_cpu(self) -> float:
        """CPU % of this process since the previous sample (user + system time / wall time)."""
        wall_s = time.monotonic()
        if self._wall_s and wall_s - self._wall_s < _CPU_SAMPLE_MIN_S:
            return self.cpu_pct  # too short a window to mean anything
        times = os.times()
        cpu_s = times.user + times.system
        if self._wall_s:
            self.cpu_pct = 100.0 * (cpu_s - self._cpu_s) / (wall_s - self._wall_s)
        self._cpu_s, self._wall_s = cpu_s, wall_s
        return self.cpu_pct

    def document(self, now_ns: int) -> dict[str, Any]:
        lag = self.lag
        return {
            "worker": self.worker,
            "updated_ns": now_ns,
            "scheduled": self.scheduled,
            "sent": self.sent,
            "not_sent": self.not_sent,
            "late": self.late,
            "in_flight": self.in_flight,
            "responses_2xx": self.responses_2xx,
            "responses_3xx": self.responses_3xx,
            "responses_4xx": self.responses_4xx,
            "responses_5xx": self.responses_5xx,
            "transport_errors": self.transport_errors,
            "pool_full": self.pool_full,
            "turns": self.turns,
            "answered": self.answered,
            "gave_up": self.gave_up,
            "done": self.done,
            "stopping_ns": self.stopping_ns,
            "lag_p50_ms": round(lag.percentile_ns(0.50) / 1e6, 3),
            "lag_p99_ms": round(lag.percentile_ns(0.99) / 1e6, 3),
            "lag_max_ms": round(lag.max_ns / 1e6, 3),
            "cpu_pct": round(self.cpu_pct, 1),
        }
