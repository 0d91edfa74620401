"""Webhooks answered inside the HTTP protocol (``direct_route``), on raw sockets.

Most of the receiver's events never become an ASGI request: the server records and answers them
from its parser callbacks. What a sender sees must not change for it: the same answers as the
ASGI way, in request order when pipelined, every acknowledged event on disk, the connection
closed when it asked for that or spoke HTTP/1.0, and the same deadlines against a client that
stalls. A small app of its own checks the server's side: which requests go direct, and a
failing route.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from dumgum_loadtest.direct_route import DirectAnswer, DirectRoute
from dumgum_loadtest.limits import ServerLimits
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.serving import BackgroundServer

pytestmark = pytest.mark.integration

TIMEOUTS = ServerLimits(header_timeout_s=1.0, body_timeout_s=1.0, keep_alive_s=1)
USER, PERSONA = "user_d", "persona_d"
SECRET = "direct-route-secret-0123"


def event(answer_id: str, name: str = "answer.created") -> bytes:
    answer = {
        "id": answer_id,
        "userProfileId": USER,
        "personaProfileId": PERSONA,
        "type": "TEXT",
        "text": f"text of {answer_id}",
        "createdAt": "2026-12-07T10:00:00.000Z",
        "tags": {},
    }
    return orjson.dumps({"event": name, "data": {"projectId": "p", "answer": answer}})


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[BackgroundServer, Path]]:
    out_dir = tmp_path / "raw"
    app = create_receiver_app(ReceiverSettings(out_dir=out_dir))
    with BackgroundServer(app, limits=TIMEOUTS) as server:
        yield server, out_dir


def post(path: str, content: bytes, *, version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/{version}\r\nHost: receiver\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(content)}\r\n{extra}\r\n"
    ).encode() + content


def post_chunked(path: str, content: bytes, extra: str = "") -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: receiver\r\nTransfer-Encoding: chunked\r\n{extra}\r\n"
    return head.encode() + b"%x\r\n%s\r\n0\r\n\r\n" % (len(content), content)


def connect(server: BackgroundServer) -> socket.socket:
    sock = socket.create_connection((server.host, server.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_answers(sock: socket.socket, count: int) -> list[tuple[int, dict[str, str], bytes]]:
    """``count`` whole responses (Content-Length framed): status, headers, body."""
    buffer = b""
    answers = []
    while len(answers) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            lines = buffer[:head_end].decode("latin-1").split("\r\n")
            headers = dict(line.lower().split(": ", 1) for line in lines[1:])
            assert "transfer-encoding" not in headers, lines
            length = int(headers.get("content-length", "0"))
            end = head_end + 4 + length
            if len(buffer) >= end:
                answers.append((int(lines[0].split()[1]), headers, buffer[head_end + 4 : end]))
                buffer = buffer[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(answers)} of {count} answers"
        buffer += chunk
    assert buffer == b"", f"bytes beyond the answers: {buffer!r}"
    return answers


def closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def records(out_dir: Path) -> list[dict[str, Any]]:
    return [
        orjson.loads(line)
        for path in sorted(out_dir.glob("events-*.jsonl"))
        for line in path.read_bytes().splitlines()
    ]


def recorded_ids(out_dir: Path) -> list[str]:
    ids = []
    for path in sorted(out_dir.glob("events-*.jsonl")):
        for line in path.read_bytes().splitlines():
            body = orjson.loads(line)["body"]
            if isinstance(body, dict):
                ids.append(body["data"]["answer"]["id"])
    return ids


def test_pipelined_events_are_recorded_and_answered_in_order(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    server, out_dir = receiver
    with connect(server) as sock:
        sock.sendall(
            post("/incoming", event("a1"))
            + post("/incoming", b"{not json")
            + post("/memory", event("m1", "memory.created"))
            + post("/incoming", event("a2"))
            + b"GET /health HTTP/1.1\r\nHost: receiver\r\n\r\n"
        )
        answers = read_answers(sock, 5)
        assert [status for status, _, _ in answers] == [204, 400, 204, 204, 200]
        sock.sendall(post("/incoming", event("a3")))  # still open for the next event
        assert [status for status, _, _ in read_answers(sock, 1)] == [204]
    assert recorded_ids(out_dir) == ["a1", "m1", "a2", "a3"]
    with httpx.Client(base_url=server.url) as client:
        history = client.get(
            "/chat-history", params={"userProfileId": USER, "personaProfileId": PERSONA}
        ).json()
    assert [message["text"] for message in history["messages"]] == [
        "text of a1",
        "text of a2",
        "text of a3",
    ]


def test_an_event_behind_one_still_answered_the_asgi_way_keeps_its_place(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    """A chunked event goes the ASGI way; the direct one pipelined after it must not overtake
    it, on the wire or on disk."""
    server, out_dir = receiver
    with connect(server) as sock:
        sock.sendall(
            post_chunked("/incoming", event("c1"))
            + post("/incoming", event("d1"))
            + post_chunked("/incoming", b"[1,")
        )
        assert [status for status, _, _ in read_answers(sock, 3)] == [204, 204, 400]
    assert recorded_ids(out_dir) == ["c1", "d1"]


def test_the_direct_answers_are_the_asgi_answers_byte_for_byte(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    """Status line, header names and order, values and body: only the date may differ."""
    server, _ = receiver
    for content in (event("b1"), b"{not json", b""):
        raw = []
        for request in (
            post("/incoming", content, extra="Connection: close\r\n"),
            post_chunked("/incoming", content, extra="Connection: close\r\n"),
        ):
            with connect(server) as sock:
                sock.sendall(request)
                received = b""
                while chunk := sock.recv(65536):
                    received += chunk
            raw.append(re.sub(rb"date: [^\r]+", b"date: -", received))
        assert raw[0] == raw[1], content


def test_http_1_0_and_connection_close_get_their_answer_then_the_connection_ends(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    server, out_dir = receiver
    for request in (
        post("/incoming", event("h10"), version="1.0"),
        post("/incoming", event("close"), extra="Connection: close\r\n"),
    ):
        with connect(server) as sock:
            sock.sendall(request)
            [(status, headers, _)] = read_answers(sock, 1)
            assert (status, headers["connection"]) == (204, "close")
            assert closed_within(sock, 2.0)
    assert recorded_ids(out_dir) == ["h10", "close"]


def test_a_body_cut_short_is_kept_as_received_and_never_acknowledged(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    """Stalled (cut off at the body deadline) or abandoned by its sender: as the ASGI way
    does, the part that arrived is recorded with status 499 and no 2xx is sent."""
    server, out_dir = receiver
    stalled, abandoned = post("/incoming", event("stalled")), post("/memory", event("left"))
    with connect(server) as sock:
        sock.sendall(stalled[:-5])
        started = time.monotonic()
        assert closed_within(sock, 5.0)
        assert time.monotonic() - started < 3.0
    with connect(server) as sock:
        sock.sendall(abandoned[:-7])
        time.sleep(0.2)
    deadline = time.monotonic() + 5
    while len(records(out_dir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    kept = sorted((r["endpoint"], r["status"], r["body"]) for r in records(out_dir))
    assert kept == [
        ("incoming", 499, stalled.partition(b"\r\n\r\n")[2][:-5].decode()),
        ("memory", 499, abandoned.partition(b"\r\n\r\n")[2][:-7].decode()),
    ]


def test_a_graceful_stop_lets_an_event_still_arriving_finish(tmp_path: Path) -> None:
    """As uvicorn does for a request it has started on: answered, then the connection ends."""
    out_dir = tmp_path / "raw"
    server = BackgroundServer(create_receiver_app(ReceiverSettings(out_dir=out_dir))).start()
    request = post("/incoming", event("last"))
    with connect(server) as sock:
        sock.sendall(request[:-9])
        time.sleep(0.2)  # the head is in, the body is not
        stopping = threading.Thread(target=server.stop)
        stopping.start()
        time.sleep(0.3)
        sock.sendall(request[-9:])
        [(status, headers, _)] = read_answers(sock, 1)
        assert (status, headers["connection"]) == (204, "close")
        assert closed_within(sock, 2.0)
    stopping.join(10)
    assert recorded_ids(out_dir) == ["last"]


def test_a_client_that_pipelines_without_reading_is_read_no_further_until_it_reads(
    tmp_path: Path,
) -> None:
    """Answers waiting for a client that does not read must not pile up in the receiver's
    memory: once the socket's buffers are full it stops taking requests, and takes the rest
    as soon as the client reads (within the header deadline: a request head left half read
    meanwhile still has one). Also: a pipelined flood is not mistaken for a huge head."""
    server = BackgroundServer(create_receiver_app(ReceiverSettings(out_dir=tmp_path / "raw")))
    server.start()
    body = b'{"event":"answer.processing","data":{}}'
    flood = 200_000  # ~24 MB of requests, ~13 MB of answers: more than the kernel buffers
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((server.host, server.port))
    sender = threading.Thread(
        target=lambda: sock.sendall(post("/incoming", body) * flood), daemon=True
    )
    sender.start()

    def recorded() -> int:
        stats = httpx.get(f"{server.url}/_receiver/stats", timeout=5).json()
        return int(stats["events"].get("answer.processing", 0))

    held, deadline = -1, time.monotonic() + 30
    while time.monotonic() < deadline:  # until it stops taking requests
        time.sleep(0.5)
        count = recorded()
        if count == held:
            break
        held = count
    assert 0 < held < flood
    time.sleep(1.0)
    assert recorded() == held  # still holding
    marker = b"HTTP/1.1 204 "
    answers, tail = 0, b""
    sock.settimeout(10)
    while answers < flood:
        chunk = sock.recv(1 << 20)
        assert chunk, f"closed after {answers} answers"
        answers += (tail + chunk).count(marker)
        tail = (tail + chunk)[-(len(marker) - 1) :]
    sender.join(10)
    sock.close()
    assert recorded() == flood
    server.stop()


def test_a_head_trickled_in_after_a_pipelined_answer_still_has_a_deadline(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    """The answer goes out while the next request's head is parsed from the same read: that
    head must still be cut off at the header deadline, however slowly it trickles in."""
    server, _ = receiver
    with connect(server) as sock:
        sock.sendall(post("/incoming", event("t1")) + b"POST /inc")
        [(status, _, _)] = read_answers(sock, 1)
        assert status == 204
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 5.0 and not closed:
            try:
                sock.sendall(b"x")
            except (BrokenPipeError, ConnectionResetError):
                break
            closed = closed_within(sock, 0.2)
        assert time.monotonic() - started < 3.0, "a head trickled in for 5 s was never cut off"


def test_a_closed_model_wait_is_woken_by_a_direct_answer(
    receiver: tuple[BackgroundServer, Path],
) -> None:
    server, _ = receiver
    woke: list[httpx.Response] = []
    params = {"userProfileId": USER, "personaProfileId": PERSONA, "timeout_s": "5"}
    waiter = threading.Thread(
        target=lambda: woke.append(httpx.get(f"{server.url}/_receiver/wait", params=params))
    )
    waiter.start()
    time.sleep(0.3)
    started = time.monotonic()
    with connect(server) as sock:
        sock.sendall(post("/incoming", event("w1")))
        assert read_answers(sock, 1)[0][0] == 204
    waiter.join(10)
    assert woke and woke[0].status_code == 200
    assert woke[0].json()["event"] == "answer.created"
    assert time.monotonic() - started < 2.0


def test_with_a_secret_the_webhooks_take_the_gate(tmp_path: Path) -> None:
    settings = ReceiverSettings(out_dir=tmp_path / "raw", secret_path=SECRET)
    statuses = []
    with BackgroundServer(create_receiver_app(settings)) as server:
        for path, answer_id in (("/incoming", "x1"), (f"/{SECRET}/incoming", "x2")):
            with connect(server) as sock:
                sock.sendall(post(path, event(answer_id)))
                statuses.append(read_answers(sock, 1)[0][0])
    assert statuses == [404, 204]
    assert recorded_ids(tmp_path / "raw") == ["x2"]


# -- the protocol's side, on an app of its own ------------------------------------------------


class _Route:
    method = b"POST"
    max_body_bytes = 16

    def takes(self) -> bool:
        return True

    def answer(self, headers: list[tuple[bytes, bytes]], body: bytes) -> DirectAnswer:
        if body == b"fail":
            raise RuntimeError("the route failed")
        return DirectAnswer(200, ((b"content-length", b"%d" % len(body)),), body)

    def cut_short(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        return None


class _App:
    """Answers every ASGI request 202 with its path: tells the two ways apart."""

    def __init__(self) -> None:
        self.direct_routes: dict[bytes, DirectRoute] = {b"/direct": _Route()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        path = scope["path"].encode()
        headers = [(b"content-length", b"%d" % len(path))]
        await send({"type": "http.response.start", "status": 202, "headers": headers})
        await send({"type": "http.response.body", "body": path})


HOST = b"Host: x\r\n"
EXPECT_CONTINUE = b"Expect: 100-continue\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /direct HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\nhi", 200),
        (b"POST /direct?a=1 HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\nhi", 200),
        (b"POST /directory HTTP/1.1\r\n" + HOST + b"Content-Length: 2\r\n\r\nhi", 202),
        (b"GET /direct HTTP/1.1\r\n" + HOST + b"\r\n", 202),
        (b"POST /direct HTTP/1.1\r\n" + HOST + b"Content-Length: 17\r\n\r\n" + b"x" * 17, 202),
        (b"POST /direct HTTP/1.1\r\n" + HOST + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 202),
        (b"POST /direct HTTP/1.1\r\n" + HOST + EXPECT_CONTINUE + b"Content-Length: 2\r\n\r\n", 202),
    ],
)
def test_only_a_request_the_route_can_answer_whole_goes_direct(
    request_bytes: bytes, status: int
) -> None:
    with BackgroundServer(_App()) as server, connect(server) as sock:
        sock.sendall(request_bytes)
        if EXPECT_CONTINUE in request_bytes:
            assert sock.recv(65536).startswith(b"HTTP/1.1 100 Continue")
            sock.sendall(b"hi")
        [(answered, _, _)] = read_answers(sock, 1)
        assert answered == status


def test_a_route_that_raises_gets_a_500_and_the_connection_closed() -> None:
    with BackgroundServer(_App()) as server, connect(server) as sock:
        sock.sendall(b"POST /direct HTTP/1.1\r\n" + HOST + b"Content-Length: 4\r\n\r\nfail")
        [(status, headers, content)] = read_answers(sock, 1)
        assert (status, headers["connection"], content) == (500, "close", b"Internal Server Error")
        assert closed_within(sock, 2.0)
