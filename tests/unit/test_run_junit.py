"""``run --junit``: a case per SLO with its figures, 'run completed', and calibration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from junitparser import Failure, JUnitXml

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.run_junit import (
    RUN_COMPLETED,
    check_junit_path,
    run_verdicts,
    write_run_junit,
)

VIEW = "over the requests that awaited a reply: answered, dropped and lost"


def slo_row(objective: str, target: float, measured: float | None, passed: bool) -> dict[str, Any]:
    return {
        "objective": objective,
        "target": target,
        "measured": measured,
        "pass": passed,
        "source": "drop_rate.rate",
        "view": VIEW,
    }


def summary(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scenario": "tiny",
        "status": "completed",
        "interrupted": False,
        "notes": [],
        "slo": [
            slo_row("first_answer_p99_s", 3.0, 1.43, True),
            slo_row("drop_rate_max", 0.01, 0.2, False),
            slo_row("loss_rate_max", 0.02, None, False),
        ],
    }
    base.update(changes)
    return base


def cases_of(path: Path) -> dict[str, Any]:
    suite = next(iter(JUnitXml.fromfile(str(path))))
    return {case.name: case for case in suite}


def test_one_case_per_slo_with_target_measured_and_view(tmp_path: Path) -> None:
    path = tmp_path / "ci" / "run.xml"  # the directory is made
    write_run_junit(path, summary())
    suite = next(iter(JUnitXml.fromfile(str(path))))
    assert suite.name == "run.tiny"
    assert (suite.tests, suite.failures) == (4, 2)
    cases = cases_of(path)
    assert cases["first_answer_p99_s"].is_passed
    assert cases["first_answer_p99_s"].classname == "run.tiny.slo"
    assert "measured 1.43 <= target 3" in cases["first_answer_p99_s"].system_out
    failure = cases["drop_rate_max"].result[0]
    assert isinstance(failure, Failure)
    assert "measured 0.2 > target 0.01 (FAIL)" in failure.message
    assert VIEW in failure.message
    assert "target: 0.01 (at most)" in failure.text and "measured: 0.2" in failure.text
    assert "no measurement" in cases["loss_rate_max"].result[0].message
    assert cases[RUN_COMPLETED].is_passed


def test_an_interrupted_run_keeps_its_slo_cases_and_fails_run_completed(tmp_path: Path) -> None:
    path = tmp_path / "run.xml"
    notes = ["interrupted by SIGTERM during the load"]
    write_run_junit(path, summary(status="interrupted", interrupted=True, notes=notes))
    cases = cases_of(path)
    assert {"first_answer_p99_s", "drop_rate_max", "loss_rate_max"} <= set(cases)
    failure = cases[RUN_COMPLETED].result[0]
    assert isinstance(failure, Failure)
    assert "did not complete (interrupted)" in failure.message
    assert "SIGTERM" in failure.text


def test_a_calibrated_run_has_a_calibration_case() -> None:
    calibration = {
        "passed": False,
        "sentence": "calibration FAILED: median time to first answer 1.250 s, known 1.000 s",
        "checks": [{"name": "first_answer_latency", "passed": False, "rule": "+25.0 %"}],
    }
    verdicts = {v.name: v for v in run_verdicts(summary(calibration=calibration))}
    verdict = verdicts["calibration"]
    assert verdict.passed is False and verdict.group == "calibration"
    assert verdict.message.startswith("calibration FAILED")
    assert verdict.details == "first_answer_latency: FAIL: +25.0 %"
    assert "calibration" not in {v.name for v in run_verdicts(summary())}


def test_a_junit_path_that_cannot_be_written_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--junit .*: is a directory; give a file name"):
        check_junit_path(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"--junit .*is a file, not a directory"):
        check_junit_path(blocker / "run.xml")
    check_junit_path(tmp_path / "new" / "run.xml")  # a missing directory is made later
