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
