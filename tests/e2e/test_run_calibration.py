"""``run --calibrate`` and ``run --junit`` as a user runs them, against the embedded mock.

The calibration's own run (about 10 s on an idle machine) comes first; a wrong expectation
must fail it, mark the summary and the history record invalid, and make the run exit 1.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
from junitparser import Failure, JUnitXml
from tests.e2e.tiny_scenario import write_tiny_scenario

from dumgum_loadtest.history.record import read_run
from dumgum_loadtest.history.store import open_history

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
QUICK = ("--workers", "1", "--settle-quiet-s", "0.3")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env or dict(os.environ),
        check=False,
    )


def junit_cases(path: Path) -> dict[str, Any]:
    suite = next(iter(JUnitXml.fromfile(str(path))))
    return {case.name: case for case in suite}


def summary_of(run_dir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((run_dir / "summary.json").read_text())
    schema = json.loads((ROOT / "schemas" / "summary.schema.json").read_text())
    jsonschema_rs.validate(schema, summary)
    return summary


def test_a_calibrated_run_recovers_the_known_figures_and_passes(tmp_path: Path) -> None:
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")
    out, junit = tmp_path / "run", tmp_path / "ci" / "run.xml"
    history = str(tmp_path / "history.sqlite")  # every run is recorded: the calibration's not
    env = {**os.environ, "DUMGUM_LOADTEST_HISTORY": history}
    started = time.monotonic()
    result = run_cli(
        "run",
        str(scenario),
        "--calibrate",
        "--junit",
        str(junit),
        "--out",
        str(out),
        *QUICK,
        env=env,
    )
    took_s = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    calibration = summary_of(out)["calibration"]
    assert calibration["passed"] is True, calibration["sentence"]
    assert calibration["expected"]["first_answer_s"] == 1.0
    assert abs(calibration["measured"]["first_answer_p50_s"] - 1.0) <= 0.02
    assert calibration["wall_s"] < 30  # about 10 s on an idle machine; CI shares its cores
    assert (out / "calibration" / "summary.json").is_file()
    assert not (out / "calibration" / "report.html").exists()  # not needed: saves seconds
    assert "calibration passed: median time to first answer" in result.stdout
    assert read_run(out).valid
    with open_history(history) as recorded:
        assert [record.scenario for record in recorded.runs()] == ["tiny"]
    cases = junit_cases(junit)
    assert cases["calibration"].is_passed and cases["run completed"].is_passed
    assert {"first_answer_p99_s", "drop_rate_max", "loss_rate_max"} <= set(cases)
    print(f"calibrated run took {took_s:.1f} s, calibration {calibration['wall_s']} s")


def test_a_calibration_that_cannot_hold_marks_the_run_invalid_and_exits_1(tmp_path: Path) -> None:
    # The mock generates for 2.6 s (simulated) while calibration expects 2.0 s: +30 %.
    slow = {"models": {"dating-smart-1": {"generation_s": {"kind": "constant", "value_s": 2.6}}}}
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml", calibrate={"mock_overrides": slow})
    out, junit, history = tmp_path / "run", tmp_path / "run.xml", str(tmp_path / "h.sqlite")
    result = run_cli(
        "run",
        str(scenario),
        "--junit",
        str(junit),
        "--out",
        str(out),
        "--history",
        history,
        *QUICK,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    summary = summary_of(out)
    calibration = summary["calibration"]
    assert calibration["passed"] is False
    assert calibration["sentence"].startswith("calibration FAILED: median time to first answer")
    assert summary["passed"] is True  # the SLOs held: only the calibration failed
    assert "CALIBRATION FAILED" in result.stdout and "exit code 1" in result.stdout
    assert "Traceback" not in result.stderr
    record = read_run(out)
    assert not record.valid
    assert record.invalid_reasons == (f"calibration failed: {calibration['sentence']}",)
    with open_history(history) as recorded:
        (kept,) = recorded.runs()
    assert not kept.valid and kept.invalid_reasons == record.invalid_reasons
    failure = junit_cases(junit)["calibration"].result[0]
    assert isinstance(failure, Failure) and "FAILED" in failure.message
    rebuilt = run_cli("report", str(out))  # a rebuilt summary keeps the verdict and the code
    assert rebuilt.returncode == 1, rebuilt.stdout + rebuilt.stderr
    assert summary_of(out)["calibration"] == calibration


def test_an_interrupted_run_writes_its_junit_with_a_failing_run_completed_case(
    tmp_path: Path,
) -> None:
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml", duration_s=60)
    out, junit = tmp_path / "run", tmp_path / "run.xml"
    process = subprocess.Popen(
        [CLI, "run", str(scenario), "--junit", str(junit), "--out", str(out), *QUICK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in (out / "raw").glob("requests-*.jsonl")):
            assert process.poll() is None and time.monotonic() < deadline, "never sent"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stdout + stderr
    cases = junit_cases(junit)
    failure = cases["run completed"].result[0]
    assert isinstance(failure, Failure) and "did not complete (interrupted)" in failure.message
    assert {"first_answer_p99_s", "drop_rate_max", "loss_rate_max"} <= set(cases)


def test_a_signal_during_calibration_stops_the_run_before_its_load(tmp_path: Path) -> None:
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    process = subprocess.Popen(
        [CLI, "run", str(scenario), "--calibrate", "--out", str(out), *QUICK],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        raw = out / "calibration" / "raw"
        while not any(p.stat().st_size for p in raw.glob("requests-*.jsonl")):
            assert process.poll() is None and time.monotonic() < deadline, "never calibrated"
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stdout + stderr
    assert "error: calibration interrupted by SIGTERM: the load was not started" in stderr
    assert "Traceback" not in stderr
    assert not out.exists()  # nothing of the night was measured: nothing is left
