"""The HTTP calls a worker makes, on geventhttpclient directly.

Locust's ``FastHttpSession`` builds a response wrapper, a cookie jar lookup and a request
event per call; the enqueue path needs none of it, and the open model needs a connection
pool as large as ``max_in_flight``. Each call here is one pooled keep-alive request whose
body is read to the end. The request event is fired by the caller, once, with the timings
it records.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from geventhttpclient import HTTPClient
from geventhttpclient.response import HTTPSocketPoolResponse
from geventhttpclient.url import URL

from dumgum_loadtest.loadtest.routing import shard_index
from dumgum_loadtest.mock import ENQUEUE_PATH

CONNECT_TIMEOUT_S = 5.0
ENQUEUE_TIMEOUT_S = 30.0
WAIT_POLL_S = 20.0
"""Longest single long-poll to the receiver; a longer wait polls again."""


class StatusError(Exception):
    """An HTTP status the enqueue endpoint should not answer (reported to Locust as a failure)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def _client(base_url: str, concurrency: int, network_timeout_s: float) -> Any:
    return HTTPClient.from_url(
        URL(base_url),
        concurrency=concurrency,
        connection_timeout=CONNECT_TIMEOUT_S,
        network_timeout=network_timeout_s,
    )


class EnqueueClient:
    """``POST`` enqueue bodies to the target with the bearer token, on a pool of connections.

    The request head is built once: only Content-Length changes between requests. Building
    it per request (``HTTPClient.request``: header objects, validation) was about a tenth of
    the generator's CPU at capacity (py-spy). The pooled sockets and the response parser are
    geventhttpclient's own; the pool is reached through ``HTTPClient._connection_pool``
    (geventhttpclient is pinned in the lock file, and the integration tests use this path).
    """

    def __init__(self, base_url: str, token: str, concurrency: int) -> None:
        url = URL(base_url)
        if any(char in token for char in "\r\n\0") or not token.isprintable():
            raise ValueError("the token contains control characters; check DUMGUM_LOADTEST_TOKEN")
        self.path = url.path.rstrip("/") + ENQUEUE_PATH
        self.url = base_url.rstrip("/") + ENQUEUE_PATH
        self._client = _client(base_url, concurrency, ENQUEUE_TIMEOUT_S)
        self._pool = self._client._connection_pool
        host = url.host if ":" not in url.host else f"[{url.host}]"
        if url.port not in (80, 443):
            host = f"{host}:{url.port}"
        self._head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: dumgum-loadtest\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
            "Content-Length: "
        ).encode("latin-1")

    def post(self, body: bytes) -> tuple[int, int]:
        """(status, response length); raises on a transport error."""
        pool = self._pool
        sock = pool.get_socket()
        try:
            sock.sendall(b"".join((self._head, str(len(body)).encode(), b"\r\n\r\n", body)))
        except BaseException:
            pool.release_socket(sock)
            raise
        # Parses the head; on any error it releases the socket itself.
        response = HTTPSocketPoolResponse(sock, pool, method="POST")
        try:
            content = response.read()
        finally:
            response.release()  # back to the pool when keep-alive, closed otherwise
        return response.status_code, len(content)

    def for_pair(self, user_id: str, persona_id: str) -> EnqueueClient:
        """The client that sends this pair's requests: this one (a single target)."""
        return self

    def close(self) -> None:
        self._client.close()


class ShardedEnqueueClient:
    """Enqueues to several mock processes, each pair always to the same one (``routing``).

    ``url`` (the name Locust's statistics show) is the first process's enqueue URL.
    """

    def __init__(self, base_urls: list[str], token: str, concurrency: int) -> None:
        if not base_urls:
            raise ValueError("no mock URL to route to")
        self._clients = [EnqueueClient(url, token, concurrency) for url in base_urls]
        self.url = self._clients[0].url

    def for_pair(self, user_id: str, persona_id: str) -> EnqueueClient:
        return self._clients[shard_index(user_id, persona_id, len(self._clients))]

    def close(self) -> None:
        for client in self._clients:
            client.close()


EnqueueTarget = EnqueueClient | ShardedEnqueueClient
"""What the users send enqueues through: one target, or the mock's processes by pair."""


class ReceiverClient:
    """The receiver's harness endpoints: the turn-end long-poll and user-message registration."""

    def __init__(self, base_url: str, concurrency: int) -> None:
        self.base_url = base_url.rstrip("/")
        self._prefix = URL(base_url).path.rstrip("/")
        self._client = _client(base_url, concurrency, WAIT_POLL_S + 10.0)

    def wait_for_turn_end(
        self, user_id: str, persona_id: str, after_ns: int, timeout_s: float
    ) -> tuple[str, int] | None:
        """(event, recv_ns) of the pair's first terminal event after ``after_ns``; None: timeout."""
        query = urlencode(
            {
                "userProfileId": user_id,
                "personaProfileId": persona_id,
                "after_ns": after_ns,
                "timeout_s": f"{min(timeout_s, WAIT_POLL_S):.3f}",
            }
        )
        response = self._client.get(f"{self._prefix}/_receiver/wait?{query}")
        try:
            content = response.read()
        finally:
            response.release()
        if response.status_code == 204:
            return None
        if response.status_code != 200:
            raise StatusError(response.status_code)
        document = orjson.loads(content)
        return str(document["event"]), int(document["recv_ns"])

    def register_messages(self, messages: list[dict[str, Any]]) -> int:
        response = self._client.post(
            f"{self._prefix}/_receiver/messages",
            body=orjson.dumps(messages),
            headers={"Content-Type": "application/json"},
        )
        try:
            response.read()
        finally:
            response.release()
        return int(response.status_code)

    def close(self) -> None:
        self._client.close()
