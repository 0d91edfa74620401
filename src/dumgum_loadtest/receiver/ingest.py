"""The webhook endpoints' hot path: record the raw body, then answer, as a bare ASGI app.

Starlette's routing, request and response objects cost about a third of the throughput on
this path (measured on this project's 2-core machine), so POSTs to the webhook paths bypass
them through ``WebhookFastPath``; only ``orjson`` touches the body.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from dumgum_loadtest.clock import now_ns
from dumgum_loadtest.direct_route import DirectAnswer
from dumgum_loadtest.limits import MIB, read_body
from dumgum_loadtest.receiver.recorder import JsonlShard, event_line, invalid_event_line

NO_EVENT_NAME = "(none)"
"""Counted for valid JSON that carries no ``event`` string."""

# nginx's "client closed request": the sender left mid-body, so no status was ever answered.
CLIENT_CLOSED_STATUS = 499

EventHook = Callable[[str, Any, int], Awaitable[None]]
"""Awaited after a valid event was recorded, before its answer: (event name, body, recv_ns)."""

EventHookNow = Callable[[str, Any, int], None]
"""The same hook when it needs no waiting (in-process state): the event can be answered
inside the HTTP protocol (``direct_route``)."""

_NO_CONTENT = DirectAnswer(204)


def _invalid_json_answer(error: orjson.JSONDecodeError) -> DirectAnswer:
    message = {"error": f"the body is not valid JSON ({error}); send one JSON event object"}
    body = orjson.dumps(message)
    headers = ((b"content-type", b"application/json"), (b"content-length", b"%d" % len(body)))
    return DirectAnswer(400, headers, body)


class EventEndpoint:
    """``POST`` handler that appends every body it receives to ``shard``, then answers.

    Valid JSON is answered 204 and embedded verbatim in the record; anything else is answered
    400 and kept as a string. The record is written before the answer, so a 2xx always means
    the event is in the file; if the write fails, the event is answered no 2xx (the server
    answers 500).

    Served two ways with the same answers: as a bare ASGI app (``__call__``), and as a direct
    route (``answer``), which the server calls from its parser callbacks with the whole body
    when the hook can run without waiting (``on_event_now``, or no hook at all).
    """

    method = b"POST"

    def __init__(
        self,
        endpoint: str,
        shard: JsonlShard,
        counts: Counter[str],
        on_event: EventHook | None = None,
        *,
        on_event_now: EventHookNow | None = None,
        max_body_bytes: int = MIB,
    ) -> None:
        self.endpoint = endpoint
        self._endpoint_bytes = endpoint.encode()
        self._shard = shard
        self._counts = counts
        self._on_event = on_event
        self._on_event_now = on_event_now
        self.max_body_bytes = max_body_bytes
        self.invalid_bodies = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        recv_ns = now_ns()
        message = await receive()
        if message["type"] == "http.request" and not message.get("more_body", False):
            body, complete = message.get("body", b""), True  # the usual case: one message
        else:
            body, complete = await read_body(receive, message)
        if not complete:
            self._record_invalid(recv_ns, CLIENT_CLOSED_STATUS, body)
            return
        recorded = self._record(recv_ns, body)
        if isinstance(recorded, DirectAnswer):
            answer = recorded
        else:
            if self._on_event is not None:
                await self._on_event(*recorded, recv_ns)
            answer = _NO_CONTENT
        await send(
            {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        )
        await send({"type": "http.response.body", "body": answer.body})

    # the direct route
    def takes(self) -> bool:
        return self._on_event is None or self._on_event_now is not None

    def answer(self, headers: list[tuple[bytes, bytes]], body: bytes) -> DirectAnswer:
        recv_ns = now_ns()
        recorded = self._record(recv_ns, body)
        if isinstance(recorded, DirectAnswer):
            return recorded
        if self._on_event_now is not None:
            self._on_event_now(*recorded, recv_ns)
        return _NO_CONTENT

    def cut_short(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self._record_invalid(now_ns(), CLIENT_CLOSED_STATUS, body)  # as the ASGI way does

    def _record(self, recv_ns: int, body: bytes) -> DirectAnswer | tuple[str, Any]:
        """The body in the shard: its (event name, document), or the 400 answer."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self._record_invalid(recv_ns, 400, body)
            return _invalid_json_answer(exc)
        self._shard.append(event_line(recv_ns, self._endpoint_bytes, 204, body))
        name = document.get("event") if isinstance(document, dict) else None
        if not isinstance(name, str):
            name = NO_EVENT_NAME
        self._counts[name] += 1
        return name, document

    def _record_invalid(self, recv_ns: int, status: int, body: bytes) -> None:
        self.invalid_bodies += 1
        self._shard.append(invalid_event_line(recv_ns, self.endpoint, status, body))


class WebhookFastPath:
    """ASGI middleware: a POST to a webhook path goes straight to its endpoint.

    It skips Starlette's exception middleware and router, about 20 µs of CPU per event
    (measured in process); every other request goes through Starlette as usual.
    """

    def __init__(self, app: ASGIApp, endpoints: Mapping[str, ASGIApp]) -> None:
        self.app = app
        self.endpoints = dict(endpoints)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
