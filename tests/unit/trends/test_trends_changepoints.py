"""Change detection: a 10 % step is found where it is, noise alone never, over many seeds."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from tests.unit.trends.trends_history import STEP_METRIC, synthetic_history

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.trends.changepoints import detect_changes, noise_scale, welch_pvalue
from dumgum_loadtest.trends.series import HEADLINE_METRICS, build_trends
from dumgum_loadtest.trends.settings import DetectionSettings

SEEDS = range(20)


@pytest.mark.parametrize("noise", [0.01, 0.02])
def test_one_step_found_at_its_run_and_nothing_in_flat_metrics_for_every_seed(
    noise: float,
) -> None:
    for seed in SEEDS:
        trends = build_trends(synthetic_history(seed, noise_relative=noise))
        found = trends.change_points
        assert len(found) == 1, (seed, [(c.metric, c.index, c.pvalue) for c in found])
        change = found[0]
        assert change.metric == STEP_METRIC
        assert abs(change.index - 20) <= 1, (seed, change.index)
        assert change.relative_change is not None
        assert 0.07 < change.relative_change < 0.13
        assert change.pvalue < 0.001
        assert change.version == "0.2.0" or change.index != 20
        assert len(trends.series) == len(HEADLINE_METRICS)


def test_step_down_found_too() -> None:
    for seed in SEEDS:
        values = 2.0 * (1 + np.random.default_rng(seed).normal(0, 0.015, 30))
        values[12:] *= 0.9
        changes = detect_changes(list(values))
        assert [c.index for c in changes] in ([11], [12], [13]), seed
        assert changes[0].relative_change is not None and changes[0].relative_change < 0


def test_two_steps_both_found() -> None:
    for seed in SEEDS:
        values = 1.0 + np.random.default_rng(seed).normal(0, 0.01, 40)
        values[10:] += 0.15
        values[28:] -= 0.3
        assert [c.index for c in detect_changes(list(values))] == [10, 28], seed


def test_short_series_gives_no_change_and_a_note_not_an_error() -> None:
    frame = synthetic_history(0, runs=5, step_at=3, step_relative=0.5)
    trends = build_trends(frame)
    assert trends.change_points == []
    assert all(series.note for series in trends.series)
    assert any("fewer than 6 valid runs" in note for note in trends.notes)
    assert detect_changes([1.0, 2.0, 3.0]) == []


def test_constant_series_and_exact_step_without_noise() -> None:
    assert detect_changes([0.0] * 20) == []
    changes = detect_changes([0.0] * 10 + [0.05] * 10)
    assert [(c.index, c.pvalue, c.relative_change) for c in changes] == [(10, 0.0, None)]


def test_invalid_runs_are_kept_in_the_series_but_not_judged() -> None:
    # Runs 5 and 6 interrupted with absurd values: judged, they would be two change points.
    overrides = {(5, STEP_METRIC): 50.0, (6, STEP_METRIC): 50.0}
    frame = synthetic_history(3, invalid=(5, 6), overrides=overrides)
    trends = build_trends(frame, metrics=[STEP_METRIC])
    (series,) = trends.series
    assert len(series.points) == 30 and series.used_count == 28
    assert not series.points[5].valid and series.points[5].value == 50.0
    (change,) = series.change_points
    assert change.index == 20  # the position among all runs, invalid ones included
    assert series.points[change.index].run_id == change.run_id


def test_nan_and_missing_values_are_skipped() -> None:
    frame = synthetic_history(4)
    frame.loc[(frame["metric"] == STEP_METRIC) & frame["run_id"].str.contains("1003"), "value"] = (
        math.nan
    )
    frame = frame[~((frame["metric"] == "drop_rate") & (frame.index % 3 == 0))]
    frame.loc[frame["metric"] == "loss_rate", "value"] = math.nan
    trends = build_trends(frame)
    by_metric = {series.metric: series for series in trends.series}
    step = by_metric[STEP_METRIC]
    assert step.points[2].value is None and step.used_count == 29
    assert [c.index for c in step.change_points] in ([19], [20], [21])
    assert by_metric["loss_rate"].used_count == 0 and by_metric["loss_rate"].note
    assert len(by_metric["drop_rate"].points) < 30


def test_breakdown_series_per_value() -> None:
    frame = synthetic_history(5, breakdown={"chat_model": ["dating-pro-1", "chat-2-smart"]})
    trends = build_trends(frame, by=["chat_model", "chat_model"])
    scoped = [s for s in trends.series if s.scope == "chat_model"]
    assert sorted(s.scope_value for s in scoped) == ["chat-2-smart", "dating-pro-1"]
    assert all(s.metric == "drop_rate" and not s.change_points for s in scoped)


def test_unknown_metric_or_breakdown_is_one_line_naming_what_is_recorded() -> None:
    frame = synthetic_history(0, runs=8)
    with pytest.raises(ConfigError, match=r"^--metric p99: .*recorded: .*drop_rate"):
        build_trends(frame, metrics=["p99"])
    with pytest.raises(ConfigError, match=r"^--by vision: .*recorded: none$"):
        build_trends(frame, by=["vision"])
    with pytest.raises(ConfigError, match="lacks column"):
        build_trends(frame.drop(columns=["valid"]))


def test_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"max_pvalue \(--max-pvalue\) = 0"):
        DetectionSettings(max_pvalue=0)
    with pytest.raises(ConfigError, match="min_segment_runs"):
        DetectionSettings(min_segment_runs=1)


def test_noise_scale_ignores_a_step_and_welch_handles_constant_segments() -> None:
    values = np.r_[np.full(10, 1.0), np.full(10, 2.0)] + np.tile([0.01, -0.01], 10)
    assert noise_scale(values) == pytest.approx(0.02 / math.sqrt(2) * 1.4826)
    assert welch_pvalue(np.array([1.0, 1.0]), np.array([1.0, 1.0])) == 1.0


def test_a_change_where_the_scenario_file_changed_says_so() -> None:
    frame = synthetic_history(6)
    later = frame["started_at"] >= frame["started_at"].sort_values().unique()[20]
    frame.loc[later, "scenario_hash"] = "ffff000011112222"
    (change,) = build_trends(frame).change_points
    assert change.scenario_changed == (change.index == 20)
    assert change.previous_run_id < change.run_id


def test_runs_of_one_scenario_against_two_targets_are_two_series() -> None:
    """Nights against the mock and nights against a real API are never one trend: a switch of
    target would otherwise show as a change point in every metric."""
    mock = synthetic_history(seed=3, runs=12, step_metric=None)
    real = synthetic_history(seed=4, runs=12, step_metric=None)
    real["target"] = "api.dumgum.example:443"
    real["value"] = real["value"] * 3  # a real API three times slower than the mock
    real["run_id"] = real["run_id"] + "-real"
    real["started_at"] = real["started_at"] + pd.Timedelta(days=12)  # the team switched
    trends = build_trends(pd.concat([mock, real]), metrics=[STEP_METRIC])
    assert [s.scenario for s in trends.series] == [
        "nightly @ mock",
        "nightly @ api.dumgum.example:443",
    ]
    assert not [s.change_points for s in trends.series if s.change_points]
