"""The mock's outbound HTTP: a lean keep-alive HTTP/1.1 client for ``http://``, aiohttp otherwise.

The mock makes five outbound exchanges per enqueue (chat history, two profiles, two webhooks),
all to the customer's endpoints. Under aiohttp each costs about 100 µs of CPU, close to half
of the mock's core (benchmarks/RESULTS-mock.md). ``FastHttpClient`` does only what those calls
need: one request written in one ``write``, the response parsed by ``httptools`` (llhttp, the
parser uvicorn uses), Content-Length and chunked bodies, a per-host pool of idle keep-alive
connections under one overall connection limit, a connect and a total timeout, a bounded
response body. A connection is closed on any error, on a timeout, and when the server says
``Connection: close``. No TLS, redirects, cookies, proxies or compression: ``https://`` URLs,
and every URL when ``delivery.http_client`` is ``aiohttp``, go through ``AiohttpClient``.

Call sites use ``OutboundClient.request``; it raises ``OutboundError`` (or ``TimeoutError``)
when no complete response arrived, and returns the status and body otherwise.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Literal, Protocol, cast

import aiohttp
import httptools
from yarl import URL

HttpClientKind = Literal["fast", "aiohttp"]
Method = Literal["GET", "POST"]

DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024
DEFAULT_CONNECT_TIMEOUT_S = 5.0
_UNSAFE_IN_TARGET = frozenset(" \r\n\t")


class OutboundError(Exception):
    """No complete response: refused, reset, malformed, or over the body limit."""


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    body: bytes


class OutboundClient(Protocol):
    async def request(
        self,
        method: Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float,
    ) -> HttpResponse: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Origin:
    host: str
    port: int
    host_header: bytes  # "host" or "host:port", as the Host header carries it


class _Connection(asyncio.Protocol):
    """One TCP connection; one exchange at a time; the response parsed as bytes arrive."""

    def __init__(self, max_response_bytes: int) -> None:
        self._max_response_bytes = max_response_bytes
        # One parser for the connection's life: llhttp starts the next message after each
        # complete keep-alive response; after any error the connection is closed.
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep_alive = False
        self._waiter: asyncio.Future[HttpResponse] | None = None
        self._deadline_timer: asyncio.TimerHandle | None = None
        self._chunks: list[bytes] = []
        self._body_bytes = 0
        self._status = 0

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A cast, not isinstance: uvloop's TCPTransport does not subclass asyncio.Transport.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.close()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as error:
            self._fail(OutboundError(f"malformed response: {error}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._fail(OutboundError("connection closed before the response was complete"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self.keep_alive = self._parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._max_response_bytes:
            self._fail(OutboundError(f"response body over {self._max_response_bytes} bytes"))
            return
        self._chunks.append(body)

    def on_message_complete(self) -> None:
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        self._waiter = None
        self._disarm()
        if not self.keep_alive:
            self.close()
        chunks = self._chunks
        waiter.set_result(
            HttpResponse(self._status, chunks[0] if len(chunks) == 1 else b"".join(chunks))
        )

    # the client's side
    def send(
        self, request: bytes, loop: asyncio.AbstractEventLoop, deadline: float
    ) -> asyncio.Future[HttpResponse]:
        """Write ``request``; the future fails with TimeoutError at ``deadline`` (loop time).

        One timer handle per exchange, not an ``asyncio.timeout`` block: that one costs a
        context manager, a reschedule and task bookkeeping on every call.
        """
        if self.transport is None or self.closed:
            raise OutboundError("connection not open")
        self._chunks = []
        self._body_bytes = 0
        self.keep_alive = False
        waiter = loop.create_future()
        self._waiter = waiter
        self._deadline_timer = loop.call_at(deadline, self._deadline_passed)
        self.transport.write(request)
        return waiter

    def _deadline_passed(self) -> None:
        self._deadline_timer = None
        self._fail(TimeoutError())

    def _disarm(self) -> None:
        if self._deadline_timer is not None:
            self._deadline_timer.cancel()
            self._deadline_timer = None

    def _fail(self, error: BaseException) -> None:
        waiter = self._waiter
        self._waiter = None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def usable(self) -> bool:
        """Idle, open, and not being closed (the server may have closed it while idle)."""
        transport = self.transport
        return not self.closed and transport is not None and not transport.is_closing()

    def close(self) -> None:
        self.closed = True
        self._disarm()
        if self.transport is not None:
            self.transport.close()


class _Slots:
    """At most ``limit`` exchanges at once, first come first served: a counter while a slot is
    free, a queued future only when none is (``asyncio.Semaphore`` costs more per call)."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Take a slot; TimeoutError if none came free by ``deadline`` (loop time)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        timer = loop.call_at(deadline, _time_out, waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # granted as the wait ended: pass it on
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        finally:
            timer.cancel()

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter as it is
                return
        self._free += 1


def _time_out(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _encode_headers(headers: dict[str, str]) -> bytes:
    """Each header as ``\\r\\nName: value``; a CR or LF in either would split the request."""
    lines = []
    for name, value in headers.items():
        if _UNSAFE_IN_TARGET.intersection(name) or "\r" in value or "\n" in value:
            raise OutboundError(f"header {name!r} holds whitespace or a line break")
        lines.append(f"\r\n{name}: {value}")
    return "".join(lines).encode("latin-1")


class FastHttpClient:
    """Keep-alive HTTP/1.1 for ``http://`` URLs; see the module's docstring for its scope."""

    def __init__(
        self,
        connection_limit: int,
        *,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._slots = _Slots(connection_limit)
        self._connect_timeout_s = connect_timeout_s
        self._max_response_bytes = max_response_bytes
        self._idle: dict[_Origin, collections.deque[_Connection]] = {}
        self._origins: dict[str, tuple[_Origin, str]] = {}  # URL before "?" -> origin, path
        self._closed = False
        self.connections_opened = 0

    async def request(
        self,
        method: Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float,
    ) -> HttpResponse:
        if self._closed:
            raise OutboundError("client closed")
        origin, target = self._parse(url)
        head = [f"{method} {target} HTTP/1.1\r\nHost: ".encode(), origin.host_header]
        if headers:
            head.append(_encode_headers(headers))
        if body is not None or method == "POST":
            head.append(b"\r\nContent-Length: %d" % len(body or b""))
        head.append(b"\r\n\r\n")
        if body:
            head.append(body)
        request = b"".join(head)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        await self._slots.acquire(loop, deadline)
        try:
            connection = self._idle_connection(origin)
            if connection is None:
                async with asyncio.timeout_at(deadline):
                    connection = await self._connect(loop, origin)
            try:
                response = await connection.send(request, loop, deadline)
            except BaseException:  # timeout or cancellation mid-exchange: state unknown
                connection.close()
                raise
        finally:
            self._slots.release()
        if connection.keep_alive and not connection.closed and not self._closed:
            pool = self._idle.get(origin)
            if pool is None:
                pool = self._idle[origin] = collections.deque()
            pool.append(connection)
        else:
            connection.close()
        return response

    async def close(self) -> None:
        self._closed = True
        for pool in self._idle.values():
            while pool:
                pool.pop().close()
        self._idle.clear()

    def idle_connections(self) -> int:
        return sum(len(pool) for pool in self._idle.values())

    def _idle_connection(self, origin: _Origin) -> _Connection | None:
        pool = self._idle.get(origin)
        while pool:
            connection = pool.pop()  # the most recent: least likely closed by the server
            if connection.usable():
                return connection
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: _Origin) -> _Connection:
        max_bytes = self._max_response_bytes
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                _, connection = await loop.create_connection(
                    lambda: _Connection(max_bytes), origin.host, origin.port
                )
        except OSError as error:
            raise OutboundError(f"connect to {origin.host}:{origin.port}: {error}") from error
        self.connections_opened += 1
        return connection

    def _parse(self, url: str) -> tuple[_Origin, str]:
        base, question, query = url.partition("?")
        known = self._origins.get(base)
        if known is None:
            parsed = URL(base)  # quotes the path as aiohttp would
            if parsed.scheme != "http" or not parsed.raw_host:
                raise OutboundError(f"not an http:// URL: {url}")
            port = parsed.port or 80
            host_header = (
                parsed.raw_host if parsed.is_default_port() else f"{parsed.raw_host}:{port}"
            )
            origin = _Origin(parsed.raw_host, port, host_header.encode("ascii"))
            known = self._origins[base] = (origin, parsed.raw_path or "/")
        if " " in query or "\r" in query or "\n" in query or "\t" in query:  # _UNSAFE_IN_TARGET
            raise OutboundError(f"unquoted query in {url!r}")
        origin, path = known
        return origin, f"{path}{question}{query}"


class AiohttpClient:
    """The same interface over an aiohttp session: https, and the fallback for every URL."""

    def __init__(
        self, connection_limit: int, *, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    ) -> None:
        connector = aiohttp.TCPConnector(limit=connection_limit)
        # The customer's cookies are never sent back: no jar to update and filter per call.
        self._session = aiohttp.ClientSession(
            connector=connector, cookie_jar=aiohttp.DummyCookieJar()
        )
        self._max_response_bytes = max_response_bytes
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def request(
        self,
        method: Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float,
    ) -> HttpResponse:
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            timeout = self._timeouts[timeout_s] = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=timeout
            ) as response:
                chunks: list[bytes] = []
                size_bytes = 0
                async for chunk in response.content.iter_any():
                    size_bytes += len(chunk)
                    if size_bytes > self._max_response_bytes:
                        raise OutboundError(f"response body over {self._max_response_bytes} bytes")
                    chunks.append(chunk)
                return HttpResponse(response.status, b"".join(chunks))
        except aiohttp.ClientError as error:
            raise OutboundError(str(error)) from error

    async def close(self) -> None:
        await self._session.close()


class MockHttpClient:
    """What the call sites hold: the fast client for ``http://`` when chosen, else aiohttp."""

    def __init__(self, kind: HttpClientKind, connection_limit: int) -> None:
        self._fast = FastHttpClient(connection_limit) if kind == "fast" else None
        self._aiohttp = AiohttpClient(connection_limit)

    def request(
        self,
        method: Method,
        url: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float,
    ) -> Coroutine[None, None, HttpResponse]:
        """The chosen client's ``request`` coroutine, handed on rather than awaited here:
        one coroutine frame less on each of the five exchanges per enqueue."""
        if self._fast is not None and url.startswith("http://"):
            return self._fast.request(method, url, body=body, headers=headers, timeout_s=timeout_s)
        return self._aiohttp.request(method, url, body=body, headers=headers, timeout_s=timeout_s)

    async def close(self) -> None:
        if self._fast is not None:
            await self._fast.close()
        await self._aiohttp.close()
