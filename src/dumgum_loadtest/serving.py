"""Run an ASGI app with uvicorn: in the foreground (CLI) or in a background thread (tests, demo)."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import threading
import time
from collections.abc import Mapping
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp

from dumgum_loadtest.direct_route import DirectRoute, direct_protocol
from dumgum_loadtest.errors import TargetError
from dumgum_loadtest.limits import ServerLimits, guarded_protocol


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def check_port_free(host: str, port: int, option: str = "--port") -> None:
    """Refuse, before anything is announced, a port another process listens on (or one this
    host cannot bind): a usage error naming the address."""
    if not 0 <= port <= 65535:
        raise TargetError(f"{option} {port}: not a TCP port; give 1..65535 (0: any free port)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with contextlib.closing(socket.socket(family, socket.SOCK_STREAM)) as sock:
        # As uvicorn binds: a port left in TIME_WAIT by an earlier server is reusable.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise TargetError(
                    f"{option} {port}: {host}:{port} is already taken by another process;"
                    " stop it or choose another port"
                ) from exc
            raise TargetError(
                f"{option} {port}: cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from exc


def uvicorn_config(
    app: ASGIApp,
    host: str,
    port: int,
    log_level: str = "warning",
    limits: ServerLimits | None = None,
) -> uvicorn.Config:
    """The settings measured fastest on this project's 2-core machine: uvloop, httptools, no
    access log, no ``server`` header (one header less to validate and write on every answer),
    with deadlines on headers and bodies (``limits.guarded_protocol``).

    Proxy headers stay on: they make a request relayed by a local proxy or tunnel count as
    its real client, which the receiver's loopback-only control API relies on.

    An app with a ``direct_routes`` attribute (the receiver's webhooks) has those routes
    answered inside the HTTP protocol where they can be (``direct_route``'s docstring)."""
    limits = limits or ServerLimits()
    routes: Mapping[bytes, DirectRoute] | None = getattr(app, "direct_routes", None)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="uvloop",
        http=guarded_protocol(limits) if not routes else direct_protocol(limits, routes),
        timeout_keep_alive=limits.keep_alive_s,
        access_log=False,
        server_header=False,
        log_level=log_level,
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


def serve_forever(
    app: ASGIApp,
    host: str,
    port: int,
    log_level: str = "warning",
    limits: ServerLimits | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    try:
        uvicorn.Server(uvicorn_config(app, host, port, log_level, limits)).run()
    except OSError as exc:
        raise TargetError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
        ) from exc


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread, for tests and the demo.

    >>> with BackgroundServer(app) as server:
    ...     httpx.get(server.url + "/health")
    """

    def __init__(
        self,
        app: ASGIApp,
        host: str = "127.0.0.1",
        port: int | None = None,
        limits: ServerLimits | None = None,
    ) -> None:
        self.host = host
        self.port = port if port is not None else free_port(host)
        config = uvicorn_config(app, self.host, self.port, limits=limits)
        config.loop = "asyncio"  # uvloop's policy is process-wide; keep threads independent
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        asyncio.run(self._server.serve())

    def start(self, timeout_s: float = 10.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise TargetError(f"server on {self.url} did not start within {timeout_s} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout_s)

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
