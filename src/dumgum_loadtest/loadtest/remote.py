"""``dumgum-loadtest worker``: a Locust worker that joins a run's master from any machine.

It needs nothing but the package and, in its own environment, the API token
(``DUMGUM_LOADTEST_TOKEN``: never sent over the network, never written to disk here). The
scenario, run id and every other setting come from the master with the spawn message; its
records go back to the master over Locust's channel (``channel``). No locust import: the
CLI builds the command line here and hands over to Locust.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from urllib.parse import urlsplit, urlunsplit

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.loadtest.command import LOCUSTFILE, TOKEN_ENV

LOOPBACK_NAMES = ("localhost", "0.0.0.0", "::")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reachable_url(url: str, master_host: str) -> str:
    """``url`` as a worker reaches it: a host on the master's loopback (the mock's, the
    receiver's) becomes the master's host as this worker names it; any other is kept."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not master_host or not _is_loopback(host) or _is_loopback(master_host):
        return url
    netloc = f"[{master_host}]" if ":" in master_host else master_host
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def check_port(option: str, port: int) -> None:
    if not 1 <= port <= 65535:
        raise ConfigError(f"{option} {port}: give a TCP port from 1 to 65535")


def worker_command(master_host: str, master_port: int, python: str = sys.executable) -> list[str]:
    """argv of a Locust worker joining ``master_host``:``master_port`` (refused: no token)."""
    check_port("--master-port", master_port)
    if not master_host.strip():
        raise ConfigError("--master-host '': give the master's host name or address")
    if not os.environ.get(TOKEN_ENV, "").strip():
        raise ConfigError(
            f"{TOKEN_ENV} is not set: a worker takes the API token from its own environment"
            f" (the same value as the master's; against the mock, any value both share)"
        )
    return [
        python,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
    ]
