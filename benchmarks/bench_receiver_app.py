"""The receiver app's own CPU per event: its whole ASGI stack, called in process, no server.

Builds the receiver (memory state), opens its shards and calls it as uvicorn would with
``bench_receiver.py``'s ``answer.created`` events, then prints the CPU time per event in µs
(the last line, a number alone). The HTTP server's share is left out, so comparing two
versions side by side (each run alternated with the other's, ``PYTHONPATH=OTHER/src`` for the
other) shows the app's change alone.

``--http`` adds the server's own work but not the sockets': each request goes as raw bytes
through uvicorn's protocol as ``serving.uvicorn_config`` configures it (the httptools parser,
the header and body deadlines, the proxy-headers middleware, the response's status line and
headers, uvloop's tasks and timers), on ``--connections`` fake connections fed in the same
loop turn. Only the system calls of a real socket are missing: ``bench_receiver.py`` measures
those too, but with far more noise.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import uvicorn.server
import uvloop
from bench_receiver import answer_created  # the sibling module: scripts run by path

from dumgum_loadtest.clock import iso_from_ns, now_ns
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.serving import uvicorn_config


async def cpu_us_per_event(events: int, out_dir: Path) -> float:
    app = create_receiver_app(ReceiverSettings(out_dir=out_dir))
    receiver = app.state.receiver
    receiver.recorder.open()
    state = getattr(receiver, "state", None)  # versions before the shared state had none
    if state is not None:
        await state.start()
    created_at = iso_from_ns(now_ns())
    bodies = [answer_created(n, "app", created_at) for n in range(events)]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/incoming",
        "raw_path": b"/incoming",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"691")],
        "client": ("127.0.0.1", 50000),
    }

    async def send(message: Any) -> None:
        return None

    started_s = time.process_time()
    for body in bodies:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive(messages: list[dict[str, Any]] = messages) -> dict[str, Any]:
            return messages.pop()

        await app(dict(scope), receive, send)
    cpu_s = time.process_time() - started_s
    if state is not None:
        await state.close()
    receiver.recorder.close()
    return 1e6 * cpu_s / events


class _FakeTransport(asyncio.Transport):
    """A connection from 127.0.0.1 that keeps what the server writes and never blocks."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self.written = 0
        self.closed = False
        self._extra = {"peername": ("127.0.0.1", port), "sockname": ("127.0.0.1", 8000)}

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += len(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None


async def http_cpu_us_per_event(events: int, out_dir: Path, connections: int) -> float:
    """CPU per event with uvicorn's protocol in front of the app (see the module's doc)."""
    app = create_receiver_app(ReceiverSettings(out_dir=out_dir))
    receiver = app.state.receiver
    receiver.recorder.open()
    state = getattr(receiver, "state", None)
    if state is not None:
        await state.start()
    config = uvicorn_config(app, "127.0.0.1", 8000)
    config.load()
    server_state = uvicorn.server.ServerState()
    # As uvicorn's main loop sets them once a second.
    date_header = [(b"date", formatdate(usegmt=True).encode())]
    server_state.default_headers = date_header + config.encoded_headers
    protocols = []
    for n in range(connections):
        protocol = config.http_protocol_class(  # type: ignore[call-arg]
            config=config, server_state=server_state, app_state={}
        )
        protocol.connection_made(_FakeTransport(50000 + n))
        protocols.append(protocol)
    created_at = iso_from_ns(now_ns())
    head = (
        b"POST /incoming HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n"
        b"Accept-Encoding: gzip, deflate\r\nUser-Agent: Python/3.11 aiohttp/3.13\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    )
    requests = [
        head % len(body) + body
        for body in (answer_created(n, "app", created_at) for n in range(events))
    ]
    started_s = time.process_time()
    for first in range(0, events, connections):
        for protocol, request in zip(
            protocols, requests[first : first + connections], strict=False
        ):
            protocol.data_received(request)
        while server_state.tasks:  # every request of this turn answered
            await asyncio.sleep(0)
    cpu_s = time.process_time() - started_s
    for protocol in protocols:
        protocol.connection_lost(None)
    if state is not None:
        await state.close()
    receiver.recorder.close()
    written = receiver.recorder.events.records
    if written != events:
        raise SystemExit(f"{written} events recorded of {events}")
    return 1e6 * cpu_s / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--http", action="store_true", help="through uvicorn's HTTP protocol")
    parser.add_argument("--connections", type=int, default=16, help="with --http")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-receiver-app-") as tmp:
        if args.http:
            cpu_us = uvloop.run(http_cpu_us_per_event(args.events, Path(tmp), args.connections))
        else:
            cpu_us = asyncio.run(cpu_us_per_event(args.events, Path(tmp)))
        print(f"{cpu_us:.2f}")


if __name__ == "__main__":
    main()
