"""The README's plain-Locust command, run as written: headless, and from the web UI.

The command is read from the README's Commands table (its placeholders DIR, ID and the two
URLs filled in), against a mock and a receiver started here on loopback, the way the README's
"Plain Locust" section starts them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from dumgum_loadtest.mock import DEFAULT_TOKEN
from dumgum_loadtest.serving import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLI = str(BIN / "dumgum-loadtest")
LOCUST = str(BIN / "locust")
WAIT_S = 30.0  # bound on every wait for a server or a count (never asserted on)


def readme_command() -> list[str]:
    """The plain-Locust row of the README's Commands table, as argv."""
    for line in (ROOT / "README.md").read_text().splitlines():
        if line.startswith("| `locust -f "):
            return shlex.split(line.split("`")[1])
    pytest.fail("the README's Commands table has no `locust -f ...` row")


def filled(run_dir: Path, run_id: str, target: str, receiver: str) -> list[str]:
    command = readme_command()
    assert command[0] == "locust"
    out: list[str] = [LOCUST]
    for previous, arg in itertools.pairwise(command):
        if arg == "DIR":
            arg = str(run_dir)
        elif arg == "ID":
            arg = run_id
        elif arg == "URL":
            urls = {"--target-url": target, "--receiver-url": receiver}
            assert previous in urls, f"a URL placeholder after {previous}"
            arg = urls[previous]
        out.append(arg)
    return out


@dataclass
class Servers:
    run_dir: Path
    mock_url: str
    receiver_url: str

    def ledger(self) -> dict[str, object]:
        response = httpx.get(
            f"{self.mock_url}/_mock/ledger",
            headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
            timeout=5,
        )
        response.raise_for_status()
        data: dict[str, object] = response.json()
        return data

    def enqueues(self) -> int:
        value = self.ledger().get("enqueues_received", 0)
        return int(value) if isinstance(value, int) else 0

    def wait_idle(self) -> None:
        """Until the mock has nothing buffered or in progress (its replies are recorded)."""
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            gauges = self.ledger().get("gauges")
            if isinstance(gauges, dict) and not (
                gauges.get("replies_in_progress", 1) or gauges.get("buffered_enqueues", 1)
            ):
                return
            time.sleep(0.2)


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url}: the process exited"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    pytest.fail(f"{url} did not come up within {WAIT_S} s")


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # our own child, by its pid
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Receiver then mock, as the README's sequence starts them (smoke's time scale)."""
    run_dir = tmp_path / "plain"
    receiver_port, mock_port = free_port(), free_port()
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    started: list[subprocess.Popen[str]] = []
    logs = contextlib.ExitStack()  # the servers' stderr, kept for a failure's diagnosis
    try:
        receiver = subprocess.Popen(
            [CLI, "receiver", "--port", str(receiver_port), "--out", str(run_dir / "raw")],
            stdout=subprocess.DEVNULL,
            stderr=logs.enter_context((tmp_path / "receiver.log").open("w")),
            text=True,
        )
        started.append(receiver)
        wait_until_up(f"{receiver_url}/health", receiver)
        mock = subprocess.Popen(
            [
                CLI,
                "mock",
                "--port",
                str(mock_port),
                "--time-scale",
                "0.05",
                "--incoming-content-url",
                f"{receiver_url}/incoming",
                "--profile-url",
                f"{receiver_url}/profile",
                "--chat-history-url",
                f"{receiver_url}/chat-history",
                "--memory-webhook-url",
                f"{receiver_url}/memory",
            ],
            stdout=subprocess.DEVNULL,
            stderr=logs.enter_context((tmp_path / "mock.log").open("w")),
            text=True,
        )
        started.append(mock)
        mock_url = f"http://127.0.0.1:{mock_port}"
        wait_until_up(f"{mock_url}/health", mock)
        yield Servers(run_dir, mock_url, receiver_url)
    finally:
        for process in reversed(started):
            stop(process)
        logs.close()


def locust_env() -> dict[str, str]:
    return {**os.environ, "DUMGUM_LOADTEST_TOKEN": DEFAULT_TOKEN}


def test_readme_command_headless_sends_the_open_model_and_report_reads_the_directory(
    servers: Servers,
) -> None:
    command = filled(servers.run_dir, "plain-headless", servers.mock_url, servers.receiver_url)
    result = subprocess.run(
        [*command, "--headless", "-t", "5s"],
        cwd=ROOT,
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "is an open model" not in output  # no ConversationUser stopped on the way
    assert servers.enqueues() > 20  # smoke sends 20/s: not one lone request
    servers.wait_idle()
    report = subprocess.run(
        [CLI, "report", str(servers.run_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    # Exit 1 is a verdict, not an error: in a 5 s run, one burst queued behind a reply that
    # carries a guardrail stop is silenced (as DumGum does), counts at its deadline, and can
    # take smoke's p99 objective past 3 s. The report must read the directory either way.
    assert report.returncode in (0, 1), report.stdout + report.stderr
    assert "Traceback" not in report.stderr
    summary = json.loads((servers.run_dir / "summary.json").read_text())
    assert summary["passed"] is (report.returncode == 0), report.stdout
    assert summary["run_id"] == "plain-headless"
    assert summary["scenario"] == "smoke"
    assert summary["status"] == "completed"
    assert summary["requests"]["sent"] == servers.enqueues()
    assert summary["outcomes"]["answered"] > 0
    assert (servers.run_dir / "report.html").is_file()


def test_a_closed_scenario_runs_its_conversation_users(servers: Servers, tmp_path: Path) -> None:
    scenario = yaml.safe_load((ROOT / "scenarios" / "burst-users.yaml").read_text())
    scenario.update(duration_s=20, warmup_s=0)
    scenario["arrival"].update(users=3, spawn_rate_per_s=3)
    closed = tmp_path / "closed.yaml"
    closed.write_text(yaml.safe_dump(scenario))
    command = filled(servers.run_dir, "plain-closed", servers.mock_url, servers.receiver_url)
    command[command.index("--scenario") + 1] = str(closed)
    result = subprocess.run(
        [*command, "--headless", "-t", "4s"],
        cwd=ROOT,
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output
    assert "is a closed model" not in output  # no OpenModelUser stopped on the way
    assert '"ConversationUser": 3' in output  # the scenario's users, without -u
    assert servers.enqueues() > 0


def non_loopback_ipv4() -> str | None:
    """An address of this machine other than loopback (a UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: only the route is looked up
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_readme_command_web_ui_listens_on_loopback_and_starts_the_swarm(
    servers: Servers,
) -> None:
    port = free_port()
    command = filled(servers.run_dir, "plain-web", servers.mock_url, servers.receiver_url)
    process = subprocess.Popen(
        [*command, "--web-port", str(port)],
        cwd=ROOT,
        env=locust_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ui = f"http://127.0.0.1:{port}"
        wait_until_up(ui, process)
        address = non_loopback_ipv4()
        if address is not None:
            with pytest.raises(httpx.TransportError):
                httpx.get(f"http://{address}:{port}/", timeout=2)
        swarm = httpx.post(f"{ui}/swarm", data={"user_count": 1, "spawn_rate": 1}, timeout=10)
        assert swarm.status_code == 200 and swarm.json()["success"], swarm.text
        deadline = time.monotonic() + WAIT_S
        while servers.enqueues() <= 20 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert servers.enqueues() > 20
        assert httpx.post(f"{ui}/stop", timeout=10).status_code == 200
    finally:
        stop(process)
        output = process.stdout.read() if process.stdout else ""
    assert "Traceback" not in output, output
    assert "is an open model" not in output
    assert "Starting web interface at http://127.0.0.1:" in output
    meta = json.loads((servers.run_dir / "run-meta.json").read_text())
    assert meta["run_id"] == "plain-web" and meta["status"] == "completed"


def test_a_user_class_that_does_not_fit_the_scenario_is_refused(tmp_path: Path) -> None:
    command = filled(tmp_path / "wrong", "wrong", "http://127.0.0.1:9", "http://127.0.0.1:9")
    result = subprocess.run(
        [*command, "--headless", "-t", "2s", "ConversationUser"],
        cwd=ROOT,
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "is an open model: run OpenModelUser" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "wrong").exists()  # refused before any load


def test_without_a_scenario_the_error_names_the_generator_options() -> None:
    result = subprocess.run(
        [LOCUST, "-f", "locustfiles/enqueue.py", "--headless", "-t", "2s"],
        cwd=ROOT,
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    for option in ("--scenario", "--run-dir", "--target-url", "--receiver-url"):
        assert option in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_dumgum_locust_help_lists_the_generator_options_and_loopback_defaults() -> None:
    """``locust --help`` cannot (it prints before loading a locustfile); the README points here."""
    assert "`dumgum-locust --help`" in (ROOT / "README.md").read_text()
    result = subprocess.run(
        [str(BIN / "dumgum-locust"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for option in ("--scenario", "--run-dir", "--run-id", "--target-url", "--allow-billable"):
        assert option in result.stdout, result.stdout
    assert "Defaults to 127.0.0.1 here" in result.stdout  # --web-host, --master-bind-host


def test_dumgum_locust_runs_the_locustfile_as_locust_does() -> None:
    result = subprocess.run(
        [str(BIN / "dumgum-locust"), "-f", "locustfiles/enqueue.py", "--headless", "-t", "2s"],
        cwd=ROOT,
        env=locust_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0  # no --scenario: refused naming the options, as with locust
    assert "--scenario" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
