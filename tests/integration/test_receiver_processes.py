"""Two receiver processes on one port, their state in a real Valkey server (tests/valkey.py).

The receiver runs as the CLI runs it (``receiver --state redis://... --processes 2``). They
show: the chat history DumGum reads is the one a single in-memory receiver gives for the
same events, whichever process answers; every acknowledged event is in a shard; a
closed-model Locust run, whose users wait for answers that the other process may hear,
completes.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.conftest import QUIET_MODEL, TOKEN, Stack
from tests.integration.test_loadtest_locust import make_scenario, records, run_locust

from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.processes import cli_command
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.records import SENT
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.integration

PROCESSES = 2
PAIRS = [(f"user_{n}", f"persona_{n % 3}") for n in range(12)]


@dataclass
class Receivers:
    """The CLI receiver's URL and where its processes record."""

    url: str
    out_dir: Path


def fresh_connection() -> httpx.Client:
    """A client opening a new connection per request: the kernel spreads those over the
    processes (SO_REUSEPORT hashes each connection)."""
    return httpx.Client(timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


def serving_pids(url: str, timeout_s: float = 20.0) -> set[int]:
    """Wait until ``PROCESSES`` distinct processes have answered; their pids."""
    pids: set[int] = set()
    deadline = time.monotonic() + timeout_s
    with fresh_connection() as client:
        while len(pids) < PROCESSES and time.monotonic() < deadline:
            try:
                pids.add(client.get(f"{url}/_receiver/stats").json()["pid"])
            except httpx.TransportError:
                time.sleep(0.1)
    assert len(pids) == PROCESSES, f"only {pids} answered within {timeout_s} s"
    return pids


@pytest.fixture
def receivers(redis_url: str, tmp_path: Path) -> Iterator[Receivers]:
    port = free_port()
    out_dir = tmp_path / "receivers"
    argv = cli_command(
        "receiver",
        *("--state", redis_url, "--processes", str(PROCESSES)),
        *("--port", str(port), "--out", str(out_dir)),
    )
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        serving_pids(url)
        yield Receivers(url, out_dir)
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=20)
    assert process.returncode == 0, errors
    assert "Traceback" not in errors, errors


def answer_created(n: int, pair: tuple[str, str], sequence: int = 0) -> dict[str, Any]:
    return {
        "event": "answer.created",
        "data": {
            "projectId": "proj_test",
            "answer": {
                "id": f"answer_{n}",
                "userProfileId": pair[0],
                "personaProfileId": pair[1],
                "type": "TEXT",
                "text": f"answer {n}",
                "sequenceNumber": sequence,
                # Two answers a second apart per pair, some sharing their millisecond.
                "createdAt": f"2026-01-01T00:00:{n // 4 % 60:02d}.{n % 2 * 500:03d}Z",
            },
        },
    }


def feed(url: str) -> int:
    """The same conversation traffic to ``url``, each request on a new connection; the
    number of events acknowledged (2xx)."""
    acknowledged = 0
    with fresh_connection() as client:
        for n in range(60):
            pair = PAIRS[n % len(PAIRS)]
            message = {
                "userProfileId": pair[0],
                "personaProfileId": pair[1],
                "id": f"msg_{n}",
                "text": f"user {n}",
                "date": f"2026-01-01T00:00:{n // 4 % 60:02d}.250Z",
            }
            assert client.post(f"{url}/_receiver/messages", json=message).status_code == 204
            for event in (answer_created(n, pair), answer_created(n, pair, sequence=1)):
                response = client.post(f"{url}/incoming", json=event)
                acknowledged += response.status_code == 204
            if n % 10 == 0:  # a redelivery: the history holds it once
                response = client.post(f"{url}/incoming", json=answer_created(n, pair))
                acknowledged += response.status_code == 204
    return acknowledged


def histories(url: str) -> dict[str, Any]:
    """What DumGum would read for every pair: all of it, and what is newer than a date."""
    read: dict[str, Any] = {}
    with fresh_connection() as client:
        for pair in PAIRS:
            for after in ("", "2026-01-01T00:00:05.000Z", "2026-01-01T00:00:09.250Z"):
                params = {"userProfileId": pair[0], "personaProfileId": pair[1]}
                params["lastMessageDate"] = after
                response = client.get(f"{url}/chat-history", params=params)
                assert response.status_code == 200
                read[f"{pair}>{after}"] = response.json()["messages"]
    return read


def shard_lines(out_dir: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        path.name: [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
        for path in sorted(out_dir.glob("events-*.jsonl"))
    }


def test_two_processes_serve_the_chat_history_one_process_serves(
    receivers: Receivers, tmp_path: Path
) -> None:
    one = create_receiver_app(ReceiverSettings(out_dir=tmp_path / "one"))
    with BackgroundServer(one) as single:
        assert feed(single.url) == 126  # 60 x 2, and 6 redeliveries
        expected = histories(single.url)
    acknowledged = feed(receivers.url)
    assert acknowledged == 126
    assert sum(len(messages) for messages in expected.values()) > 100
    assert histories(receivers.url) == expected
    assert histories(receivers.url) == expected  # read again: other processes answer
    # Every acknowledged event is in a shard, and both processes recorded some.
    shards = shard_lines(receivers.out_dir)
    assert len(shards) == PROCESSES
    assert all(lines for lines in shards.values())
    assert sum(len(lines) for lines in shards.values()) == acknowledged


def test_a_closed_model_run_completes_against_two_processes(
    receivers: Receivers, tmp_path: Path
) -> None:
    data = dict(QUIET_MODEL)
    data["endpoints"] = {
        "incoming_content_url": f"{receivers.url}/incoming",
        "profile_url": f"{receivers.url}/profile",
        "chat_history_url": f"{receivers.url}/chat-history",
        "memory_webhook_url": f"{receivers.url}/memory",
    }
    mock_app = create_mock_app(MockConfig.model_validate(data), [TOKEN])
    with BackgroundServer(mock_app) as mock:
        # Of its receiver, a Stack uses the URL only: the CLI receiver's stands in.
        stack = Stack(receivers.out_dir, receivers, mock)  # type: ignore[arg-type]
        scenario = make_scenario(
            {"model": "closed", "users": 4, "spawn_rate_per_s": 100},
            conversation={
                "burst_size": {1: 0.5, 2: 0.5},
                "burst_gap_s": {"kind": "constant", "value_s": 1.0},
                "think_time_s": {"kind": "constant", "value_s": 10.0},
                "turns": {4: 1.0},
                "engage_share": 0.0,
                "register_user_messages": True,
            },
        )
        run_dir, _ = run_locust(tmp_path, stack, scenario)
        ledger = stack.settle()
        stack.client.close()
    turns = [
        orjson.loads(line) for line in (run_dir / "raw" / "turns-0.jsonl").read_bytes().splitlines()
    ]
    answered = [turn for turn in turns if turn["outcome"] == "answered"]
    assert len(answered) >= 8
    assert {turn["outcome"] for turn in turns} <= {"answered", "stopped"}
    # No acknowledged event lost: every 2xx the mock got is a line in one of the shards.
    shards = shard_lines(receivers.out_dir)
    lines = [line for shard in shards.values() for line in shard]
    assert sum(1 for line in lines if 200 <= line["status"] < 300) == ledger["deliveries"]
    received = {
        (b["data"]["answer"]["userProfileId"], b["data"]["answer"]["personaProfileId"], ns)
        for ns, b in ((line["recv_ns"], line["body"]) for line in lines)
        if b["event"] == "answer.created" and b["data"]["answer"]["sequenceNumber"] == 0
    }
    for turn in answered:  # woken by the answer, whichever process received it
        assert (turn["user_id"], turn["persona_id"], turn["event_recv_ns"]) in received
    # Each user message sent (so registered) is in the history, read from any process.
    sent = [row for row in records(run_dir) if row["send_state"] == SENT]
    assert len(sent) >= 8
    with fresh_connection() as client:
        for row in sent:
            params = {"userProfileId": row["user_id"], "personaProfileId": row["persona_id"]}
            reads = [
                client.get(f"{receivers.url}/chat-history", params=params).json() for _ in range(3)
            ]
            assert reads[0] == reads[1] == reads[2]
            assert f"msg-{row['request_id']}" in {m["id"] for m in reads[0]["messages"]}
