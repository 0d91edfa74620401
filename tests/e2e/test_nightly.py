"""deploy/nightly.sh end to end, twice, against the embedded mock with a temporary SQLite
history: the first night has nothing to compare with, the second compares with the first."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from junitparser import JUnitXml
from tests.e2e.tiny_scenario import write_tiny_scenario

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
NIGHTLY = ROOT / "deploy" / "nightly.sh"
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")


def night(tmp_path: Path, scenario: Path) -> tuple[int, Path, str]:
    """One night; its exit code, its directory and what it printed."""
    env = {
        **os.environ,
        "DUMGUM_LOADTEST_BIN": CLI,
        "DUMGUM_NIGHTLY_REPORTS": str(tmp_path / "reports"),
        "DUMGUM_LOADTEST_HISTORY": str(tmp_path / "history.sqlite"),
    }
    result = subprocess.run(
        [str(NIGHTLY), str(scenario), "--workers", "1", "--settle-quiet-s", "0.3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=400,
        check=False,
    )
    latest = (tmp_path / "reports" / "nights" / "latest").resolve()
    return result.returncode, latest, result.stdout + result.stderr


def statuses(night_dir: Path) -> list[str]:
    return (night_dir / "status.txt").read_text().splitlines()


def test_two_nights_record_compare_and_draw_the_trends(tmp_path: Path) -> None:
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")

    code, first, output = night(tmp_path, scenario)
    assert code == 0, output
    assert statuses(first) == [
        "run exit 0",
        "compare exit 2 (no passing night to compare with yet: not counted)",
        "trends exit 0",
        f"night {first.name} exit 0",
    ], output
    summary = json.loads((first / "run" / "summary.json").read_text())
    assert summary["calibration"]["passed"] is True, summary["calibration"]["sentence"]
    cases = {case.name for case in next(iter(JUnitXml.fromfile(str(first / "junit" / "run.xml"))))}
    assert {"calibration", "run completed", "first_answer_p99_s"} <= cases
    assert (tmp_path / "history.sqlite").is_file()
    assert (tmp_path / "reports" / "trends" / "trends.html").is_file()

    code, second, output = night(tmp_path, scenario)
    assert second != first
    assert code == 0, output
    assert statuses(second) == [
        "run exit 0",
        "compare exit 0",
        "trends exit 0",
        f"night {second.name} exit 0",
    ], output
    # compared with the first night
    assert summary["run_id"] in (second / "compare.md").read_text()
    compare_suite = next(iter(JUnitXml.fromfile(str(second / "junit" / "compare.xml"))))
    assert compare_suite.tests > 0 and compare_suite.failures == 0
    trends = (tmp_path / "reports" / "trends" / "trends.json").read_text()
    assert "tiny" in trends  # the scenario's series
