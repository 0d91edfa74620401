"""The mock's lean outbound client against a real uvicorn/Starlette server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

import pytest
import uvloop
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from dumgum_loadtest.mock.http_client import (
    FastHttpClient,
    MockHttpClient,
    OutboundError,
)
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.integration

T = TypeVar("T")
BIG_BODY_BYTES = 200_000


async def _json(request: Request) -> Response:
    query = request.url.query.encode()
    return Response(b'{"query": "' + query + b'"}', media_type="application/json")


async def _echo(request: Request) -> Response:
    body = await request.body()
    marker = request.headers.get("x-marker", "")
    return Response(body, status_code=201, headers={"x-marker": marker})


async def _chunked(request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for index in range(5):
            yield b"part%d;" % index

    return StreamingResponse(parts())


async def _slow(request: Request) -> Response:
    await asyncio.sleep(2.0)
    return Response(b"late")


async def _close(request: Request) -> Response:
    return Response(b"bye", headers={"Connection": "close"})


async def _big(request: Request) -> Response:
    return Response(b"x" * BIG_BODY_BYTES)


async def _status(request: Request) -> Response:
    return Response(b"nope", status_code=503)


APP = Starlette(
    routes=[
        Route("/json", _json),
        Route("/echo", _echo, methods=["POST"]),
        Route("/chunked", _chunked),
        Route("/slow", _slow),
        Route("/close", _close),
        Route("/big", _big),
        Route("/status", _status),
    ]
)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with BackgroundServer(APP) as server:
        yield server.url


def _run(make: Callable[[FastHttpClient], Awaitable[T]], **options: int | float) -> T:
    async def main() -> T:
        client = FastHttpClient(8, **options)  # type: ignore[arg-type]
        try:
            return await make(client)
        finally:
            await client.close()

    return asyncio.run(main())


def test_content_length_response_and_keep_alive_reuse(base_url: str) -> None:
    async def calls(client: FastHttpClient) -> tuple[list[bytes], int]:
        bodies = []
        for index in range(5):
            response = await client.request("GET", f"{base_url}/json?n={index}&q=a+b", timeout_s=5)
            assert response.status == 200
            bodies.append(response.body)
        return bodies, client.connections_opened

    bodies, opened = _run(calls)
    assert bodies == [b'{"query": "n=%d&q=a+b"}' % i for i in range(5)]
    assert opened == 1


def test_post_sends_body_and_headers(base_url: str) -> None:
    async def call(client: FastHttpClient) -> tuple[int, bytes]:
        response = await client.request(
            "POST",
            f"{base_url}/echo",
            body=b'{"event": "answer.created"}',
            headers={"Content-Type": "application/json", "X-Marker": "s3cret"},
            timeout_s=5,
        )
        return response.status, response.body

    assert _run(call) == (201, b'{"event": "answer.created"}')


def test_chunked_response(base_url: str) -> None:
    async def call(client: FastHttpClient) -> bytes:
        first = await client.request("GET", f"{base_url}/chunked", timeout_s=5)
        again = await client.request("GET", f"{base_url}/chunked", timeout_s=5)
        assert first.body == again.body
        assert client.connections_opened == 1
        return first.body

    assert _run(call) == b"part0;part1;part2;part3;part4;"


def test_non_2xx_status_is_returned(base_url: str) -> None:
    async def call(client: FastHttpClient) -> int:
        return (await client.request("GET", f"{base_url}/status", timeout_s=5)).status

    assert _run(call) == 503


def test_total_timeout_closes_the_connection(base_url: str) -> None:
    async def call(client: FastHttpClient) -> int:
        with pytest.raises(TimeoutError):
            await client.request("GET", f"{base_url}/slow", timeout_s=0.2)
        response = await client.request("GET", f"{base_url}/json", timeout_s=5)
        assert response.status == 200
        return client.connections_opened

    assert _run(call) == 2  # the timed-out connection was not reused


def test_connection_close_from_the_server(base_url: str) -> None:
    async def call(client: FastHttpClient) -> int:
        for _ in range(3):
            response = await client.request("GET", f"{base_url}/close", timeout_s=5)
            assert response.body == b"bye"
        assert client.idle_connections() == 0
        return client.connections_opened

    assert _run(call) == 3


def test_response_over_the_limit_is_refused(base_url: str) -> None:
    async def call(client: FastHttpClient) -> int:
        with pytest.raises(OutboundError, match="over"):
            await client.request("GET", f"{base_url}/big", timeout_s=5)
        assert client.idle_connections() == 0
        return (await client.request("GET", f"{base_url}/json", timeout_s=5)).status

    assert _run(call, max_response_bytes=BIG_BODY_BYTES - 1) == 200


def test_concurrent_requests_stay_within_the_connection_limit(base_url: str) -> None:
    async def call(client: FastHttpClient) -> tuple[list[bytes], int]:
        responses = await asyncio.gather(
            *(client.request("GET", f"{base_url}/json?i={i}", timeout_s=10) for i in range(200))
        )
        return [r.body for r in responses], client.connections_opened

    bodies, opened = _run(call)
    assert bodies == [b'{"query": "i=%d"}' % i for i in range(200)]
    assert 1 <= opened <= 8


def test_refused_connection_and_bad_urls() -> None:
    port = free_port()

    async def call(client: FastHttpClient) -> None:
        with pytest.raises(OutboundError, match="connect"):
            await client.request("GET", f"http://127.0.0.1:{port}/x", timeout_s=5)
        with pytest.raises(OutboundError, match="http://"):
            await client.request("GET", "https://127.0.0.1/x", timeout_s=5)
        with pytest.raises(OutboundError, match="unquoted"):
            await client.request("GET", "http://127.0.0.1/x?a=b c", timeout_s=5)
        with pytest.raises(OutboundError, match="line break"):
            await client.request(
                "POST", "http://127.0.0.1/x", headers={"X-A": "v\r\nX-B: w"}, timeout_s=5
            )

    _run(call)


def _raw_server_case(reply: bytes, close_after: bool) -> Callable[[], Awaitable[object]]:
    """A server that reads one request, writes ``reply`` raw, then closes or keeps idle."""

    async def case() -> object:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                if not head:
                    break
                writer.write(reply)
                await writer.drain()
                if close_after:
                    writer.close()
                    return

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = FastHttpClient(4)
        try:
            return await client.request("GET", f"http://127.0.0.1:{port}/", timeout_s=2)
        finally:
            await client.close()
            server.close()

    return case


def test_server_closing_mid_response_is_an_error() -> None:
    truncated = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"
    with pytest.raises(OutboundError, match="closed"):
        asyncio.run(_raw_server_case(truncated, close_after=True)())  # type: ignore[arg-type]


def test_malformed_response_is_an_error() -> None:
    with pytest.raises(OutboundError, match="malformed"):
        asyncio.run(_raw_server_case(b"NOT HTTP\r\n\r\n", close_after=False)())  # type: ignore[arg-type]


def test_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def main() -> tuple[int, int]:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
            writer.close()  # no "Connection: close": the client learns it from the socket

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = FastHttpClient(4)
        try:
            statuses = 0
            for _ in range(3):
                response = await client.request("GET", f"http://127.0.0.1:{port}/", timeout_s=2)
                statuses += response.status == 200
                await asyncio.sleep(0.05)
            return statuses, client.connections_opened
        finally:
            await client.close()
            server.close()

    assert asyncio.run(main()) == (3, 3)


@pytest.mark.parametrize("kind", ["fast", "aiohttp"])
def test_mock_client_routes_by_kind(base_url: str, kind: str) -> None:
    async def main() -> tuple[int, bytes]:
        client = MockHttpClient(kind, 4)  # type: ignore[arg-type]
        try:
            response = await client.request(
                "POST", f"{base_url}/echo", body=b"{}", headers={"X-Marker": "m"}, timeout_s=5
            )
            return response.status, response.body
        finally:
            await client.close()

    assert asyncio.run(main()) == (201, b"{}")


def test_under_uvloop_as_the_mock_serves(base_url: str) -> None:
    """The mock's CLI runs on uvloop, whose transports are not asyncio.Transport subclasses."""

    async def main() -> tuple[list[int], int]:
        client = FastHttpClient(4)
        try:
            responses = await asyncio.gather(
                *(client.request("GET", f"{base_url}/chunked", timeout_s=10) for _ in range(50))
            )
            post = await client.request("POST", f"{base_url}/echo", body=b"{}", timeout_s=10)
            return [r.status for r in responses] + [post.status], client.connections_opened
        finally:
            await client.close()

    statuses, opened = uvloop.run(main())
    assert statuses == [200] * 50 + [201]
    assert 1 <= opened <= 4
