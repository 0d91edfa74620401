"""compare's statistics and verdicts on synthetic samples whose truth is known."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from dumgum_loadtest.compare.gate import (
    IMPROVEMENT,
    NO_CHANGE,
    NOT_SIGNIFICANT,
    NOT_TESTED,
    REGRESSION,
    Row,
    Thresholds,
    compare_runs,
    judge,
)
from dumgum_loadtest.compare.samples import Count, RunSamples
from dumgum_loadtest.compare.stats import (
    bootstrap_quantile,
    compare_distributions,
    compare_proportions,
    holm,
)


def lognormal(size: int, median_s: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(median_s), 0.4, size)


def samples(
    first_answer_s: np.ndarray,
    *,
    dropped: tuple[int, int] = (0, 1000),
    cost_eur: float | None = 0.025,
    run_id: str = "run",
) -> RunSamples:
    """A run whose only latency that moves is the first answer (the others are constant)."""
    size = first_answer_s.size
    return RunSamples(
        run_id=run_id,
        run_dir=Path("/nonexistent") / run_id,
        latency_s={
            "first_answer_s": first_answer_s,
            "processing_s": np.full(size, 0.2),
            "enqueue_s": np.full(size, 0.002),
        },
        rates={
            "drop_rate": Count(*dropped),
            "loss_rate": Count(0, dropped[1]),
            "rejected_rate": Count(0, dropped[1]),
        },
        cost_per_answered_eur=cost_eur,
    )


def by_metric(rows: list[Row]) -> dict[str, Row]:
    return {row.metric: row for row in rows}


def test_identical_distributions_are_no_regression() -> None:
    rows = by_metric(
        compare_runs(
            samples(lognormal(3000, 1.0, seed=1)),
            [samples(lognormal(3000, 1.0, seed=2))],
            Thresholds(),
        )
    )
    for name in ("p50", "p95", "p99"):
        row = rows[f"first_answer_s.{name}"]
        assert row.verdict in (NOT_SIGNIFICANT, NO_CHANGE), row
        assert row.low is not None and row.high is not None and row.low < 0 < row.high
    assert not any(row.verdict == REGRESSION for row in rows.values())


def test_a_30_percent_slower_first_answer_is_a_regression() -> None:
    rows = by_metric(
        compare_runs(
            samples(lognormal(3000, 1.3, seed=1)),
            [samples(lognormal(3000, 1.0, seed=2))],
            Thresholds(),
        )
    )
    for name in ("p50", "p95", "p99"):
        row = rows[f"first_answer_s.{name}"]
        assert row.verdict == REGRESSION, row
        assert row.relative is not None and 0.2 < row.relative < 0.4
        assert row.p_adjusted is not None and row.p_adjusted < 0.01
        assert row.low is not None and row.low > 0  # the whole interval is above 0
    assert rows["first_answer_s.rank_test"].verdict == "shifted later"
    # And the same the other way round: faster is an improvement, not a regression.
    faster = by_metric(
        compare_runs(
            samples(lognormal(3000, 1.0, seed=1)),
            [samples(lognormal(3000, 1.3, seed=2))],
            Thresholds(),
        )
    )
    assert faster["first_answer_s.p50"].verdict == IMPROVEMENT


def test_a_tiny_significant_shift_below_the_threshold_is_not_gated() -> None:
    # 2 % slower on 20,000 requests a side: certainly real, too small to matter at 5 %.
    base = lognormal(20_000, 1.0, seed=1)
    rows = by_metric(compare_runs(samples(base * 1.02), [samples(base[::-1].copy())], Thresholds()))
    row = rows["first_answer_s.p50"]
    assert row.p_adjusted is not None and row.p_adjusted < 0.01
    assert row.verdict == NO_CHANGE
    # The same shift with a 1 % threshold is a regression.
    strict = by_metric(
        compare_runs(samples(base * 1.02), [samples(base[::-1].copy())], Thresholds(0.01))
    )
    assert strict["first_answer_s.p50"].verdict == REGRESSION


def test_a_large_difference_on_tiny_noisy_samples_is_not_gated() -> None:
    rng = np.random.default_rng(5)
    base = rng.lognormal(0.0, 1.0, 12)
    current = rng.lognormal(0.0, 1.0, 12) * 1.5  # +50 %, on 12 noisy requests a side
    rows = by_metric(compare_runs(samples(current), [samples(base)], Thresholds()))
    row = rows["first_answer_s.p50"]
    assert row.verdict == NOT_SIGNIFICANT, row
    # Too few requests for a p95 or p99 at all: shown, never tested.
    assert rows["first_answer_s.p99"].verdict == NOT_TESTED
    assert "too few requests" in rows["first_answer_s.p99"].note


def test_bootstrap_interval_and_p_value_agree() -> None:
    base = lognormal(4000, 1.0, seed=3)
    change = compare_distributions(base, base * 1.1)
    for quantile in change.quantiles:
        assert quantile.p_value is not None and quantile.low_s is not None
        assert (quantile.p_value < 0.01) == (quantile.low_s > 0)
    assert change.superiority is not None and change.superiority > 0.5


def test_order_statistic_bootstrap_matches_brute_force_resampling() -> None:
    rng = np.random.default_rng(6)
    values = np.sort(rng.lognormal(0.0, 0.5, 200))
    for level in (0.5, 0.95, 0.99):
        fast = bootstrap_quantile(values, level, 100_000, rng)
        rank = math.ceil(level * values.size)
        resamples = np.sort(values[rng.integers(0, values.size, (20_000, values.size))], axis=1)
        brute = resamples[:, rank - 1]
        for probability in (0.005, 0.05, 0.5, 0.95, 0.995):
            # Draws from the same distribution over the sample's values: their quantiles are
            # the same value, or a neighbour in the sorted sample.
            fast_rank = np.searchsorted(values, np.quantile(fast, probability, method="lower"))
            brute_rank = np.searchsorted(values, np.quantile(brute, probability, method="lower"))
            assert abs(int(fast_rank) - int(brute_rank)) <= 1, (level, probability)


def test_large_runs_compare_whole_without_subsampling() -> None:
    base = lognormal(500_000, 1.0, seed=4)
    change = compare_distributions(base, base[::-1].copy())
    assert change.baseline_count == change.current_count == 500_000
    for quantile in change.quantiles:
        assert quantile.change_s == 0.0
        assert quantile.p_value is not None and quantile.p_value > 0.01
        assert quantile.high_s is not None and quantile.high_s < 0.03  # tight at this size


def test_proportions_fisher_and_newcombe() -> None:
    same = compare_proportions(10, 1000, 11, 1000)
    assert same is not None and same.p_value > 0.5 and same.low < 0 < same.high
    worse = compare_proportions(10, 1000, 60, 1000)
    assert worse is not None and worse.p_value < 1e-6 and worse.low > 0
    assert abs(worse.change - 0.05) < 1e-12
    assert compare_proportions(0, 0, 1, 10) is None


def test_rate_from_zero_is_judged_by_the_absolute_floor_not_infinite_percent() -> None:
    rows = by_metric(
        compare_runs(
            samples(lognormal(500, 1.0, 1), dropped=(40, 1000)),
            [samples(lognormal(500, 1.0, 2), dropped=(0, 1000))],
            Thresholds(),
        )
    )
    assert rows["drop_rate"].verdict == REGRESSION
    assert rows["drop_rate"].relative is None  # no "+inf %"
    # 0 -> 1 in 1000: under the floor and not significant either.
    small = by_metric(
        compare_runs(
            samples(lognormal(500, 1.0, 1), dropped=(1, 1000)),
            [samples(lognormal(500, 1.0, 2), dropped=(0, 1000))],
            Thresholds(),
        )
    )
    assert small["drop_rate"].verdict == NOT_SIGNIFICANT


def test_cost_is_judged_on_the_threshold_alone() -> None:
    rows = by_metric(
        compare_runs(
            samples(lognormal(500, 1.0, 1), cost_eur=0.030),
            [samples(lognormal(500, 1.0, 2), cost_eur=0.025)],
            Thresholds(),
        )
    )
    cost = rows["cost_per_answered_request_eur"]
    assert cost.p_value is None and cost.verdict == REGRESSION and "threshold alone" in cost.note
    assert cost.gated


def test_median_of_baselines_pools_the_tests_and_takes_the_median_figure() -> None:
    baselines = [
        samples(lognormal(1000, median_s, seed), run_id=f"b{seed}")
        for seed, median_s in ((1, 1.0), (2, 1.02), (3, 5.0))  # one outlier run
    ]
    rows = by_metric(compare_runs(samples(lognormal(1000, 1.0, 9)), baselines, Thresholds()))
    p50 = rows["first_answer_s.p50"]
    assert p50.baseline is not None and 0.95 < p50.baseline < 1.1  # the median, not the outlier


def test_holm_adjusts_in_input_order() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == [0.03, 0.06, 0.06, 0.02]
    assert holm([]) == []


def test_holm_family_is_the_gated_tested_rows() -> None:
    rows = [
        Row("a", "latency", 1.0, 2.0, p_value=0.004, gated=True),
        Row("b", "latency", 1.0, 2.0, p_value=0.004, gated=True),
        Row("c", "latency", 1.0, 2.0, p_value=0.004, gated=True),
        Row("shown", "rank", None, 0.6, p_value=1e-9),  # not in the family
    ]
    judged = judge(rows, Thresholds())
    assert [row.p_adjusted for row in judged[:3]] == [0.012, 0.012, 0.012]
    assert [row.verdict for row in judged[:3]] == [NOT_SIGNIFICANT] * 3
    assert judged[3].p_adjusted is None
