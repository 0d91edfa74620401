"""compare's rules about runs: comparability, validity, baselines from the history, outputs."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from dumgum_loadtest.compare.gate import (
    Baseline,
    Comparison,
    Thresholds,
    check_comparable,
    check_valid,
    compare_runs,
    eligible_baselines,
    last_passing,
    median_of,
    parse_median_count,
)
from dumgum_loadtest.compare.render import markdown, text_table, verdicts
from dumgum_loadtest.compare.samples import Count, RunSamples, Slo
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import RunRecord
from dumgum_loadtest.mock.overrides import apply_mock_settings

NOON = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def record(run_id: str, hours_ago: float = 0, **changes: object) -> RunRecord:
    base = RunRecord(
        run_id=run_id,
        run_dir=f"/runs/{run_id}",
        scenario="smoke",
        scenario_hash="aaaa",
        target="mock",
        started_at=NOON - timedelta(hours=hours_ago),
        status="completed",
        slo_passed=True,
        valid=True,
        invalid_reasons=(),
        package_version="0.1.0",
        dumgum_version="0.1.0",
        git_commit=None,
        machine="vm",
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_different_scenario_or_target_is_not_comparable_and_says_which() -> None:
    current = record("now")
    check_comparable(current, record("before", 1))
    with pytest.raises(ConfigError, match=r"scenario hash bbbb .* baseline, aaaa .* current run"):
        check_comparable(current, record("other", 1, scenario_hash="bbbb"))
    with pytest.raises(ConfigError, match=r"target .api\.example:443. in the baseline"):
        check_comparable(current, record("other", 1, target="api.example:443"))


def test_an_invalid_run_is_refused_with_its_reasons() -> None:
    cut = record(
        "cut",
        status="interrupted",
        valid=False,
        invalid_reasons=("the run did not complete (interrupted)",),
    )
    with pytest.raises(ConfigError, match=r"baseline run cut .* did not complete \(interrupted\)"):
        check_valid(cut, "the baseline")
    check_valid(record("fine"), "the current")


def test_last_passing_is_the_newest_eligible_run_before_the_current() -> None:
    current = record("now")
    history = [
        current,  # the current run itself is in the history already
        record("later", -1),  # after the current run
        record("failed", 1, slo_passed=False),
        record("invalid", 2, valid=False, invalid_reasons=("harness",)),
        record("other-scenario", 2.5, scenario_hash="bbbb"),
        record("other-target", 2.6, target="api.example:443"),
        record("no-slos", 3, slo_passed=None),
        record("old", 9),
    ]
    assert [r.run_id for r in eligible_baselines(history, current)] == ["no-slos", "old"]
    chosen = last_passing(history, current)
    assert [r.run_id for r in chosen.records] == ["no-slos"]
    assert "no-slos" in chosen.how


def test_baselines_read_back_from_sqlite_and_postgresql_are_chosen_alike(
    history_db_url: str,
) -> None:
    """The same choice when the candidates come from a real history (both databases)."""
    from dumgum_loadtest.history.store import open_history

    current = record("now")
    recorded = [
        current,
        record("failed", 1, slo_passed=False),
        record("invalid", 2, valid=False, invalid_reasons=("harness",)),
        record("no-slos", 3, slo_passed=None),
        record("old", 9),
        record("older", 10),
    ]
    with open_history(history_db_url) as history:
        for run in recorded:
            history.add(run)
        candidates = history.runs(scenario_hash="aaaa", target="mock")
    assert [r.run_id for r in last_passing(candidates, current).records] == ["no-slos"]
    chosen = median_of(candidates, current, 2).records
    assert [r.run_id for r in chosen] == ["no-slos", "old"]


def test_median_of_takes_the_n_newest_and_says_when_fewer() -> None:
    current = record("now")
    history = [record(f"r{hours}", hours) for hours in (5, 1, 3, 2, 4)]
    assert [r.run_id for r in median_of(history, current, 3).records] == ["r1", "r2", "r3"]
    short = median_of(history, current, 9)
    assert len(short.records) == 5 and "9 asked; only 5 eligible" in short.how


def test_no_eligible_baseline_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match=r"no valid run with SLOs passed .* give --baseline"):
        last_passing([record("failed", 1, slo_passed=False)], record("now"))


@pytest.mark.parametrize("text", ["median-of:0", "median-of:x", "median-of:", "median-of:101"])
def test_median_count_must_be_1_to_100(text: str) -> None:
    with pytest.raises(ConfigError, match="whole number from 1 to 100"):
        parse_median_count(text)


def run_samples(scale: float, failed_slo: bool = False) -> RunSamples:
    rng = np.random.default_rng(int(scale * 100))
    first = rng.lognormal(0.0, 0.3, 2000) * scale
    return RunSamples(
        run_id=f"run-{scale}",
        run_dir=Path("/runs") / f"run-{scale}",
        latency_s={"first_answer_s": first, "processing_s": first / 2, "enqueue_s": first / 100},
        rates={name: Count(0, 2000) for name in ("drop_rate", "loss_rate", "rejected_rate")},
        cost_per_answered_eur=0.025,
        slos=(Slo("first_answer_p99_s", 3.0, 2.9 if not failed_slo else 3.5, not failed_slo),),
    )


def comparison(current: RunSamples, baseline: RunSamples) -> Comparison:
    return Comparison(
        current_run_id=current.run_id,
        current_dir=str(current.run_dir),
        baseline=Baseline((record("b"),), "run b (/runs/b)"),
        rows=tuple(compare_runs(current, [baseline], Thresholds())),
        slos=current.slos,
        thresholds=Thresholds(),
    )


def test_outputs_name_the_regression_and_junit_fails_it() -> None:
    result = comparison(run_samples(1.3), run_samples(1.0))
    assert not result.passed
    assert [row.metric for row in result.regressions][:1] == ["first_answer_s.p50"]
    table = text_table(result)
    assert "FAIL: regression in first_answer_s.p50" in table
    assert "99 % interval of the change" in table
    md = markdown(result)
    assert md.startswith("### ❌ FAIL") and "| **regression** |" in md
    cases = {verdict.name: verdict for verdict in verdicts(result)}
    assert cases["first_answer_s.p50"].passed is False
    assert "baseline" in cases["first_answer_s.p50"].message
    assert cases["first_answer_p99_s"].passed is True  # the SLO case
    assert cases["cost_per_answered_request_eur"].passed is True


def test_a_failed_slo_fails_even_without_a_regression() -> None:
    result = comparison(run_samples(1.0, failed_slo=True), run_samples(1.0))
    assert not result.regressions and not result.passed
    assert "SLO first_answer_p99_s failed" in text_table(result)


def test_mock_settings_change_the_model_not_the_input() -> None:
    scenario_mock = {"time_scale": 0.05, "models": {"dating-smart-1": {"concurrency": 4}}}
    changed = apply_mock_settings(
        scenario_mock, ["models.dating-smart-1.generation_s={kind: constant, value_s: 1.3}"]
    )
    assert changed["models"]["dating-smart-1"] == {
        "concurrency": 4,
        "generation_s": {"kind": "constant", "value_s": 1.3},
    }
    assert "generation_s" not in scenario_mock["models"]["dating-smart-1"]  # type: ignore[operator]


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("models.dating-smart-1.generation_s", "expected PATH=VALUE"),
        ("models..x=1", "expected PATH=VALUE"),
        ("time_scale.x=1", "time_scale is 0.05, not a mapping"),
        ("models.dating-smart-1.concurrency=-1", "concurrency"),
    ],
)
def test_bad_mock_settings_are_refused_naming_them(setting: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_mock_settings({"time_scale": 0.05}, [setting])
