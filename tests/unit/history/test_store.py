"""The history store against real databases: SQLite files and a PostgreSQL server."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import create_engine, inspect, text
from tests.history_runs import make_run_dir

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import FRAME_COLUMNS, RunRecord, read_run
from dumgum_loadtest.history.store import (
    HISTORY_ENV,
    add_run,
    engine_url,
    mask_url,
    open_history,
    record_finished_run,
)


def without_metrics(record: RunRecord) -> RunRecord:
    return dataclasses.replace(record, metrics=())


def test_add_get_and_list_newest_first(history_db_url: str, tmp_path: Path) -> None:
    older = read_run(make_run_dir(tmp_path, started="20261201-020000", first_answer_p99_s=1.0))
    newer = read_run(make_run_dir(tmp_path, started="20261202-020000", first_answer_p99_s=2.0))
    other = read_run(make_run_dir(tmp_path, scenario="chaos", started="20261203-020000"))
    with open_history(history_db_url) as history:
        assert [history.add(r) for r in (older, newer, other)] == [True, True, True]
        assert history.add(older) is False  # twice: nothing changes
        assert [r.run_id for r in history.runs()] == [other.run_id, newer.run_id, older.run_id]
        assert [r.run_id for r in history.runs(scenario="smoke")] == [newer.run_id, older.run_id]
        assert [r.run_id for r in history.runs(limit=1)] == [other.run_id]
        assert history.runs(scenario_hash=other.scenario_hash) == [history.get(other.run_id)]
        assert history.runs(target="elsewhere") == []
        got = history.get(older.run_id)
        assert history.get("no-such-run") is None
    assert got is not None
    assert without_metrics(got) == without_metrics(older)
    assert got.started_at.tzinfo is not None
    assert sorted(got.metrics, key=str) == sorted(older.metrics, key=str)
    assert len(got.metrics) == len(older.metrics) > 5


def test_interrupted_runs_are_kept_but_never_valid(history_db_url: str, tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path, status="interrupted", slo_passed=False)
    record, added = add_run(history_db_url, run_dir)
    assert added
    with open_history(history_db_url) as history:
        got = history.get(record.run_id)
    assert got is not None and got.status == "interrupted" and got.slo_passed is False
    assert not got.valid
    assert got.invalid_reasons == ("the run did not complete (interrupted)",)


def test_metrics_frame_columns_order_and_values(history_db_url: str, tmp_path: Path) -> None:
    for day, p99 in (("03", 3.0), ("01", 1.0), ("02", 2.0)):
        add_run(
            history_db_url,
            make_run_dir(tmp_path, started=f"202612{day}-020000", first_answer_p99_s=p99),
        )
    add_run(history_db_url, make_run_dir(tmp_path, scenario="chaos"))
    with open_history(history_db_url) as history:
        frame = history.metrics_frame("smoke")
        everything = history.metrics_frame()
    assert list(frame.columns) == list(FRAME_COLUMNS)
    assert str(frame["started_at"].dt.tz) == "UTC"
    assert frame["started_at"].is_monotonic_increasing
    assert set(frame["scenario"]) == {"smoke"} and set(everything["scenario"]) == {"smoke", "chaos"}
    p99 = frame[
        (frame["metric"] == "first_answer_s.from_intended.censored.p99")
        & (frame["scope"] == "overall")
    ]
    assert p99["value"].tolist() == [1.0, 2.0, 3.0]
    assert p99["started_at"].iloc[0] == pd.Timestamp("2026-12-01 02:00", tz="UTC")
    by_model = frame[(frame["metric"] == "drop_rate") & (frame["scope"] == "chat_model")]
    assert set(by_model["scope_value"]) == {"dating-pro-1", "chat-2-smart"}
    first = frame.iloc[0]
    assert first["valid"] and first["slo_passed"] and first["package_version"] == "0.1.0"
    assert first["git_commit"].startswith("0123456789ab")


def test_migrates_an_empty_database_and_reopens_at_head(
    history_db_url: str, tmp_path: Path
) -> None:
    run_dir = make_run_dir(tmp_path)
    add_run(history_db_url, run_dir)
    with open_history(history_db_url) as history:  # already at head: nothing to do
        assert len(history.runs()) == 1
        engine = history.engine
        with engine.connect() as connection:
            version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            tables = set(inspect(connection).get_table_names())
    assert version == "0001"
    assert {"runs", "metrics", "alembic_version"} <= tables


def test_a_database_from_a_newer_harness_is_refused(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.sqlite'}"
    open_history(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(ConfigError, match=r"h\.sqlite: cannot open it: .*9999.*a newer dumgum"):
        open_history(url)


def test_urls_of_each_kind(tmp_path: Path) -> None:
    assert engine_url("postgresql://u:pw@db.example/h").drivername == "postgresql+psycopg"
    assert engine_url("postgresql+psycopg://u@db/h").drivername == "postgresql+psycopg"
    bare = engine_url(str(tmp_path / "h.sqlite"))
    assert bare.drivername == "sqlite" and bare.database == str(tmp_path / "h.sqlite")
    assert engine_url("sqlite:///rel/h.sqlite").database == "rel/h.sqlite"
    with pytest.raises(ConfigError) as refused:
        engine_url("mysql://admin:hunter2@db/h")
    message = str(refused.value)
    assert "hunter2" not in message and "mysql://admin:***@db/h" in message
    assert "postgresql://" in message and "sqlite:///" in message  # what is valid
    assert mask_url("postgresql://u:p%40ss@h/d?password=x&sslmode=require") == (
        "postgresql://u:***@h/d?password=***&sslmode=require"
    )


def test_unreachable_server_is_a_config_error_without_the_password() -> None:
    url = "postgresql://loadtest:s3cret-pw@127.0.0.1:1/history"
    with pytest.raises(ConfigError) as refused:
        open_history(url)
    message = str(refused.value)
    assert "s3cret-pw" not in message
    assert message.startswith("history database postgresql://loadtest:***@127.0.0.1:1/history")
    assert "\n" not in message


def test_default_location_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(HISTORY_ENV, raising=False)
    open_history(None).close()
    assert (tmp_path / "reports" / "history.sqlite").is_file()
    monkeypatch.setenv(HISTORY_ENV, str(tmp_path / "elsewhere" / "h.sqlite"))
    with open_history(None) as history:
        assert history.url.endswith("elsewhere/h.sqlite")
    assert (tmp_path / "elsewhere" / "h.sqlite").is_file()


def test_recording_after_a_run_only_warns_when_it_fails(tmp_path: Path) -> None:
    run_dir = make_run_dir(tmp_path)
    said: list[str] = []
    url = "postgresql://u:topsecret@127.0.0.1:1/h"
    assert record_finished_run(url, run_dir, said.append) is False
    assert len(said) == 1 and said[0].startswith("warning: history: the run was not recorded")
    assert "topsecret" not in said[0] and f"history add {run_dir}" in said[0]
    said.clear()
    assert record_finished_run(str(tmp_path / "h.sqlite"), run_dir, said.append) is True
    assert said == [f"history: recorded {run_dir.name} in {tmp_path / 'h.sqlite'}"]
