"""The real ``dumgum-loadtest`` command in a subprocess, as a user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dumgum_loadtest.serving import free_port

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
COMMANDS = ["mock", "receiver", "demo", "run", "scenarios", "scenario", "report", "cost"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "Usage:" in result.stdout
    summary = result.stdout.split("\n\n")[1].strip()
    assert len(summary) > 20


def test_top_level_help_lists_commands() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


def test_bad_mock_config_is_a_clean_error(tmp_path: Path) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text("models:\n  dating-smart-1:\n    concurrency: -4\n")
    result = run_cli("mock", "--config", str(config), "--print-config")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert str(config) in result.stderr
    assert "models.dating-smart-1.concurrency = -4" in result.stderr


def test_mock_serves_health_and_enqueue_then_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DUMGUM_MOCK_TOKENS": "sk-proj-e2e"}
    process = subprocess.Popen(
        [CLI, "mock", "--port", str(port), "--time-scale", "0.01"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the mock did not come up"
            time.sleep(0.1)
        body = {"userProfileId": "u", "personaProfileId": "p", "language": "FR"}
        path = "/cs/v1/content_creation/conversations/enqueue"
        ok = httpx.post(base + path, json=body, headers={"Authorization": "Bearer sk-proj-e2e"})
        assert ok.status_code == 204
        default = httpx.post(
            base + path, json=body, headers={"Authorization": "Bearer sk-proj-mock-local"}
        )
        assert default.status_code == 401  # tokens given: the default one is not accepted
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert process.returncode in (0, -signal.SIGTERM)
    assert "Traceback" not in stderr
    assert "sk-proj-e2e" not in stderr  # tokens are never printed


def test_demo_prints_the_events_that_come_back(tmp_path: Path) -> None:
    result = run_cli("demo", "--out", str(tmp_path / "demo"), "--time-scale", "0.05")
    assert result.returncode == 0, result.stderr
    assert "-> 204" in result.stdout
    assert "answer.processing" in result.stdout
    assert "answer.created" in result.stdout
    assert list((tmp_path / "demo").glob("events-*.jsonl"))


# -- Errors a user can act on (issue 10): exit 2, one line naming the thing, no traceback ----

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "scenarios" / "smoke.yaml")
EXAMPLE_BODY = REPO / "src" / "dumgum_loadtest" / "data" / "enqueue-example.json"


def _scenario(tmp_path: Path, name: str, **changes: object) -> str:
    """smoke.yaml with top-level keys replaced (None: removed), written under ``tmp_path``."""
    import yaml

    data = yaml.safe_load((REPO / "scenarios" / "smoke.yaml").read_text())
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _nowhere(tmp: Path) -> Path:
    """A directory at the root that does not exist (one per test: the old code made it)."""
    return Path(f"/nonexistent-dumgum-{abs(hash(str(tmp))) % 10**8}")


def _bad_inputs(tmp: Path) -> dict[str, tuple[list[str], list[str]]]:
    """What a user typed -> (the arguments, texts the one-line error must contain)."""
    a_file = tmp / "a-file"
    a_file.write_text("not a directory\n")
    sample = tmp / "sample.jsonl"
    sample.write_text(EXAMPLE_BODY.read_text().replace("\n", " ") + "\n")
    fast = {"model": "open", "process": "poisson", "rate_rps": 1e9}
    nowhere = _nowhere(tmp)
    return {
        "run --out under /proc": (
            ["run", SMOKE, "--out", "/proc/dumgum-run"],
            ["--out /proc/dumgum-run", "cannot create or write in /proc"],
        ),
        "run --out under a file": (
            ["run", SMOKE, "--out", f"{a_file}/run"],
            [f"--out {a_file}/run", "is a file, not a directory"],
        ),
        "scenario fit --out under /proc": (
            ["scenario", "fit", str(sample), "--out", "/proc/fitted.yaml"],
            ["--out /proc/fitted.yaml", "cannot write in /proc"],
        ),
        "scenario fit --out under a file": (
            ["scenario", "fit", str(sample), "--out", f"{a_file}/fitted.yaml"],
            ["is a file, not a directory"],
        ),
        "cost calibrate --out under /proc": (
            ["cost", "calibrate", str(tmp), "--out", "/proc/sheet.yaml"],
            ["--out /proc/sheet.yaml", "cannot write in /proc"],
        ),
        "cost calibrate --out under a file": (
            ["cost", "calibrate", str(tmp), "--out", f"{a_file}/sheet.yaml"],
            ["is a file, not a directory"],
        ),
        "cost --chart under a file": (
            ["cost", SMOKE, "--volume", "1000/day", "--chart", f"{a_file}/c.png"],
            [f"--chart {a_file}/c.png", "is a file, not a directory"],
        ),
        "cost --chart in a missing directory": (
            ["cost", SMOKE, "--volume", "1000/day", "--chart", f"{nowhere}/dir/c.png"],
            [f"--chart {nowhere}/dir/c.png", "does not exist"],
        ),
        "cost --volume 0/day": (
            ["cost", SMOKE, "--volume", "0/day"],
            ["--volume '0/day'", "must be more than 0"],
        ),
        "cost --volume 1e99/day": (
            ["cost", SMOKE, "--volume", "1e99/day"],
            ["--volume '1e99/day'", "at most 10,000,000,000/day"],
        ),
        "run --rate 0": (["run", SMOKE, "--rate", "0"], ["--rate 0: must be more than 0"]),
        "run --workers 0": (["run", SMOKE, "--workers", "0"], ["--workers 0: give 1 or more"]),
        "run --max-rate -1": (
            ["run", SMOKE, "--max-rate", "-1"],
            ["--max-rate -1: must be more than 0"],
        ),
        "run --rate 1e7 --duration 3": (
            ["run", SMOKE, "--rate", "1e7", "--duration", "3", "--workers", "2"],
            ["1e+07 requests/s is more than 2 worker(s) can schedule", "--workers 1000"],
        ),
        "rate_rps 1e9 in the file": (
            ["run", _scenario(tmp, "fast", arrival=fast), "--workers", "1"],
            ["fast.yaml: arrival peak rate 1e+09 requests/s", "10,000/s each"],
        ),
        "rate_rps 0 in the file": (
            ["run", _scenario(tmp, "still", arrival={**fast, "rate_rps": 0})],
            ["still.yaml: arrival.rate_rps = 0", "greater than 0"],
        ),
        "an empty mix": (
            ["run", _scenario(tmp, "nomix", mix={})],
            ["nomix.yaml: mix = {}: empty; give mix.fields"],
        ),
        "a timeline step after the end": (
            ["run", _scenario(tmp, "late", timeline=[{"at_s": 60, "patch": {}}])],
            ["late.yaml: timeline[0].at_s = 60", "after the end of the run (25 s)"],
        ),
        "an unknown key": (
            ["run", _scenario(tmp, "typo", arrival={**fast, "rate_rps": 5, "rate": 5})],
            ["typo.yaml: arrival.rate = 5: unknown key; valid keys: model, process, rate_rps"],
        ),
        "a warm-up longer than the run": (
            ["run", _scenario(tmp, "warm", warmup_s=100)],
            ["warm.yaml: warmup_s = 100", "must be shorter than the run (25 s)"],
        ),
    }


_CASE_IDS = [
    "run --out under /proc",
    "run --out under a file",
    "scenario fit --out under /proc",
    "scenario fit --out under a file",
    "cost calibrate --out under /proc",
    "cost calibrate --out under a file",
    "cost --chart under a file",
    "cost --chart in a missing directory",
    "cost --volume 0/day",
    "cost --volume 1e99/day",
    "run --rate 0",
    "run --workers 0",
    "run --max-rate -1",
    "run --rate 1e7 --duration 3",
    "rate_rps 1e9 in the file",
    "rate_rps 0 in the file",
    "an empty mix",
    "a timeline step after the end",
    "an unknown key",
    "a warm-up longer than the run",
]


@pytest.mark.parametrize("case", _CASE_IDS)
def test_a_bad_input_is_one_line_naming_it_and_exit_2(tmp_path: Path, case: str) -> None:
    args, expected = _bad_inputs(tmp_path)[case]
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    result = subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, cwd=workdir, check=False
    )
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for text in expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"
    # Refused before anything was made: no run directory, no directory at the root.
    assert not (workdir / "reports").exists()
    assert not _nowhere(tmp_path).exists()


@pytest.mark.parametrize("command", ["mock", "receiver"])
def test_a_busy_port_is_said_before_anything_is_announced(tmp_path: Path, command: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        extra = ["--out", str(tmp_path / "rec")] if command == "receiver" else []
        result = run_cli(command, "--port", str(port), *extra)
    assert result.returncode == 2, result.stderr  # was 3, after "listening on ..."
    assert "Traceback" not in result.stderr
    assert f"error: --port {port}: 127.0.0.1:{port} is already taken" in result.stderr
    assert "http://" not in result.stderr  # nothing announced as listening


def test_a_refused_run_leaves_no_run_directory(tmp_path: Path) -> None:
    import socket

    missing_sheet = _scenario(tmp_path, "priced", pricing="no-such-sheet.yaml")
    out = tmp_path / "runs" / "priced"
    result = run_cli("run", missing_sheet, "--out", str(out))
    assert result.returncode == 2, result.stderr
    assert "no-such-sheet" in result.stderr
    assert not (tmp_path / "runs").exists()  # nor its parent, made for it

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli("run", SMOKE, "--out", str(out), "--receiver-port", str(port))
    assert result.returncode == 2, result.stderr
    assert f"--receiver-port {port}: 127.0.0.1:{port} is already taken" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_weights_that_do_not_sum_to_1_are_said(tmp_path: Path) -> None:
    directory = tmp_path / "scenarios"
    directory.mkdir()
    _scenario(directory, "shares", mix={"fields": {"language": {"EN": 0.5, "FR": 0.2}}})
    result = run_cli("scenarios", str(directory))
    assert result.returncode == 0, result.stdout
    assert (
        "note: mix.fields.language: the weights sum to 0.7, not 1; normalised to"
        " {'EN': 0.714, 'FR': 0.286}" in result.stdout
    )


def test_report_rebuilds_from_the_raw_records_when_a_table_is_corrupt(tmp_path: Path) -> None:
    from tests.unit.report.conftest import Plan, build_run

    from dumgum_loadtest.rundir import write_tables

    run_dir = build_run(tmp_path / "run", Plan())
    write_tables(run_dir)
    (run_dir / "requests.parquet").write_bytes(b"PAR1 truncated by a full disk")
    result = run_cli("report", str(run_dir))
    assert result.returncode == 0, result.stderr  # was a traceback
    assert "Traceback" not in result.stderr
    assert "note: requests.parquet could not be read" in result.stdout
    assert "rebuilt from the raw records in raw/" in result.stdout
    assert (run_dir / "report.html").is_file()
