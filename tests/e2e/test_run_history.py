"""``run --history`` and $DUMGUM_LOADTEST_HISTORY: a finished run lands in the history."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.postgres import fresh_database

from dumgum_loadtest.history.store import HISTORY_ENV, open_history

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")
SHORT = ["--duration", "3", "--workers", "1", "--settle-quiet-s", "0.5"]
P99 = "first_answer_s.from_intended.censored.p99"


def start_run(out: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", SMOKE, *SHORT, "--out", str(out), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def test_runs_record_themselves_in_sqlite_and_postgresql(tmp_path: Path, postgres_url: str) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    postgres_db = fresh_database(postgres_url)
    plain_env = {k: v for k, v in os.environ.items() if k != HISTORY_ENV}
    # Side by side, to keep the test short: one by option, one by environment variable.
    by_option = start_run(tmp_path / "a", "--history", sqlite_url, env=plain_env)
    by_env = start_run(tmp_path / "b", env={**plain_env, HISTORY_ENV: postgres_db})
    outputs = [process.communicate(timeout=120)[0] for process in (by_option, by_env)]
    for process, output, url, out in zip(
        (by_option, by_env), outputs, (sqlite_url, postgres_db), ("a", "b"), strict=True
    ):
        assert process.returncode == 0, output
        summary = json.loads((tmp_path / out / "summary.json").read_text())
        run_id = summary["run_id"]
        shown = url.replace("postgres:@", "postgres:***@")
        assert f"history: recorded {run_id} in {shown}" in output
        with open_history(url) as history:
            record = history.get(run_id)
            frame = history.metrics_frame()
        assert record is not None and record.valid and record.status == "completed"
        assert record.run_dir == str((tmp_path / out).resolve())
        assert record.git_commit is not None and len(record.git_commit) == 40  # a checkout
        overall = frame[(frame["scope"] == "overall") & (frame["metric"] == P99)]
        measured = summary["latency_s"]["first_answer"]["from_intended"]["censored"]["p99"]
        assert overall["value"].tolist() == [pytest.approx(measured)]
