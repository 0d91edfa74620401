"""Hot routes answered inside the HTTP protocol, without an ASGI request.

uvicorn turns every request into an ASGI cycle: a scope, a ``RequestResponseCycle`` with its
``asyncio.Event``, a task, the receive and send messages, and a check of every response
header. For the receiver's webhooks, whose whole work is to record a body and answer 204,
that machinery costs more than the recording (benchmarks/RESULTS-receiver.md).

An app offers ``direct_routes``: ``DirectRoute`` objects by path. A request to one, with the
route's method, is collected by the parser's callbacks and answered by
``route.answer(headers, body)`` in one write, as soon as its body is complete, when all of
these hold:

* it declares a ``Content-Length`` within ``route.max_body_bytes`` and no
  ``Transfer-Encoding``;
* it asks for no ``Expect: 100-continue`` and no protocol upgrade;
* no earlier request on the connection is still being answered (pipelining keeps its order);
* ``route.takes()`` says yes when its headers are in.

Every other request becomes an ASGI request as before, so the app must serve the route too:
the direct way is a shortcut, never the only way. The header and body deadlines, the header
size cap, keep-alive, ``Connection: close`` and HTTP/1.0 behave as for ASGI requests, and an
exception in ``answer`` gets uvicorn's own 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from dumgum_loadtest.limits import ServerLimits, _GuardedHttpToolsProtocol, declared_length

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DirectAnswer:
    """A whole response: status, headers beyond the server's own (``date``), body."""

    status: int
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes = b""


_INTERNAL_ERROR = DirectAnswer(
    500,
    ((b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"21")),
    b"Internal Server Error",
)


class DirectRoute(Protocol):
    """One method on one path (the request target's path, matched exactly; a query string is
    allowed)."""

    method: bytes  # b"POST"
    max_body_bytes: int

    def takes(self) -> bool:
        """Whether the request whose headers just arrived may be answered directly."""
        ...

    def answer(self, headers: list[tuple[bytes, bytes]], body: bytes) -> DirectAnswer:
        """The response; ``headers`` as received, names lower-cased."""
        ...

    def cut_short(self, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        """The connection ended before the body was complete (the client left, or was cut
        off at the body deadline): ``body`` is what had arrived. Nobody is left to answer."""
        ...


class _DirectRouteProtocol(_GuardedHttpToolsProtocol):
    """The guarded httptools protocol, with ``routes`` answered in its parser callbacks."""

    routes: ClassVar[Mapping[bytes, DirectRoute]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._route: DirectRoute | None = None  # the route of the request being read in
        self._direct_body: list[bytes] = []
        self._direct_keep_alive = True
        self._reading_held = False  # reads paused until the client takes its answers

    def _direct_route(self) -> DirectRoute | None:
        route = self.routes.get(self.url.partition(b"?")[0])
        if route is None or self.parser.get_method() != route.method:
            return None
        if self.expect_100_continue or self.parser.should_upgrade():
            return None
        if self.pipeline or (self.cycle is not None and not self.cycle.response_complete):
            return None  # an earlier request is still being answered: keep the order
        if self.limit_concurrency is not None:
            return None  # uvicorn's 503 when over the limit counts ASGI tasks
        declared = declared_length(self.headers)
        if declared is None or declared > route.max_body_bytes or not route.takes():
            return None
        return route

    def on_headers_complete(self) -> None:
        route = self._direct_route()
        if route is None:
            super().on_headers_complete()
            return
        self._headers_done()
        self._route = route
        self._direct_body = []
        self._direct_keep_alive = (
            self.parser.get_http_version() != "1.0" and self.parser.should_keep_alive()
        )

    def on_body(self, body: bytes) -> None:
        if self._route is None:
            super().on_body(body)
        else:
            self._direct_body.append(body)  # llhttp delivers no more than the declared length

    def on_message_complete(self) -> None:
        route = self._route
        if route is None:
            super().on_message_complete()
            return
        self._disarm()
        self._route = None
        chunks, self._direct_body = self._direct_body, []
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        try:
            answer = route.answer(self.headers, body)
        except Exception:
            _logger.exception("Exception in the direct route for %s", self.url.decode("latin-1"))
            answer = _INTERNAL_ERROR  # uvicorn's own, and the connection ends after it
            self._direct_keep_alive = False
        self._write_answer(answer)

    def shutdown(self) -> None:
        # uvicorn's graceful stop lets a request it has started on finish, then closes: the
        # same for a direct one still reading its body (within its body deadline).
        if self._route is not None:
            self._direct_keep_alive = False
            return
        super().shutdown()

    def connection_lost(self, exc: Exception | None) -> None:
        route = self._route
        if route is not None:  # a direct request whose body never completed
            self._route = None
            chunks, self._direct_body = self._direct_body, []
            try:
                route.cut_short(self.headers, b"".join(chunks))
            except Exception:
                _logger.exception(
                    "Exception in the direct route for %s", self.url.decode("latin-1")
                )
        super().connection_lost(exc)

    def _write_answer(self, answer: DirectAnswer) -> None:
        """As uvicorn writes a response: status line, its default headers (``date``), the
        answer's, ``connection: close`` when the connection ends, the body."""
        content = [STATUS_LINE[answer.status]]
        default_headers: list[tuple[bytes, bytes]] = self.server_state.default_headers
        for name, value in (*default_headers, *answer.headers):
            content += (name, b": ", value, b"\r\n")
        if not self._direct_keep_alive:
            content.append(b"connection: close\r\n")
        content += (b"\r\n", answer.body)
        if not self.transport.is_closing():
            self.transport.write(b"".join(content))
            if not self._direct_keep_alive:
                self.transport.close()
        self.on_response_complete()
        if self.flow.write_paused and not self.transport.is_closing():
            # A client that pipelines without reading its answers: read no more requests
            # until they drain, or the answers pile up in this process's memory.
            self._reading_held = True
            self.flow.pause_reading()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._reading_held:
            self._reading_held = False
            self.flow.resume_reading()


def direct_protocol(
    limits: ServerLimits, routes: Mapping[bytes, DirectRoute]
) -> type[_DirectRouteProtocol]:
    """A uvicorn ``http`` protocol class: ``limits`` enforced, ``routes`` answered directly."""
    attributes = {"limits": limits, "routes": dict(routes)}
    return type("DirectRouteProtocol", (_DirectRouteProtocol,), attributes)
