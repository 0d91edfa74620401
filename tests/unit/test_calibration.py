"""Calibration without running anything: the scenario it builds, the verdict it gives, where
that verdict goes (the summary's schema, the history's validity) and when it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dumgum_loadtest.analysis.summary_schema import Calibration
from dumgum_loadtest.calibration import (
    CALIBRATION_RESULT,
    calibration_scenario,
    judge,
    read_result,
    write_result,
)
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import invalid_reasons
from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.run import RunOptions, calibration_settings_of
from dumgum_loadtest.scenarios import parse_scenario
from dumgum_loadtest.scenarios.model import Calibrate
from dumgum_loadtest.scenarios.schedule import expected_messages_per_turn

BASE_SCENARIO: dict[str, Any] = {"name": "tiny", "arrival": {"model": "open", "rate_rps": 5}}


def calibration_summary(
    *,
    p50_s: float | None = 1.004,
    dropped: int = 10,
    awaited: int = 100,
    lost: int = 0,
    mock_dropped: int | None = 10,
    status: str = "completed",
) -> dict[str, Any]:
    """A calibration run's summary, reduced to what calibration reads."""
    answered = awaited - dropped - lost
    ledger = None if mock_dropped is None else {"dropped": {"generation_failure": mock_dropped}}
    return {
        "status": status,
        "requests": {"scheduled": awaited},
        "outcomes": {"answered": answered, "dropped": dropped, "lost": lost, "not_sent": 0},
        "drop_rate": {"rate": dropped / awaited, "of": awaited},
        "latency_s": {
            "first_answer": {"from_sent": {"answered": {"p50": p50_s}}},
            "processing": {"from_sent": {"answered": {"p50": 0.004}}},
        },
        "mock_ledger": ledger,
        "health": {"harness_bottleneck": False},
    }


def test_the_calibration_scenario_makes_the_expected_latency_exact() -> None:
    settings = Calibrate(generation_s=2.0, time_scale=0.5, drop_rate=0.1)
    scenario = calibration_scenario(settings)
    assert scenario.target == "mock"
    assert expected_messages_per_turn(scenario) == 1.0  # no bursts, no engage: one per turn
    fields = scenario.mix.fields
    assert fields["replyParameters.bufferSeconds"] == {0: 1.0}  # no buffer window
    assert fields["replyParameters.replyTypingDelay"] == {"INSTANT": 1.0}  # no typing pause
    assert fields["replyParameters.multipleMessagesPerReply"] == {False: 1.0}
    assert scenario.conversation.turns == {1: 1.0}  # nothing queues behind a pair's reply
    mock = MockConfig().patched(scenario.mock)
    for model in mock.models.values():
        assert model.generation_s.sample_s(None) == 2.0  # type: ignore[arg-type]
    assert mock.time_scale == 0.5
    assert mock.faults.generation_failure_rate == 0.1
    assert set(mock.guardrails.stop_rates.values()) == {0.0}
    assert settings.first_answer_s == 1.0


def test_mock_overrides_change_the_calibration_mock_only_where_they_say() -> None:
    overrides = {"models": {"dating-smart-1": {"generation_s": {"kind": "constant", "value_s": 3}}}}
    scenario = calibration_scenario(Calibrate(mock_overrides=overrides))
    mock = MockConfig().patched(scenario.mock)
    assert mock.models["dating-smart-1"].generation_s.sample_s(None) == 3  # type: ignore[arg-type]
    assert mock.models["dating-pro-1"].generation_s.sample_s(None) == 2.0  # type: ignore[arg-type]
    assert mock.faults.generation_failure_rate == 0.1


def test_a_calibrate_block_is_checked_like_the_rest_of_the_scenario() -> None:
    scenario = parse_scenario({**BASE_SCENARIO, "calibrate": {"drop_rate": 0.2}}, "tiny.yaml")
    assert scenario.calibrate == Calibrate(drop_rate=0.2)
    with pytest.raises(ConfigError) as bad_rate:
        parse_scenario({**BASE_SCENARIO, "calibrate": {"drop_rate": 1.5}}, "tiny.yaml")
    assert "tiny.yaml" in str(bad_rate.value) and "calibrate.drop_rate" in str(bad_rate.value)
    with pytest.raises(ConfigError) as unknown:
        parse_scenario({**BASE_SCENARIO, "calibrate": {"generation": 2}}, "tiny.yaml")
    assert "calibrate.generation" in str(unknown.value)
    with pytest.raises(ConfigError) as bad_mock:
        bad = {"mock_overrides": {"faults": {"generation_failure_rate": 2}}}
        parse_scenario({**BASE_SCENARIO, "calibrate": bad}, "tiny.yaml")
    message = str(bad_mock.value)
    assert "calibrate.mock_overrides" in message and "generation_failure_rate" in message
    assert "Traceback" not in message


@pytest.mark.parametrize(
    ("flag", "block", "expected"),
    [
        (None, None, None),  # neither asks
        (None, {"drop_rate": 0.2}, Calibrate(drop_rate=0.2)),  # the scenario asks
        (True, None, Calibrate()),  # --calibrate with the defaults
        (True, {"drop_rate": 0.2}, Calibrate(drop_rate=0.2)),  # ... or the scenario's block
        (False, {"drop_rate": 0.2}, None),  # --no-calibrate wins
    ],
)
def test_when_a_run_calibrates(
    flag: bool | None, block: dict[str, Any] | None, expected: Calibrate | None
) -> None:
    data = BASE_SCENARIO if block is None else {**BASE_SCENARIO, "calibrate": block}
    scenario = parse_scenario(data, "tiny.yaml")
    options = RunOptions(scenario_path=Path("tiny.yaml"), calibrate=flag)
    assert calibration_settings_of(scenario, options) == expected


def test_a_harness_that_recovers_both_figures_passes() -> None:
    result = judge(Calibrate(), calibration_summary(), wall_s=9.37)
    assert result.passed
    assert [check.passed for check in result.checks] == [True, True, True]
    assert result.sentence.startswith("calibration passed: median time to first answer 1.004 s")
    assert result.measured.first_answer_p50_s == 1.004
    assert result.wall_s == 9.4


@pytest.mark.parametrize(
    ("changes", "failed_check", "words"),
    [
        ({"p50_s": 1.03}, "first_answer_latency", "+3.0 % (within 2 %: NO)"),
        ({"p50_s": 0.97}, "first_answer_latency", "-3.0 %"),
        ({"p50_s": None}, "first_answer_latency", "no answered request"),
        ({"dropped": 25, "mock_dropped": 25}, "drop_rate", "known 10.0 % (OUTSIDE)"),
        ({"dropped": 0, "mock_dropped": 0}, "drop_rate", "drop rate 0.0 % of 100"),
        ({"lost": 3}, "accounting", "3 of 100 requests neither answered nor dropped"),
        ({"mock_dropped": 12}, "accounting", "10 drops counted, the mock's ledger made 12"),
        ({"mock_dropped": None}, "accounting", "the mock's ledger was not read"),
        ({"status": "interrupted"}, "accounting", "did not complete (interrupted)"),
    ],
)
def test_a_harness_that_misses_a_figure_fails_naming_it(
    changes: dict[str, Any], failed_check: str, words: str
) -> None:
    result = judge(Calibrate(), calibration_summary(**changes))
    assert not result.passed
    failed = [check.name for check in result.checks if not check.passed]
    assert failed == [failed_check]
    assert result.sentence.startswith("calibration FAILED: ")
    assert words in result.sentence
    assert "\n" not in result.sentence


def test_the_drop_interval_is_wide_enough_not_to_fail_a_sound_harness_by_chance() -> None:
    # 14 drops of 85 at a known 10 % happened: the 95 % interval [10.1 %, 25.8 %] missed it.
    result = judge(Calibrate(), calibration_summary(dropped=14, awaited=85, mock_dropped=14))
    assert result.passed, result.sentence
    assert result.expected.drop_interval_confidence == 0.999
    assert "99.9 % interval" in result.sentence


def test_the_verdict_fits_the_summary_schema_and_makes_the_history_record_invalid(
    tmp_path: Path,
) -> None:
    result = judge(Calibrate(), calibration_summary(p50_s=1.25))
    write_result(tmp_path, result)
    assert (tmp_path / CALIBRATION_RESULT).is_file()
    data = read_result(tmp_path)
    assert data is not None
    Calibration.model_validate(data)  # strict: no field the schema does not know
    reasons = invalid_reasons({"calibration": data, "status": "completed"}, "completed")
    assert reasons == [f"calibration failed: {result.sentence}"]
    passed = judge(Calibrate(), calibration_summary()).to_json()
    assert invalid_reasons({"calibration": passed}, "completed") == []
    assert read_result(tmp_path / "elsewhere") is None


def test_the_checked_in_schema_knows_the_calibration_section() -> None:
    root = Path(__file__).resolve().parents[2]
    schema = json.loads((root / "schemas" / "summary.schema.json").read_text())
    assert "calibration" in schema["properties"]
    assert "calibration" not in schema["required"]  # earlier summaries still validate
    assert {"passed", "sentence", "expected", "measured"} <= set(
        schema["$defs"]["Calibration"]["required"]
    )


def test_the_scenario_files_calibrate_block_round_trips_through_the_run_directory() -> None:
    scenario = parse_scenario({**BASE_SCENARIO, "calibrate": {"rate_rps": 40}}, "tiny.yaml")
    dumped = yaml.safe_load(yaml.safe_dump(scenario.model_dump(mode="json")))
    assert parse_scenario(dumped, "scenario.yaml").calibrate == Calibrate(rate_rps=40)


def test_a_scenario_without_a_calibrate_block_is_written_as_before(tmp_path: Path) -> None:
    # The history hashes scenario.yaml: a new key there would make every earlier night
    # incomparable with the next one.
    from dumgum_loadtest.rundir import write_scenario

    write_scenario(tmp_path, parse_scenario(BASE_SCENARIO, "tiny.yaml"))
    assert "calibrate" not in yaml.safe_load((tmp_path / "scenario.yaml").read_text())
    write_scenario(tmp_path, parse_scenario({**BASE_SCENARIO, "calibrate": {}}, "tiny.yaml"))
    written = yaml.safe_load((tmp_path / "scenario.yaml").read_text())
    assert written["calibrate"]["generation_s"] == 2.0


def test_the_reports_warn_about_a_failed_calibration() -> None:
    from dumgum_loadtest.report import _format

    failed = judge(Calibrate(), calibration_summary(p50_s=1.25)).to_json()
    summary = {"calibration": failed, "slo": [{"objective": "drop_rate_max", "pass": True}]}
    ((message, reasons),) = _format.warnings(summary)
    assert "failed its calibration" in message
    assert reasons == [failed["checks"][0]["rule"]]
    assert "failed its calibration" in _format.verdict(summary)[1]
    passed = judge(Calibrate(), calibration_summary()).to_json()
    assert _format.warnings({"calibration": passed}) == []
