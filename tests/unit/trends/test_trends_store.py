"""trends against a real SQLite history: records added through the store, then the command."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from tests.history_runs import make_run_dir

from dumgum_loadtest.cli import main
from dumgum_loadtest.history import store
from dumgum_loadtest.history.record import Metric, RunRecord

P50 = "first_answer_s.from_intended.censored.p50"
P99 = "first_answer_s.from_intended.censored.p99"


def nightly_records(count: int = 12, step_at: int = 8) -> list[RunRecord]:
    rng = np.random.default_rng(11)
    start = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    records = []
    for night in range(count):
        when = start + timedelta(days=night)
        p99 = 1.4 * (1.15 if night >= step_at else 1.0) * (1 + rng.normal(0, 0.01))
        metrics = (
            Metric(P99, p99),
            Metric("drop_rate", 0.02 * (1 + rng.normal(0, 0.01))),
            Metric("drop_rate", 0.03 * (1 + rng.normal(0, 0.01)), "chat_model", "dating-pro-1"),
        )
        records.append(
            RunRecord(
                run_id=f"smoke-{when:%Y%m%d-%H%M%S}",
                run_dir=f"/runs/smoke-{night}",
                scenario="smoke",
                scenario_hash="0123456789abcdef",
                target="mock",
                started_at=when,
                status="completed",
                slo_passed=True,
                valid=True,
                invalid_reasons=(),
                package_version="0.1.0" if night < step_at else "0.2.0",
                dumgum_version="0.1.0",
                git_commit=f"{night:02d}" + "c0ffee" * 6,
                machine="vm",
                metrics=metrics,
            )
        )
    records[3] = replace(
        records[3], status="interrupted", valid=False, invalid_reasons=("cut short",)
    )
    return records


def test_command_reads_a_history_in_sqlite_and_postgresql(
    tmp_path: Path, history_db_url: str
) -> None:
    db = history_db_url
    with store.open_history(db) as history:
        for record in nightly_records():
            history.add(record)
    out = tmp_path / "trends"
    result = CliRunner().invoke(
        main, ["trends", "--db", db, "--by", "chat_model", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"change: smoke {P99} +1")
    document = json.loads((out / "trends.json").read_text())
    (change,) = document["change_points"]
    assert (change["index"], change["version"], change["previous_version"]) == (8, "0.2.0", "0.1.0")
    series = document["series"]["smoke"][P99]
    assert len(series) == 12 and series[3]["valid"] is False
    assert document["breakdown_series"]["smoke"]["chat_model"]["dating-pro-1"]["drop_rate"]
    assert (out / "trends.html").read_text().count("<img ") == 3

    unknown = CliRunner().invoke(
        main, ["trends", "--db", db, "--scenario", "nope", "--out", str(out)]
    )
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        "error: --scenario nope: no run of this scenario in the history; recorded: smoke\n"
    )


def test_run_directories_added_by_history_add_then_trends(tmp_path: Path) -> None:
    """The whole path: run directories, ``history add``, ``trends``, as a night job does."""
    rng = np.random.default_rng(5)
    runs = [
        make_run_dir(
            tmp_path / "reports",
            started=f"202612{night + 1:02d}-020000",
            status="interrupted" if night == 2 else "completed",
            first_answer_p99_s=1.25 * (1.2 if night >= 6 else 1.0) * (1 + rng.normal(0, 0.01)),
            drop_rate=0.01 * (1 + rng.normal(0, 0.01)),
        )
        for night in range(11)
    ]
    db = f"sqlite:///{tmp_path / 'h.sqlite'}"
    added = CliRunner().invoke(main, ["history", "add", "--db", db, *map(str, runs)])
    assert added.exit_code == 0, added.output
    out = tmp_path / "trends"
    followed = [P50, P99, "drop_rate", "goodput_rps"]  # four figures keep the test quick
    options = [option for metric in followed for option in ("--metric", metric)]
    result = CliRunner().invoke(
        main, ["trends", "--db", db, "--scenario", "smoke", "--out", str(out), *options]
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "trends.json").read_text())
    # make_run_dir derives the p50 from the p99: both step, nothing else does.
    found = [(c["metric"], c["index"]) for c in document["change_points"]]
    assert found == [(P50, 6), (P99, 6)]
    assert document["series"]["smoke"][P99][2]["valid"] is False
    assert "<img " in (out / "trends.html").read_text()


def test_a_missing_sqlite_history_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    db = tmp_path / "none.sqlite"
    result = CliRunner().invoke(main, ["trends", "--db", str(db), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: history database {db}: no such file; give --db")
    assert result.stderr.count("\n") == 1
    assert not db.exists() and not (tmp_path / "o").exists()
