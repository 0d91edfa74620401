"""The progress counters and the schedule-lag histogram (no gevent, no locust)."""

from __future__ import annotations

import random

import pytest

from dumgum_loadtest.loadtest.counters import Counters, LagHistogram


def test_empty_histogram() -> None:
    histogram = LagHistogram()
    assert histogram.percentile_ns(0.5) == histogram.percentile_ns(0.99) == 0
    assert histogram.max_ns == 0


@pytest.mark.parametrize(
    ("scale_ns", "tolerance_ns"),
    [(1_000_000, 10_000), (100_000_000, 1_000_000), (5_000_000_000, 100_000_000)],
)
def test_percentiles_are_within_one_bucket(scale_ns: int, tolerance_ns: int) -> None:
    rng = random.Random(3)
    lags = sorted(int(rng.random() * scale_ns) for _ in range(20_000))
    histogram = LagHistogram()
    for lag in lags:
        histogram.record(lag)
    for fraction in (0.5, 0.9, 0.99):
        exact = lags[int(fraction * len(lags)) - 1]
        assert exact <= histogram.percentile_ns(fraction) <= exact + tolerance_ns
    assert histogram.max_ns == lags[-1]
    assert histogram.percentile_ns(1.0) == lags[-1]


def test_negative_and_huge_lags_are_clamped() -> None:
    histogram = LagHistogram()
    histogram.record(-5)  # sent a hair early (clock granularity)
    histogram.record(3_600_000_000_000)  # an hour late
    assert histogram.count == 2
    assert histogram.percentile_ns(0.5) == 10_000  # the first bucket's upper edge
    assert histogram.max_ns == histogram.percentile_ns(1.0) == 3_600_000_000_000


def test_counters_add_up() -> None:
    counters = Counters("3")
    counters.sent, counters.not_sent = 10, 4
    for status in (204, 204, 302, 422, 503):
        counters.count_status(status)
    counters.transport_errors = 1
    document = counters.document(now_ns=123)
    assert document["scheduled"] == 14
    assert document["in_flight"] == 10 - 5 - 1
    assert (document["responses_2xx"], document["responses_3xx"]) == (2, 1)
    assert (document["responses_4xx"], document["responses_5xx"]) == (1, 1)
    assert document["worker"] == "3"
    assert document["updated_ns"] == 123
    # Keys the orchestrator sums or takes the max of (dumgum_loadtest.progress).
    for key in ("sent", "not_sent", "late", "lag_p50_ms", "lag_p99_ms", "lag_max_ms", "cpu_pct"):
        assert isinstance(document[key], int | float)


def test_cpu_is_sampled_over_a_meaningful_window() -> None:
    counters = Counters("0")
    counters.sample_cpu()
    assert counters.sample_cpu() == 0.0  # a second sample right away keeps the old value
