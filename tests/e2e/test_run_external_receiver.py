"""``run --receiver-url``: the run uses a receiver it did not start, as a Kubernetes Job uses
the receiver Deployment's Service. On loopback: one ``receiver --processes 2`` sharing its
state in Valkey and writing into RUN_DIR/raw, its control API behind a secret path; a
closed-model run's turn waits all end and its outcomes equal the mock's ledger. Refused, in
one line and leaving nothing behind: a URL nobody answers, a wrong secret, a receiver with
its state in memory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.test_outcome_truth import assert_outcomes_match_the_ledger
from tests.e2e.tiny_scenario import write_tiny_scenario

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.processes import ManagedProcess, cli_command, wait_healthy
from dumgum_loadtest.run import RunOptions, run_scenario
from dumgum_loadtest.serving import free_port

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SECRET = "e2e-external-receiver-7d2f4a9c"
CLOSED_ARRIVAL = {"model": "closed", "users": 8, "spawn_rate_per_s": 8}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUMGUM_RECEIVER_")}
    return {**env, **extra}


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def start_receiver(
    raw_dir: Path, log: Path, state: str, processes: int, secret: str | None
) -> tuple[ManagedProcess, str]:
    port = free_port()
    command = cli_command(
        "receiver",
        "--port",
        str(port),
        "--state",
        state,
        "--processes",
        str(processes),
        "--out",
        str(raw_dir),
    )
    env = clean_env(DUMGUM_RECEIVER_SECRET_PATH=secret) if secret else clean_env()
    receiver = ManagedProcess("receiver", command, log, env=env).start()
    url = f"http://127.0.0.1:{port}"
    wait_healthy(receiver, f"{url}/health")
    return receiver, url


@pytest.fixture
def shared_receiver(redis_url: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Two receiver processes on one port, state in Valkey, shards into RUN_DIR/raw."""
    run_dir = tmp_path / "run"
    receiver, url = start_receiver(run_dir / "raw", tmp_path / "receiver.log", redis_url, 2, SECRET)
    try:
        yield url, run_dir
    finally:
        receiver.stop()


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_run_through_an_external_shared_receiver_counts_what_the_mock_did(
    shared_receiver: tuple[str, Path], tmp_path: Path
) -> None:
    url, run_dir = shared_receiver
    # Closed-model users: each turn registers its message and long-polls its end through the
    # receiver's control API, which any of the two processes may serve.
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml", arrival=CLOSED_ARRIVAL)
    result = run_cli(
        "run",
        str(scenario),
        "--receiver-url",
        url,
        "--out",
        str(run_dir),
        env=clean_env(DUMGUM_RECEIVER_SECRET_PATH=SECRET),
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert_outcomes_match_the_ledger(summary)
    assert summary["outcomes"]["answered"] > 0
    meta = json.loads((run_dir / "run-meta.json").read_text())
    assert meta["settle"]["ended_by"] == "quiet"  # settled on the mock idle and quiet shards
    assert meta["servers"]["receiver"]["loop_lag_ms"] is not None  # stats over the secret path
    # Both processes wrote their own shards, named by host and pid, into the run directory.
    events = sorted((run_dir / "raw").glob("events-*.jsonl"))
    assert len(events) == 2, events
    assert not (run_dir / "logs" / "receiver.log").exists()  # the run started no receiver
    turns = [
        json.loads(line)
        for path in (run_dir / "raw").glob("turns-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    ended = Counter(turn["outcome"] for turn in turns)
    # Waits over the network, with the secret, saw their turns end: none failed to the end.
    assert ended["answered"] > 0, ended
    assert ended["gave_up"] == 0, ended
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"secret written to {path}"


def test_an_unreachable_receiver_url_is_refused_in_one_line_leaving_nothing(
    tmp_path: Path,
) -> None:
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(
        "run", str(scenario), "--receiver-url", url, "--out", str(out), env=clean_env()
    )
    line = one_line_refusal(result)
    assert line.startswith(f"error: --receiver-url {url}: unreachable"), line
    assert not out.exists()


def refused_in_process(scenario: Path, url: str, out: Path, **options: Any) -> str:
    """The refusal ``run`` gives, asked in this process (a CLI start costs seconds; the CLI's
    one-line exit 2 is the unreachable test's): the message, checked to be one line."""
    with pytest.raises(ConfigError) as refused:
        run_scenario(RunOptions(scenario, out_dir=out, receiver_url=url, **options), echo=print)
    message = str(refused.value)
    assert "\n" not in message, message
    return message


def test_a_wrong_or_missing_secret_is_refused_and_the_receiver_s_shards_stay(
    shared_receiver: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, run_dir = shared_receiver
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")
    monkeypatch.delenv("DUMGUM_RECEIVER_SECRET_PATH", raising=False)
    missing = refused_in_process(scenario, url, run_dir)
    assert "set DUMGUM_RECEIVER_SECRET_PATH to the same here" in missing
    monkeypatch.setenv("DUMGUM_RECEIVER_SECRET_PATH", "not-the-receiver-s-secret")
    wrong = refused_in_process(scenario, url, run_dir)
    assert "DUMGUM_RECEIVER_SECRET_PATH here is not the receiver's secret path" in wrong
    # Nothing of the run was written; the receiver's open shards are untouched.
    assert [p.name for p in run_dir.iterdir()] == ["raw"]
    assert len(list((run_dir / "raw").glob("events-*.jsonl"))) == 2


def test_a_receiver_with_its_state_in_memory_or_writing_elsewhere_is_refused(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DUMGUM_RECEIVER_SECRET_PATH", raising=False)
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    receiver, url = start_receiver(out / "raw", tmp_path / "memory.log", "memory", 1, None)
    try:
        assert "keeps its state in memory" in refused_in_process(scenario, url, out)
    finally:
        receiver.stop()
    elsewhere = tmp_path / "elsewhere"
    receiver, url = start_receiver(elsewhere / "raw", tmp_path / "redis.log", redis_url, 1, None)
    try:
        message = refused_in_process(scenario, url, out)
    finally:
        receiver.stop()
    assert f"writes its shards to {(elsewhere / 'raw').resolve()}" in message
    assert f"--out {(out / 'raw').resolve()}" in message
    assert not (out / "summary.json").exists()


def test_options_for_the_receiver_run_starts_are_refused_with_receiver_url(
    tmp_path: Path,
) -> None:
    scenario = write_tiny_scenario(tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    message = refused_in_process(
        scenario, "http://127.0.0.1:9", out, receiver_processes=2, receiver_port=8090
    )
    assert message.startswith("--receiver-port, --receiver-processes: configure the receiver")
    assert not out.exists()
