"""Remote workers in process: the master's command line, the worker's, records over the
channel into shards, the roster and its notes, and the run's bounded wait for the workers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from dumgum_loadtest.errors import ConfigError, HarnessError
from dumgum_loadtest.loadtest.channel import RECORDS_MESSAGE, ChannelRecorder, ShardWriter
from dumgum_loadtest.loadtest.command import locust_command
from dumgum_loadtest.loadtest.remote import reachable_url, worker_command
from dumgum_loadtest.loadtest.roster import (
    MasterRoster,
    RosterEvent,
    append_event,
    joined_count,
    roster_notes,
)
from dumgum_loadtest.run import RunOptions, StopSignals, _Session, check_options, mock_token
from dumgum_loadtest.scenarios import load_scenario

ROOT = Path(__file__).resolve().parents[3]
SMOKE = ROOT / "scenarios" / "smoke.yaml"


def test_the_master_waits_for_remote_workers_on_loopback_port_5557_by_default() -> None:
    command = locust_command(
        scenario_path=Path("RUN/scenario.yaml"),
        run_dir=Path("RUN"),
        run_id="id",
        target_url="http://127.0.0.1:1",
        receiver_url=None,
        workers=3,
        scenario=load_scenario(SMOKE),
        force_test_mode=False,
        expect_workers=3,
    )
    joined = " ".join(command)
    assert "--master --expect-workers 3" in joined
    assert "--master-bind-host 127.0.0.1 --master-bind-port 5557" in joined
    assert "--records-via-master" in command and "--processes" not in command
    assert "--users 3" in joined  # the open model: one user per worker


def test_a_worker_needs_only_the_master_s_address_and_its_own_token(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DUMGUM_LOADTEST_TOKEN", "sk-secret")
    command = worker_command("10.0.0.5", 5557, python="python")
    assert command[-5:] == ["--worker", "--master-host", "10.0.0.5", "--master-port", "5557"]
    assert "sk-secret" not in " ".join(command)
    monkeypatch.delenv("DUMGUM_LOADTEST_TOKEN")
    with pytest.raises(ConfigError, match="DUMGUM_LOADTEST_TOKEN is not set"):
        worker_command("10.0.0.5", 5557)
    with pytest.raises(ConfigError, match="--master-port 0: give a TCP port from 1 to 65535"):
        worker_command("10.0.0.5", 0)


@pytest.mark.parametrize(
    ("url", "master_host", "expected"),
    [
        ("http://127.0.0.1:8080", "10.0.0.5", "http://10.0.0.5:8080"),
        ("http://127.0.0.1:9/secret", "master.example", "http://master.example:9/secret"),
        ("http://127.0.0.1:8080", "127.0.0.1", "http://127.0.0.1:8080"),
        ("https://api.dumgum.example", "10.0.0.5", "https://api.dumgum.example"),
    ],
)
def test_urls_on_the_master_s_loopback_are_reached_through_the_master_s_host(
    url: str, master_host: str, expected: str
) -> None:
    assert reachable_url(url, master_host) == expected


class FakeRunner:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any]] = []

    def send_message(self, msg_type: str, data: Any) -> None:
        self.sent.append((msg_type, orjson.loads(orjson.dumps(data))))  # msgpack-like: plain


def test_a_remote_worker_s_batches_become_the_master_s_shards(tmp_path: Path) -> None:
    runner = FakeRunner()
    recorder = ChannelRecorder(runner, "1")
    recorder.add({"request_id": "1-0", "intended_ns": 1})
    recorder.add_turn({"turn": 1})
    recorder.flush()
    recorder.add({"request_id": "1-1", "intended_ns": 2})
    recorder.close()
    recorder.close()  # test_stop, then quitting: nothing new, nothing sent
    assert [kind for kind, _ in runner.sent] == [RECORDS_MESSAGE, RECORDS_MESSAGE]
    assert [data["final"] for _, data in runner.sent] == [False, True]
    writer = ShardWriter(tmp_path)
    for _, data in runner.sent:
        writer.receive(data, "host_abc")
    lines = (tmp_path / "raw" / "requests-1.jsonl").read_text().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == ["1-0", "1-1"]
    assert (tmp_path / "raw" / "turns-1.jsonl").read_text() == '{"turn":1}\n'
    assert json.loads((tmp_path / "raw" / "progress-1.json").read_text())["worker"] == "1"
    assert writer.final_from == {"host_abc"}
    with pytest.raises(ValueError, match=r"worker label '\.\./x'"):
        writer.receive({"worker": "../x"}, "host_abc")


class Client:
    def __init__(self, id: str, state: str) -> None:
        self.id, self.state = id, state


class Clients:
    def __init__(self, *clients: Client) -> None:
        self.all = list(clients)


class FakeMaster:
    def __init__(self, *clients: Client) -> None:
        self.clients = Clients(*clients)

    def get_worker_index(self, client_id: str) -> int:
        return [c.id for c in self.clients.all].index(client_id)


def test_the_roster_notes_a_worker_that_went_missing_before_its_final_batch(
    tmp_path: Path,
) -> None:
    a, b, c = Client("host_a", "running"), Client("host_b", "running"), Client("host_c", "ready")
    master = FakeMaster(a, b, c)
    roster = MasterRoster(tmp_path, master, final_from={"host_c"})
    for client in (a, b, b, c):  # a repeated "ready" counts once
        roster.joined(client.id)
    assert joined_count(tmp_path) == 3
    b.state = c.state = "missing"  # b died; c is silent after its final batch
    roster.check()
    roster.check()
    notes = roster_notes(tmp_path, load_started_ns=0)
    assert len(notes) == 1 and notes[0].startswith("worker 1 (host_b) stopped answering"), notes


def test_run_refuses_remote_worker_options_that_mean_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ConfigError, match="--expect-workers 0: give 1 or more"):
        check_options(RunOptions(SMOKE, expect_workers=0))
    with pytest.raises(ConfigError, match="--workers 2 with --expect-workers 2: give one"):
        check_options(RunOptions(SMOKE, expect_workers=2, workers=2))
    with pytest.raises(ConfigError, match="--master-port 0: give a TCP port from 1 to 65535"):
        check_options(RunOptions(SMOKE, expect_workers=2, master_port=0))
    monkeypatch.delenv("DUMGUM_LOADTEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="set DUMGUM_LOADTEST_TOKEN"):
        mock_token(RunOptions(SMOKE, expect_workers=2))
    monkeypatch.setenv("DUMGUM_LOADTEST_TOKEN", "shared")
    assert mock_token(RunOptions(SMOKE, expect_workers=2)) == "shared"


class FakeLocust:
    stopped = False

    def running(self) -> bool:
        return True

    def stop(self, timeout_s: float | None = None) -> None:
        self.stopped = True


def test_the_run_waits_for_its_workers_a_bounded_time_and_says_how_many_joined(
    tmp_path: Path,
) -> None:
    options = RunOptions(SMOKE, expect_workers=2, workers_wait_s=0.3, master_port=6000)
    session = _Session(load_scenario(SMOKE), options, "id", tmp_path, "t", None, 2, print)  # type: ignore[arg-type]
    append_event(tmp_path, RosterEvent("joined", "host_a", "0", 1))
    locust = FakeLocust()
    with pytest.raises(HarnessError) as caught:
        session._await_workers(locust, StopSignals())  # type: ignore[arg-type]
    assert str(caught.value).startswith(
        "--expect-workers 2: 1 of 2 worker(s) joined before --workers-wait-s 0.3 passed;"
    )
    assert "--master-port 6000" in str(caught.value) and locust.stopped
    append_event(tmp_path, RosterEvent("joined", "host_b", "1", 2))
    session._await_workers(locust, StopSignals())  # type: ignore[arg-type]
