"""``dumgum-loadtest history add/list/export`` as a user types them (click's runner)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.history_runs import make_run_dir

from dumgum_loadtest.cli import main
from dumgum_loadtest.history.store import HISTORY_ENV

P99 = "first_answer_s.from_intended.censored.p99"


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, ["history", *args], env=env, terminal_width=200)


def test_add_twice_and_list_newest_first(history_db_url: str, tmp_path: Path) -> None:
    first = make_run_dir(tmp_path, started="20261201-020000", first_answer_p99_s=1.5)
    second = make_run_dir(tmp_path, started="20261202-020000", status="interrupted")
    added = cli("add", str(first), str(second), "--db", history_db_url)
    assert added.exit_code == 0, added.output
    assert added.stdout.splitlines() == [
        "added: smoke-20261201-020000 (smoke, completed, valid)",
        "added: smoke-20261202-020000 (smoke, interrupted, invalid: the run did not complete"
        " (interrupted))",
    ]
    again = cli("add", str(first), "--db", history_db_url)
    assert again.stdout == "already recorded: smoke-20261201-020000 (smoke, completed, valid)\n"
    listed = cli("list", "--db", history_db_url)
    assert listed.exit_code == 0, listed.output
    header, newest, oldest = listed.stdout.splitlines()
    for title in ("run id", "started (UTC)", "valid", "SLOs", "first answer p99", "EUR/answer"):
        assert title in header
    assert newest.startswith("smoke-20261202-020000  2026-12-02 02:00  smoke")
    assert " no " in newest and " yes " in oldest
    assert "1.500 s" in oldest and "1.00%" in oldest and "0.1.0/01234567" in oldest


def test_a_different_run_with_a_known_id_is_not_taken_for_it(tmp_path: Path) -> None:
    db = str(tmp_path / "h.sqlite")
    cli("add", str(make_run_dir(tmp_path / "a")), "--db", db)
    clash = cli("add", str(make_run_dir(tmp_path / "b", rate_rps=5)), "--db", db)
    assert clash.stdout.startswith("NOT added, another run with this id is recorded: smoke-")


def test_a_directory_that_is_no_run_adds_nothing(tmp_path: Path) -> None:
    db = tmp_path / "h.sqlite"
    good = make_run_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    result = cli("add", str(good), str(tmp_path / "empty"), "--db", str(db))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output
    assert "empty: not a finished run directory (missing summary.json, environment.json" in (
        result.stderr
    )
    assert cli("list", "--db", str(db)).stdout.startswith("no runs recorded in")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://root:hunter2@db/history", "unsupported kind 'mysql'"),
        ("postgresql://ci:hunter2@127.0.0.1:1/history", "cannot open it"),
    ],
)
def test_bad_database_is_one_line_without_password(url: str, shown: str) -> None:
    result = cli("list", "--db", url)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: history database ") and shown in result.stderr
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.output and "Traceback" not in result.output


def test_export_csv_for_otava(history_db_url: str, tmp_path: Path) -> None:
    for day, p99 in (("02", 2.0), ("01", 1.0)):
        run = make_run_dir(tmp_path, started=f"202612{day}-020000", first_answer_p99_s=p99)
        cli("add", str(run), "--db", history_db_url)
    broken = make_run_dir(tmp_path, started="20261203-020000", status="interrupted")
    cli("add", str(broken), str(make_run_dir(tmp_path, scenario="chaos")), "--db", history_db_url)
    out = tmp_path / "smoke.csv"
    result = cli("export", "--csv", str(out), "--scenario", "smoke", "--db", history_db_url)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0])[:5] == ["time", "run_id", "scenario", "version", "commit"]
    assert {P99, "drop_rate", "cost_per_answered_request_eur", "outcomes.answered"} <= set(rows[0])
    assert not any(name.startswith("dating") for name in rows[0])  # overall metrics only
    assert [row["time"] for row in rows] == [
        "2026-12-01T02:00:00+00:00",
        "2026-12-02T02:00:00+00:00",
    ]
    assert [float(row[P99]) for row in rows] == [1.0, 2.0]
    assert rows[0]["commit"].startswith("0123456789ab") and rows[0]["version"] == "0.1.0"
    everything = tmp_path / "all.csv"
    cli("export", "--csv", str(everything), "--include-invalid", "--db", history_db_url)
    assert len(list(csv.DictReader(everything.open()))) == 4


def test_db_defaults_from_the_environment(tmp_path: Path) -> None:
    env = {HISTORY_ENV: str(tmp_path / "from-env.sqlite")}
    result = cli("add", str(make_run_dir(tmp_path)), env=env)
    assert result.exit_code == 0, result.output
    assert "smoke-20261201-020000" in cli("list", env=env).stdout
    assert (tmp_path / "from-env.sqlite").is_file()


def test_run_refuses_an_unsupported_history_url_before_it_starts(tmp_path: Path) -> None:
    out = tmp_path / "run"
    smoke = str(Path(__file__).resolve().parents[3] / "scenarios" / "smoke.yaml")
    argv = ["run", smoke, "--out", str(out), "--history", "mysql://u:pw@h/db"]
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 2
    assert "unsupported kind 'mysql'" in result.stderr and ":pw@" not in result.output
    assert not out.exists()
