"""The run history in a database: SQLite (a file, the default) or PostgreSQL (shared by CI).

``open_history(url)`` connects and brings the schema to the newest revision (Alembic, the
scripts in ``migrations/``), then ``History`` adds runs and reads them back as
``RunRecord``s or as one long pandas frame of metrics. Passwords in URLs are never printed.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import Engine, Row, create_engine, event, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import FRAME_COLUMNS, Metric, RunRecord, read_run
from dumgum_loadtest.history.tables import metrics, runs

HISTORY_ENV = "DUMGUM_LOADTEST_HISTORY"
DEFAULT_PATH = Path("reports") / "history.sqlite"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 10
VALID_URLS = (
    "valid: a file path or sqlite:///PATH (SQLite), postgresql://USER:PASSWORD@HOST/DB or"
    " postgresql+psycopg://... (PostgreSQL)"
)
_IN_CHUNK = 500  # run ids per IN (...) query


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in user:password@ and in ?password=)."""
    url = re.sub(r"(://[^:/@?#]*:)[^@/?#]*@", r"\1***@", url)
    return re.sub(r"(?i)(password=)[^&]*", r"\1***", url)


def history_url(given: str | None) -> str | None:
    """The history a run records into: ``--history``, else $DUMGUM_LOADTEST_HISTORY, else
    None (not recorded)."""
    return given or os.environ.get(HISTORY_ENV) or None


def engine_url(url: str) -> URL:
    """The SQLAlchemy URL for ``url``; ConfigError (password masked) when it is not one of
    the kinds the history supports."""
    if "://" not in url:
        return URL.create("sqlite", database=str(Path(url).expanduser()))
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"history database {mask_url(url)}: not a database URL; {VALID_URLS}"
        ) from exc
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "sqlite" and driver == "pysqlite":
        return parsed
    if backend == "postgresql" and driver in ("psycopg", "psycopg2"):
        return parsed.set(drivername="postgresql+psycopg")  # psycopg 3 is the one installed
    raise ConfigError(
        f"history database {mask_url(url)}: unsupported kind {parsed.drivername!r}; {VALID_URLS}"
    )


def open_history(url: str | None = None) -> History:
    """The history at ``url`` (None: $DUMGUM_LOADTEST_HISTORY, else reports/history.sqlite),
    migrated to the newest schema; ConfigError when it cannot be opened."""
    url = url or os.environ.get(HISTORY_ENV) or str(DEFAULT_PATH)
    target = engine_url(url)
    shown = mask_url(url)
    if target.get_backend_name() == "sqlite" and target.database not in (None, "", ":memory:"):
        try:
            Path(str(target.database)).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"history database {shown}: cannot create its directory: {exc}"
            ) from exc
    engine = _engine(target)
    try:
        _upgrade(engine)
    except CommandError as exc:  # a revision this version does not have
        engine.dispose()
        raise ConfigError(
            f"history database {shown}: cannot open it: {_one_line(exc, url)} (a newer"
            " dumgum-loadtest migrated it: use that version, or another database)"
        ) from exc
    except SQLAlchemyError as exc:
        engine.dispose()
        raise ConfigError(
            f"history database {shown}: cannot open it: {_one_line(exc, url)}"
        ) from exc
    return History(engine, shown)


def add_run(url: str | None, run_dir: Path) -> tuple[RunRecord, bool]:
    """Record the run at ``run_dir``; returns its record and whether it was new."""
    record = read_run(run_dir)
    with open_history(url) as history:
        return record, history.add(record)


def record_finished_run(url: str, run_dir: Path, echo: Callable[[str], None]) -> bool:
    """``run``'s last step: record the run just written. Whatever goes wrong here only
    warns (the run directory is complete and can be added later): the run keeps its exit
    code. Returns whether the run is in the history now."""
    shown = mask_url(url)
    try:
        record, added = add_run(url, run_dir)
    except Exception as exc:  # never let the history cost the run its result
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        echo(
            f"warning: history: the run was not recorded in {shown} ({reason.replace(url, shown)});"
            f" record it later with: dumgum-loadtest history add {run_dir}"
        )
        return False
    if not added:  # a new run cannot be there already: another run has the same id
        echo(
            f"warning: history: another run with id {record.run_id} is recorded in {shown}"
            " already (same scenario started the same second?); this one was not recorded"
        )
        return False
    echo(f"history: recorded {record.run_id} in {shown}")
    return True


class History:
    """An open history database; use it as a context manager, or call ``close``."""

    def __init__(self, engine: Engine, shown_url: str) -> None:
        self.engine = engine
        self.url = shown_url  # password masked: safe to print

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def add(self, record: RunRecord) -> bool:
        """Record ``record``; False (and nothing changed) when its run id is already there."""
        unique = {(m.name, m.scope, m.scope_value): m.value for m in record.metrics}
        rows = [
            {"run_id": record.run_id, "name": n, "scope": s, "scope_value": v, "value": value}
            for (n, s, v), value in unique.items()
            if math.isfinite(value)
        ]
        try:
            with self.engine.begin() as connection:
                known = select(runs.c.run_id).where(runs.c.run_id == record.run_id)
                if connection.execute(known).first() is not None:
                    return False
                connection.execute(runs.insert().values(**_run_row(record)))
                if rows:
                    connection.execute(metrics.insert(), rows)
        except IntegrityError:  # recorded meanwhile by another process
            return False
        return True

    def get(self, run_id: str) -> RunRecord | None:
        found = self._records(select(runs).where(runs.c.run_id == run_id))
        return found[0] if found else None

    def runs(
        self,
        scenario: str | None = None,
        scenario_hash: str | None = None,
        target: str | None = None,
        limit: int | None = None,
    ) -> list[RunRecord]:
        """Recorded runs, newest first, with their metrics."""
        query = select(runs).order_by(runs.c.started_at.desc(), runs.c.run_id.desc())
        for column, value in (
            (runs.c.scenario, scenario),
            (runs.c.scenario_hash, scenario_hash),
            (runs.c.target, target),
        ):
            if value is not None:
                query = query.where(column == value)
        if limit is not None:
            query = query.limit(limit)
        return self._records(query)

    def metrics_frame(self, scenario: str | None = None) -> pd.DataFrame:
        """Every metric of every run (of ``scenario``) in long form, oldest run first."""
        query = (
            select(
                runs.c.run_id,
                runs.c.started_at,
                runs.c.scenario,
                runs.c.scenario_hash,
                runs.c.target,
                runs.c.status,
                runs.c.valid,
                runs.c.slo_passed,
                runs.c.package_version,
                runs.c.git_commit,
                metrics.c.name.label("metric"),
                metrics.c.scope,
                metrics.c.scope_value,
                metrics.c.value,
            )
            .join(metrics, metrics.c.run_id == runs.c.run_id)
            .order_by(
                runs.c.started_at,
                runs.c.run_id,
                metrics.c.scope,
                metrics.c.scope_value,
                metrics.c.name,
            )
        )
        if scenario is not None:
            query = query.where(runs.c.scenario == scenario)
        with self.engine.connect() as connection:
            rows = [tuple(row) for row in connection.execute(query)]
        frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
        frame["started_at"] = pd.to_datetime(
            [_utc(value) for value in frame["started_at"]], utc=True
        )
        frame["valid"] = frame["valid"].astype(bool)
        frame["value"] = frame["value"].astype(float)
        return frame

    def _records(self, query: Any) -> list[RunRecord]:
        with self.engine.connect() as connection:
            found = list(connection.execute(query))
            by_run: dict[str, list[Metric]] = {row.run_id: [] for row in found}
            for chunk in _chunks(list(by_run), _IN_CHUNK):
                metric_rows = connection.execute(
                    select(metrics)
                    .where(metrics.c.run_id.in_(chunk))
                    .order_by(metrics.c.scope, metrics.c.scope_value, metrics.c.name)
                )
                for m in metric_rows:
                    by_run[m.run_id].append(Metric(m.name, m.value, m.scope, m.scope_value))
        return [_record(row, by_run[row.run_id]) for row in found]


def _engine(target: URL) -> Engine:
    if target.get_backend_name() == "postgresql":
        return create_engine(target, connect_args={"connect_timeout": CONNECT_TIMEOUT_S})
    engine = create_engine(target, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    return engine


def _upgrade(engine: Engine) -> None:
    """Bring the schema to the newest revision (nothing to do when it is there already)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _run_row(record: RunRecord) -> dict[str, Any]:
    return {
        "run_id": record.run_id,
        "run_dir": record.run_dir,
        "scenario": record.scenario,
        "scenario_hash": record.scenario_hash,
        "target": record.target,
        "started_at": _utc(record.started_at),
        "status": record.status,
        "slo_passed": record.slo_passed,
        "valid": record.valid,
        "invalid_reasons": json.dumps(list(record.invalid_reasons)),
        "package_version": record.package_version,
        "dumgum_version": record.dumgum_version,
        "git_commit": record.git_commit,
        "machine": record.machine,
        "recorded_at": datetime.now(UTC),
    }


def _record(row: Row[Any], found: list[Metric]) -> RunRecord:
    return RunRecord(
        run_id=row.run_id,
        run_dir=row.run_dir,
        scenario=row.scenario,
        scenario_hash=row.scenario_hash,
        target=row.target,
        started_at=_utc(row.started_at),
        status=row.status,
        slo_passed=row.slo_passed,
        valid=bool(row.valid),
        invalid_reasons=tuple(json.loads(row.invalid_reasons or "[]")),
        package_version=row.package_version,
        dumgum_version=row.dumgum_version,
        git_commit=row.git_commit,
        machine=row.machine,
        metrics=tuple(found),
    )


def _utc(value: datetime) -> datetime:
    """SQLite gives naive datetimes back (stored as UTC); PostgreSQL, the session's zone."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _one_line(exc: BaseException, url: str) -> str:
    """The driver's message, first line only, with the URL's password (if any) masked."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    message = text[0] if text else type(exc).__name__
    password = make_url(url).password if "://" in url else None
    return message.replace(str(password), "***") if password else message
