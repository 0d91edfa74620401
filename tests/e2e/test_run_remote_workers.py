"""Remote workers: ``run --expect-workers N`` and ``dumgum-loadtest worker``, all on loopback.

The runs go side by side (one module fixture), each a separate process tree: a run with 1
local worker, one with 2 local workers, one with 2 remote workers (separate processes, each
in its own empty working directory, only loopback between them and the master), and one
with 2 remote workers of a closed model (its users wait through the receiver) of which one
is killed mid-run. Workers that never join: the unit tests. Every process a test kills is
one it started, by PID.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
import yaml

from dumgum_loadtest.loadtest.roster import read_roster
from dumgum_loadtest.report import rebuild
from dumgum_loadtest.serving import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
TOKEN = "sk-proj-remote-workers-test"
CLOSED = ROOT / "scenarios" / "burst-users.yaml"
RATE_RPS = 10.0
DURATION_S = 3.0
KILLED_RUN_DURATION_S = 4.0  # the master waits at the end until the killed one is missed (~3 s)


@dataclass
class Run:
    out: Path
    process: subprocess.Popen[str]
    workers: list[subprocess.Popen[str]] = field(default_factory=list)
    worker_dirs: list[Path] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    def finish(self) -> Run:
        try:
            self.stdout, self.stderr = self.process.communicate(timeout=240)
        finally:
            for process in (self.process, *self.workers):
                if process.poll() is None:
                    process.kill()
            for process in self.workers:
                process.communicate(timeout=30)
        return self


def scenario_file(tmp: Path) -> Path:
    """smoke, on a constant process of one-send turns: the union of the workers' sends is
    the same set of offsets whatever their number (workers interleave by phase)."""
    data = yaml.safe_load((ROOT / "scenarios" / "smoke.yaml").read_text())
    data["arrival"] = {"model": "open", "process": "constant", "rate_rps": RATE_RPS}
    data["conversation"]["burst_size"] = {1: 1.0}
    data["timeline"] = []
    # No warm-up window: at a window's edge the constant process restarts its phase, which
    # places sends differently for 1 and 2 workers (scenarios/schedule.py).
    data["warmup_s"] = 0
    path = tmp / "constant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def env() -> dict[str, str]:
    return {**os.environ, "DUMGUM_LOADTEST_TOKEN": TOKEN}


def start_run(out: Path, scenario: Path, duration_s: float, *args: str) -> subprocess.Popen[str]:
    command = [CLI, "run", str(scenario), "--duration", f"{duration_s:g}", "--out", str(out)]
    return subprocess.Popen(
        [*command, "--settle-quiet-s", "0.5", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )


def start_worker(cwd: Path, port: int) -> subprocess.Popen[str]:
    cwd.mkdir()
    return subprocess.Popen(
        [CLI, "worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env(),
    )


def remote_run(tmp: Path, name: str, scenario: Path, duration_s: float) -> Run:
    port = free_port()
    out = tmp / name
    run = Run(
        out,
        start_run(out, scenario, duration_s, "--expect-workers", "2", "--master-port", str(port)),
    )
    for index in range(2):
        cwd = tmp / f"{name}-worker-{index}"
        run.workers.append(start_worker(cwd, port))
        run.worker_dirs.append(cwd)
    return run


def kill_one_worker_mid_run(run: Run) -> None:
    """Once both joined and records arrive, kill the first worker process (SIGKILL)."""
    deadline = time.monotonic() + 120
    while not any(p.stat().st_size for p in (run.out / "raw").glob("requests-*.jsonl")):
        assert run.process.poll() is None, run.process.communicate()
        assert time.monotonic() < deadline, "the run never started sending"
        time.sleep(0.1)
    time.sleep(1.0)
    run.workers[0].kill()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    tmp = tmp_path_factory.mktemp("remote")
    scenario = scenario_file(tmp)
    started = {
        "local-1": Run(
            tmp / "local-1", start_run(tmp / "local-1", scenario, DURATION_S, "--workers", "1")
        ),
        "local-2": Run(
            tmp / "local-2", start_run(tmp / "local-2", scenario, DURATION_S, "--workers", "2")
        ),
        "remote-2": remote_run(tmp, "remote-2", scenario, DURATION_S),
        # A closed model: its users wait for answers through the run's receiver.
        "killed": remote_run(tmp, "killed", CLOSED, KILLED_RUN_DURATION_S),
    }
    try:
        kill_one_worker_mid_run(started["killed"])
        yield {name: run.finish() for name, run in started.items()}
    finally:
        for run in started.values():
            for process in (run.process, *run.workers):
                if process.poll() is None:
                    process.kill()


def offered_per_second(out: Path) -> list[int]:
    """Scheduled sends per second of the schedule (from the origin: the first send is half
    an interval after it on a constant process)."""
    requests = pd.read_parquet(out / "requests.parquet", columns=["intended_ns"])
    intended_ns = requests["intended_ns"].to_numpy(dtype="int64")
    origin_ns = intended_ns.min() - int(0.5 / RATE_RPS * 1e9)
    seconds = (intended_ns - origin_ns) // 1_000_000_000
    return [int((seconds == s).sum()) for s in range(int(seconds.max()) + 1)]


def summary_of(out: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((out / "summary.json").read_text())
    return data


def test_the_schedule_is_the_same_with_one_two_local_and_two_remote_workers(
    runs: dict[str, Run],
) -> None:
    for name in ("local-1", "local-2", "remote-2"):
        assert runs[name].process.returncode in (0, 1), (name, runs[name].stderr)
    scheduled = {
        name: summary_of(runs[name].out)["requests"]["scheduled"]  # type: ignore[index]
        for name in ("local-1", "local-2", "remote-2")
    }
    assert scheduled["local-1"] == scheduled["local-2"] == scheduled["remote-2"] > 0, scheduled
    rates = {name: offered_per_second(runs[name].out) for name in scheduled}
    assert rates["local-1"] == rates["local-2"] == rates["remote-2"], rates
    assert max(rates["remote-2"]) == RATE_RPS


def test_remote_records_land_in_the_master_s_run_directory_and_report_reads_them(
    runs: dict[str, Run],
) -> None:
    run = runs["remote-2"]
    shards = sorted(p.name for p in (run.out / "raw").glob("requests-*.jsonl"))
    assert shards == ["requests-0.jsonl", "requests-1.jsonl"]
    assert {e.worker for e in read_roster(run.out) if e.event == "joined"} == {"0", "1"}
    for cwd in run.worker_dirs:  # nothing written where the workers ran: no token, no record
        assert list(cwd.iterdir()) == []
    for worker in run.workers:
        assert worker.returncode == 0  # each left when the master said so
    assert "went missing" not in json.dumps(summary_of(run.out)["notes"])
    # What `dumgum-loadtest report RUN_DIR` does, in process (no second CLI start-up).
    (run.out / "report.html").unlink()
    analysis = rebuild(run.out)
    assert analysis.summary["requests"]["scheduled"] > 0
    assert (run.out / "report.html").stat().st_size > 0


def test_a_remote_worker_killed_mid_run_is_named_in_the_run_s_notes(
    runs: dict[str, Run],
) -> None:
    run = runs["killed"]
    assert run.process.returncode in (0, 1), run.stderr
    missing = [e for e in read_roster(run.out) if e.event == "missing"]
    assert len(missing) == 1, read_roster(run.out)
    notes = summary_of(run.out)["notes"]
    named = [n for n in notes if f"worker {missing[0].worker} ({missing[0].client_id})" in n]  # type: ignore[attr-defined]
    assert len(named) == 1 and "stopped answering the master at" in named[0], notes
    # its records until its last batch are kept, and the closed model's turns came over
    # the channel too (the users waited for their answers through the master's receiver)
    assert (run.out / "raw" / f"requests-{missing[0].worker}.jsonl").stat().st_size > 0
    assert summary_of(run.out)["outcomes"]["answered"] > 0  # type: ignore[index]
    (survivor,) = {"0", "1"} - {missing[0].worker}  # the killed one may have ended no turn
    assert (run.out / "raw" / f"turns-{survivor}.jsonl").stat().st_size > 0
