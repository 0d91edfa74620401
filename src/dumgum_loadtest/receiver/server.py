"""Run the receiver in the foreground, as the ``dumgum-loadtest receiver`` command does.

One process by default. With ``processes > 1`` (shared state only) this process binds that
many sockets to the port with ``SO_REUSEPORT`` (the kernel spreads new connections over
them: an even share, where one socket shared by all lets one busy process take most), forks
one serving process per socket and only watches them. Each builds its own app after the
fork, so each has its own shards (``events-<pid>.jsonl``) and its own state connection.
"""

from __future__ import annotations

import contextlib
import errno
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable, Sequence
from multiprocessing.connection import wait as wait_for_exits
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

from dumgum_loadtest.errors import TargetError
from dumgum_loadtest.processes import die_with_parent
from dumgum_loadtest.receiver.app import create_receiver_app
from dumgum_loadtest.receiver.settings import ReceiverSettings
from dumgum_loadtest.receiver.state import check_processes
from dumgum_loadtest.serving import serve_forever, uvicorn_config

LISTEN_BACKLOG = 2048  # as uvicorn's default
STOP_GRACE_S = 10.0  # a serving process has this long to close its shards after SIGTERM


def serve_receiver(
    settings: ReceiverSettings | None = None, log_level: str = "warning", processes: int = 1
) -> None:
    """Serve the receiver on ``settings.host:settings.port`` until interrupted."""
    settings = settings or ReceiverSettings()
    check_processes(processes, settings.state)
    if processes == 1:
        serve_forever(
            create_receiver_app(settings),
            settings.host,
            settings.port,
            log_level,
            settings.server_limits(),
        )
        return
    _serve_processes(settings, log_level, processes)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        taken = " (taken by another process)" if exc.errno == errno.EADDRINUSE else ""
        raise TargetError(
            f"cannot listen on {host}:{port}{taken}: {exc.strerror}; choose another --port"
        ) from exc
    sock.listen(LISTEN_BACKLOG)
    return sock


def _serve_one(
    settings: ReceiverSettings, log_level: str, sockets: list[socket.socket], index: int
) -> None:
    """Serving process ``index`` on ``sockets[index]``: its own process group (Ctrl-C reaches
    the parent only, which ends it with SIGTERM, once), ended too if the parent dies."""
    os.setpgid(0, 0)
    die_with_parent()
    sock = sockets[index]
    for other in sockets:  # a socket no process accepts on would hold its connections
        if other is not sock:
            other.close()
    app = create_receiver_app(settings)
    config = uvicorn_config(app, settings.host, settings.port, log_level, settings.server_limits())
    uvicorn.Server(config).run(sockets=[sock])


def _serve_processes(settings: ReceiverSettings, log_level: str, processes: int) -> None:
    sockets = []
    try:
        for _ in range(processes):
            sockets.append(_listening_socket(settings.host, settings.port))
    except TargetError:
        for sock in sockets:
            sock.close()
        raise
    context = multiprocessing.get_context("fork")  # the sockets and settings, as they are
    children = [
        context.Process(
            target=_serve_one, args=(settings, log_level, sockets, index), name=f"receiver-{index}"
        )
        for index in range(processes)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if not stopping:
            stopping = True
            for child in children:
                if child.pid is not None and child.exitcode is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(child.pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for child, sock in zip(children, sockets, strict=True):
            child.start()
            sock.close()  # its child holds it
        early_exit = _watch(children, lambda: stopping)
        if early_exit is not None:
            stop(signal.SIGTERM, None)
        for child in children:
            child.join(STOP_GRACE_S)
            if child.exitcode is None:
                child.kill()
                child.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if early_exit is not None:
        name, pid, code = early_exit
        raise TargetError(
            f"receiver process {name} (pid {pid}) exited with code {code};"
            " stopped the others: see its output above"
        )


def _watch(
    children: Sequence[BaseProcess], stopping: Callable[[], bool]
) -> tuple[str, int | None, int | None] | None:
    """Block until every child has exited; the first one to exit unasked, if any."""
    running = {child.sentinel: child for child in children}
    while running:
        for sentinel in wait_for_exits(list(running)):
            assert isinstance(sentinel, int)
            child = running.pop(sentinel)
            child.join()
            if not stopping():
                return child.name, child.pid, child.exitcode
    return None
