"""Size and time limits for the mock and the receiver, so one hostile client cannot hurt others.

Two layers, because uvicorn bounds neither alone:

* ``guarded_protocol``: uvicorn's httptools protocol with deadlines. A connection must finish
  its request headers within ``header_timeout_s`` of its first byte (or of connecting) and its
  body within ``body_timeout_s`` of the headers; past either it is closed. Headers larger than
  ``max_header_bytes`` are answered 431 and the connection closed. Without this a connection
  that sends nothing, or half a request, was held forever.
* ``BodyLimit``: ASGI middleware that answers 413 as soon as a body is known to exceed
  ``max_body_bytes``: at once from ``Content-Length``, else while it streams in, so at most
  the limit plus one chunk is ever held in memory.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

KIB = 1024
MIB = 1024 * KIB

TOO_LARGE = "body_too_large"
"""The key under which ``BodyLimit`` counts the bodies it refused."""


@dataclass(frozen=True)
class ServerLimits:
    """What one server accepts from one request and how long it waits for it."""

    max_body_bytes: int = MIB
    max_header_bytes: int = 64 * KIB
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    keep_alive_s: int = 5  # idle time between requests on one connection (uvicorn's default)


class BodyTooLargeError(Exception):
    """Raised from ``receive`` once a body passed the limit; ``BodyLimit`` answers 413."""


def declared_body_bytes(scope: Scope) -> int | None:
    """The request's Content-Length, or None when it declares none (a chunked body)."""
    return declared_length(scope.get("headers", ()))


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """``declared_body_bytes`` from the header list itself (names lower-cased, as uvicorn
    keeps them). The parser has already refused a duplicate or malformed Content-Length and
    one sent with Transfer-Encoding."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # uvicorn's parser refuses these before we see them
    return None


async def read_body(receive: Receive, first: Message | None = None) -> tuple[bytes, bool]:
    """The whole request body (starting with ``first`` when already received), and False
    when the client disconnected before its end."""
    chunks: list[bytes] = []
    message = first
    while True:
        if message is None:
            message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return (chunks[0] if len(chunks) == 1 else b"".join(chunks)), True
        message = None


def _too_large_response(limit_bytes: int) -> tuple[Message, Message]:
    body = orjson.dumps(
        {
            "error": "payload_too_large",
            "detail": f"The request body exceeds {limit_bytes} bytes.",
            "max_body_bytes": limit_bytes,
        }
    )
    start: Message = {
        "type": "http.response.start",
        "status": 413,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            # The rest of the body is never read: end the connection rather than drain it.
            (b"connection", b"close"),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


RefusalHook = Callable[[Scope, bool], None]
"""Called for each body refused: (the request's scope, whether the app had started on it)."""


class BodyLimit:
    """ASGI middleware: request bodies over ``max_body_bytes`` are answered 413, never read."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        refused: Counter[str] | None = None,
        on_refused: RefusalHook | None = None,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.refused: Counter[str] = refused if refused is not None else Counter()
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = declared_body_bytes(scope)
        if declared is not None:
            if declared > limit:
                await self._refuse(scope, send, app_started=False)
                return
            # The HTTP parser delivers exactly the declared length, no more: nothing to count.
            # Only a chunked body (no Content-Length) is counted as it arrives, below.
            await self.app(scope, receive, send)
            return
        received_bytes = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received_bytes
            message = await receive()
            if message["type"] == "http.request":
                received_bytes += len(message.get("body", b""))
                if received_bytes > limit:
                    raise BodyTooLargeError(f"request body over {limit} bytes")
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracked_send)
        except BodyTooLargeError:
            if response_started:
                raise
            await self._refuse(scope, send, app_started=True)

    async def _refuse(self, scope: Scope, send: Send, *, app_started: bool) -> None:
        self.refused[TOO_LARGE] += 1
        if self.on_refused is not None:
            self.on_refused(scope, app_started)
        start, body = _too_large_response(self.max_body_bytes)
        await send(start)
        await send(body)


_HEADERS_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"content-length: 31\r\n"
    b"connection: close\r\n\r\n"
    b"Request header fields too large"
)


class _GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines and a header size cap.

    A deadline is a number (``_deadline_at``, loop time) that each stage of a request moves:
    the head, the body, and the idle wait for the next request on a kept-alive connection
    (uvicorn's ``timeout_keep_alive``). One timer per connection checks it when it fires and,
    if the deadline moved later, waits again. A timer armed and cancelled per stage, as
    before, cost about 1.8 µs of CPU each (three per request); moving a number costs one
    ``loop.time()``. A connection is still closed within a few ms of its deadline.
    """

    limits: ServerLimits = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline_at: float | None = None  # loop time the current stage must end by
        self._timer: asyncio.TimerHandle | None = None  # the one check pending, if any
        self._timer_at = 0.0  # loop time that check fires at
        self._awaiting_headers = True
        self._header_bytes = 0
        self._idle = False  # answered, waiting for the next request (keep-alive)
        self._began_in_read = False  # a request began in the read being parsed

    def _arm(self, delay_s: float) -> None:
        deadline_at = self.loop.time() + delay_s
        self._deadline_at = deadline_at
        if self._timer is None or self._timer_at > deadline_at:
            self._check_at(deadline_at)

    def _disarm(self) -> None:
        # The pending check, if any, fires later and finds no deadline.
        self._deadline_at = None

    def _check_at(self, when_s: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = when_s
        self._timer = self.loop.call_at(when_s, self._check_deadline)

    def _check_deadline(self) -> None:
        self._timer = None
        deadline_at = self._deadline_at
        if deadline_at is None:
            return  # no stage pending: the next one to start schedules a check
        if self.loop.time() < deadline_at:
            self._check_at(deadline_at)  # the deadline moved on since this check was set
            return
        self._deadline_at = None
        # Too slow: the client gets no answer (the app, if running, sees a disconnect).
        if not self.transport.is_closing():
            self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # A client that connects and sends nothing is held this long, not forever.
        self._arm(self.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def _unset_keepalive_if_required(self) -> None:
        # uvicorn calls this when data arrives: the idle wait is over.
        if self._idle:
            self._idle = False
            self._disarm()
        super()._unset_keepalive_if_required()  # no timer of uvicorn's is ever set

    def on_response_complete(self) -> None:
        # uvicorn 0.54's, except that the idle wait moves the deadline instead of arming a
        # timer of its own for every request.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:  # a request that came in while this one was answered
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        elif self._deadline_at is None:  # else the next request's head has a deadline already
            self._idle = True
            self._arm(self.timeout_keep_alive)

    def data_received(self, data: bytes) -> None:
        counting = self._awaiting_headers
        self._began_in_read = False
        super().data_received(data)
        # Judged after parsing: a chunk that completes the headers may carry body bytes too.
        # A read in which a request began is not counted: it may hold whole requests before
        # that head (a pipelining client), and a head that never ends is caught one read
        # later, since every read of it after the first counts whole.
        if counting and self._awaiting_headers and not self._began_in_read:
            self._header_bytes += len(data)
            if self._header_bytes > self.limits.max_header_bytes:
                self._disarm()
                if not self.transport.is_closing():
                    self.transport.write(_HEADERS_TOO_LARGE)
                    self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._awaiting_headers = True
        self._header_bytes = 0
        self._began_in_read = True
        if self._idle:
            # Answered within the same read as the request before it (pipelined): the idle
            # wait ends here, not at the next read, and the head gets its own deadline.
            self._idle = False
            self._deadline_at = None
        if self._deadline_at is None:  # else the deadline from connecting still runs
            self._arm(self.limits.header_timeout_s)

    def _headers_done(self) -> None:
        self._awaiting_headers = False
        self._arm(self.limits.body_timeout_s)

    def on_headers_complete(self) -> None:
        self._headers_done()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol]:
    """A uvicorn ``http`` protocol class that enforces ``limits`` (see the module's doc)."""
    return type("GuardedHttpToolsProtocol", (_GuardedHttpToolsProtocol,), {"limits": limits})
