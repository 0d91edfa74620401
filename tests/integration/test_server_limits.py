"""Size and time bounds on real servers on loopback: a hostile client cannot hurt the others.

The receiver runs as the ``dumgum-loadtest receiver`` command (its own process, so its memory
is measured alone); the clients are raw sockets, to send what no polite client would.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import psutil
import pytest

from dumgum_loadtest.mock import ENQUEUE_PATH, MockConfig, create_mock_app
from dumgum_loadtest.processes import ManagedProcess, cli_command, wait_healthy
from dumgum_loadtest.serving import BackgroundServer, free_port

MIB = 1024 * 1024
EVENT = orjson.dumps({"event": "answer.processing", "data": {"projectId": "p", "answer": {}}})


class Receiver:
    def __init__(self, process: ManagedProcess, port: int, out_dir: Path) -> None:
        self.process = process
        self.port = port
        self.out_dir = out_dir
        self.url = f"http://127.0.0.1:{port}"

    @property
    def rss_bytes(self) -> int:
        assert self.process.pid is not None
        return int(psutil.Process(self.process.pid).memory_info().rss)

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def recorded_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.out_dir.glob("events-*.jsonl"))


def start_receiver(tmp_path: Path, *options: str) -> Iterator[Receiver]:
    port = free_port()
    out_dir = tmp_path / "raw"
    process = ManagedProcess(
        "receiver",
        cli_command("receiver", "--port", str(port), "--out", str(out_dir), *options),
        tmp_path / "receiver.log",
    ).start()
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}/health")
        yield Receiver(process, port, out_dir)
    finally:
        process.stop()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    yield from start_receiver(tmp_path)


@pytest.fixture
def impatient_receiver(tmp_path: Path) -> Iterator[Receiver]:
    yield from start_receiver(
        tmp_path, "--header-timeout-s", "1", "--body-timeout-s", "1", "--keep-alive-s", "1"
    )


def closed_by_server(sock: socket.socket) -> bytes:
    """What the server sent before closing the connection (b"" for nothing); fails if it
    is still open after the socket's timeout."""
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    return received


def test_a_huge_slow_body_gets_413_while_other_clients_are_answered(receiver: Receiver) -> None:
    rss_before = receiver.rss_bytes
    answered_during: list[int] = []
    streaming = threading.Event()
    done = threading.Event()

    def polite_client() -> None:
        with httpx.Client(base_url=receiver.url, timeout=10) as client:
            while not done.is_set():
                status = client.post("/incoming", content=EVENT).status_code
                if streaming.is_set() and not done.is_set():
                    answered_during.append(status)
                time.sleep(0.005)

    other = threading.Thread(target=polite_client, daemon=True)
    other.start()
    sock = receiver.connect()
    sock.sendall(
        b"POST /incoming HTTP/1.1\r\nHost: receiver\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b"[" + b"1," * (32 * 1024)
    frame = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    sent_bytes, rss_max = 0, rss_before
    body_bytes = 500 * MIB
    streaming.set()
    try:
        while sent_bytes < body_bytes:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break  # the server answered before the end of the body
            sock.sendall(frame)
            sent_bytes += len(chunk)
            if sent_bytes % (MIB // 2) < len(chunk):
                rss_max = max(rss_max, receiver.rss_bytes)
            time.sleep(0.002)  # slowly: about 30 MB/s
    except (BrokenPipeError, ConnectionResetError):
        pass
    answer = closed_by_server(sock)
    done.set()
    other.join(10)
    sock.close()

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent_bytes < 100 * MIB  # refused while it streamed, not after reading it all
    assert rss_max - rss_before < 100 * MIB
    assert answered_during and set(answered_during) == {204}
    # The refused body was never recorded; the polite client's events were.
    assert receiver.recorded_bytes() < 200 * len(answered_during) + MIB


def test_a_declared_huge_body_is_refused_before_it_is_sent(receiver: Receiver) -> None:
    sock = receiver.connect()
    sock.sendall(b"POST /memory HTTP/1.1\r\nHost: receiver\r\nContent-Length: 524288000\r\n\r\n{")
    answer = closed_by_server(sock)
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"max_body_bytes" in answer
    stats = httpx.get(f"{receiver.url}/_receiver/stats").json()
    assert stats["refused"] == {"body_too_large": 1}
    assert stats["invalid_bodies"] == 0


def test_a_connection_that_sends_nothing_is_closed(impatient_receiver: Receiver) -> None:
    sock = impatient_receiver.connect()
    assert closed_by_server(sock) == b""


def test_a_request_head_sent_slowly_is_cut_off(impatient_receiver: Receiver) -> None:
    sock = impatient_receiver.connect()
    sock.sendall(b"POST /incoming HTTP/1.1\r\nHost: receiver\r\n")  # and never the rest
    assert closed_by_server(sock) == b""


def test_a_body_that_stops_halfway_is_cut_off(impatient_receiver: Receiver) -> None:
    sock = impatient_receiver.connect()
    sock.sendall(b"POST /incoming HTTP/1.1\r\nHost: receiver\r\nContent-Length: 100\r\n\r\n{")
    assert b"204" not in closed_by_server(sock)


@pytest.fixture
def patient_body_receiver(tmp_path: Path) -> Iterator[Receiver]:
    yield from start_receiver(tmp_path, "--header-timeout-s", "1", "--body-timeout-s", "20")


def test_a_stalled_head_is_cut_off_at_the_header_deadline_after_a_slow_body(
    patient_body_receiver: Receiver,
) -> None:
    # A head allowed 1 s, a body 20 s: after a body that took its time on one connection,
    # the next request's stalled head must still be cut off after about 1 s, not 20.
    sock = patient_body_receiver.connect()
    sock.sendall(b"POST /incoming HTTP/1.1\r\nHost: receiver\r\n")
    sock.sendall(b"Content-Length: %d\r\n\r\n" % len(EVENT))
    time.sleep(1.5)  # past the head's deadline, well within the body's
    sock.sendall(EVENT)
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 204")
    sock.sendall(b"POST /incoming HTTP/1.1\r\nHost: receiver\r\n")  # and never the rest
    sock.settimeout(8)  # closed_by_server fails if the connection outlives this
    assert closed_by_server(sock) == b""


def test_an_idle_keep_alive_connection_is_closed(impatient_receiver: Receiver) -> None:
    sock = impatient_receiver.connect()
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: receiver\r\n\r\n")
    assert closed_by_server(sock).startswith(b"HTTP/1.1 200")  # answered, then let go


def test_pipelined_requests_are_all_answered_then_the_idle_connection_is_closed(
    impatient_receiver: Receiver,
) -> None:
    sock = impatient_receiver.connect()
    request = b"POST /incoming HTTP/1.1\r\nHost: receiver\r\nContent-Length: %d\r\n\r\n" % len(
        EVENT
    )
    sock.sendall((request + EVENT) * 3)  # three requests in one packet
    sock.settimeout(8)  # closed after the 1 s keep-alive, well before this
    assert closed_by_server(sock).count(b"HTTP/1.1 204") == 3
    assert impatient_receiver.recorded_bytes() > 0


def test_an_oversized_request_head_is_answered_431(receiver: Receiver) -> None:
    sock = receiver.connect()
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: receiver\r\n")
    try:
        for _ in range(200):
            sock.sendall(b"X-Padding: " + b"a" * 1000 + b"\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    assert closed_by_server(sock).startswith(b"HTTP/1.1 431")


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_the_mock_refuses_an_enqueue_over_its_body_limit(declared: bool) -> None:
    token = "sk-proj-limits"
    app = create_mock_app(MockConfig(time_scale=0.01), [token])
    huge = orjson.dumps(
        {
            "userProfileId": "u1",
            "personaProfileId": "p1",
            "language": "EN",
            "tags": {"blob": "x" * (2 * MIB)},
        }
    )

    def streamed() -> Iterator[bytes]:
        for start in range(0, len(huge), 64 * 1024):
            yield huge[start : start + 64 * 1024]

    with BackgroundServer(app) as mock, httpx.Client(base_url=mock.url, timeout=10) as client:
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        content = huge if declared else streamed()
        response = client.post(ENQUEUE_PATH, content=content, headers=headers)
        ledger = client.get("/_mock/ledger", headers=headers).json()
    assert response.status_code == 413
    assert response.json()["max_body_bytes"] == MIB
    assert ledger["enqueues_received"] == 1
    assert ledger["enqueues_rejected"] == {"413": 1}
    assert ledger["enqueues_accepted"] == 0
