"""A run directory whose Parquet tables are damaged still gives a report: ``report`` reads
the raw records instead, as the README promises, and says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from dumgum_loadtest.cost.calibrate import calibrate
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.report import rebuild
from dumgum_loadtest.rundir import write_tables


def _corrupt(path: Path) -> None:
    path.write_bytes(b"PAR1 this is not a parquet file any more")


def test_a_corrupt_requests_table_is_rebuilt_from_the_raw_records(
    make_run: Callable[..., Path],
) -> None:
    run_dir = make_run()
    expected = rebuild(run_dir).summary["requests"]  # from the raw shards
    write_tables(run_dir)
    _corrupt(run_dir / "requests.parquet")

    summary = rebuild(run_dir).summary

    assert summary["requests"] == expected
    assert any(
        "requests.parquet could not be read" in note and "rebuilt from the raw records" in note
        for note in summary["notes"]
    )
    written = json.loads((run_dir / "summary.json").read_text())
    assert written["notes"] == summary["notes"]
    assert "requests.parquet could not be read" in (run_dir / "report.html").read_text()


def test_a_corrupt_table_without_raw_records_names_the_file(
    make_run: Callable[..., Path],
) -> None:
    run_dir = make_run()
    write_tables(run_dir)
    for shard in (run_dir / RAW_DIR).glob("*.jsonl"):
        shard.unlink()
    _corrupt(run_dir / "events.parquet")

    with pytest.raises(ConfigError, match=r"events\.parquet: unreadable .* no raw records"):
        rebuild(run_dir)
    with pytest.raises(ConfigError, match=r"events\.parquet: unreadable"):
        calibrate(run_dir)
