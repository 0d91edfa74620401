"""``dumgum-loadtest compare`` on real runs against the embedded mock.

Two runs of the same tiny scenario compare clean; a third whose mock generates 30 % slower
(``run --mock-set``: the target changed, the scenario did not) is a first-answer regression;
a run of another scenario and an interrupted run are refused with exit 2. Each run takes
about 12 to 20 s on a 2-core machine: the runs are made once for the module.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(400)]

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
TINY = str(ROOT / "tests" / "e2e" / "data" / "compare-tiny.yaml")
DURATION = ("--duration", "5")
# The scenario's model is lognormal, median 3 s, p99 6 s: 30 % slower is 3.9 s and 7.8 s.
SLOWER = "models.dating-smart-1.generation_s={kind: lognormal, median_s: 3.9, p99_s: 7.8}"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=180, env=dict(os.environ), check=False
    )


def make_run(out: Path, *extra: str) -> Path:
    result = cli("run", TINY, *DURATION, "--out", str(out), *extra)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    base = tmp_path_factory.mktemp("compare")
    yield {
        "first": make_run(base / "first"),
        "second": make_run(base / "second"),
        "slower": make_run(base / "slower", "--mock-set", SLOWER),
    }


def test_two_runs_of_one_configuration_compare_clean(runs: dict[str, Path], tmp_path: Path) -> None:
    junit, md = tmp_path / "compare.xml", tmp_path / "compare.md"
    started = time.monotonic()
    result = cli(
        "compare",
        str(runs["second"]),
        "--baseline",
        str(runs["first"]),
        "--junit",
        str(junit),
        "--markdown",
        str(md),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert time.monotonic() - started < 30
    assert "PASS: no significant regression" in result.stdout
    assert "first_answer_s.p50" in result.stdout
    xml = junit.read_text()
    assert 'testsuite name="compare"' in xml and "<failure" not in xml
    assert 'testcase name="first_answer_p99_s" classname="compare.slo"' in xml  # the SLO cases
    assert md.read_text().startswith("### ✅ PASS")


def test_a_30_percent_slower_mock_is_a_first_answer_regression(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    # The mock's model changed, the scenario did not: same hash, so comparable.
    scenario = (runs["slower"] / "scenario.yaml").read_text()
    assert scenario == (runs["first"] / "scenario.yaml").read_text()
    environment = json.loads((runs["slower"] / "environment.json").read_text())
    assert environment["mock_overrides"] == [SLOWER]
    assert "median_s: 3.9" in (runs["slower"] / "mock-config.yaml").read_text()
    junit = tmp_path / "compare.xml"
    result = cli(
        "compare", str(runs["slower"]), "--baseline", str(runs["first"]), "--junit", str(junit)
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL: regression in first_answer_s.p50" in result.stdout
    assert "the mock's model differs (run --mock-set)" in result.stdout
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.strip()}
    assert rows["first_answer_s.p50"].rstrip().endswith("regression")
    xml = junit.read_text()
    case = xml[xml.index('testcase name="first_answer_s.p50"') :]
    assert case.index("<failure") < case.index("</testcase>")


def test_another_scenario_is_not_comparable(runs: dict[str, Path], tmp_path: Path) -> None:
    # Another duration (a short one), so another resolved scenario.
    other = cli("run", TINY, "--duration", "3", "--out", str(tmp_path / "other"))
    assert other.returncode == 0, other.stdout[-2000:] + other.stderr[-2000:]
    result = cli("compare", str(tmp_path / "other"), "--baseline", str(runs["first"]))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "not comparable: scenario hash" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_interrupted_run_is_refused_with_its_reason(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "cut"
    process = subprocess.Popen(
        [CLI, "run", TINY, "--duration", "30", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size for p in (out / "raw").glob("requests-*.jsonl")):
            assert process.poll() is None and time.monotonic() < deadline, "never sent"
            time.sleep(0.1)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3
    # As the current run and as the baseline it is refused for being cut short, before its
    # scenario (another --duration) or any figure is compared.
    for current, baseline in ((out, runs["first"]), (runs["first"], out)):
        result = cli("compare", str(current), "--baseline", str(baseline))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "is not valid for comparison: the run did not complete (interrupted)" in (
            result.stderr
        )


def test_usage_errors_exit_2_in_one_line(runs: dict[str, Path], tmp_path: Path) -> None:
    for args, message in (
        (("--baseline", str(tmp_path / "missing")), "not a run directory, last-passing"),
        (("--baseline", "median-of:0"), "whole number from 1 to 100"),
        (("--baseline", str(runs["first"]), "--threshold", "0"), "--threshold 0"),
        (("--baseline", str(runs["second"]), "--junit", str(tmp_path / "no" / "x.xml")), "--junit"),
    ):
        result = cli("compare", str(runs["first"]), *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr


def test_baselines_from_the_history(runs: dict[str, Path], tmp_path: Path) -> None:
    db = str(tmp_path / "history.sqlite")
    added = cli("history", "add", *(str(runs[name]) for name in runs), "--db", db)
    assert added.returncode == 0, added.stdout + added.stderr
    # last-passing for the slower run: the newest valid, passing run before it (second).
    slower = cli("compare", str(runs["slower"]), "--baseline", "last-passing", "--db", db)
    assert slower.returncode == 1, slower.stdout + slower.stderr
    second_id = json.loads((runs["second"] / "summary.json").read_text())["run_id"]
    assert f"baseline: last passing run {second_id}" in slower.stdout
    assert "FAIL: regression in first_answer_s.p50" in slower.stdout
    # median-of:2 for the slower run: first and second, pooled.
    median = cli("compare", str(runs["slower"]), "--baseline", "median-of:2", "--db", db)
    assert median.returncode == 1, median.stdout + median.stderr
    assert "baseline: median of 2 passing runs" in median.stdout
    # median-of:5 for the second run: only the first is older; said, and no regression.
    second = cli("compare", str(runs["second"]), "--baseline", "median-of:5", "--db", db)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "median of 1 passing runs (5 asked; only 1 eligible)" in second.stdout
    # The first run has nothing before it.
    first = cli("compare", str(runs["first"]), "--db", db)  # last-passing is the default
    assert first.returncode == 2 and "no valid run with SLOs passed" in first.stderr
