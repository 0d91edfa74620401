"""``dumgum-loadtest history``: record finished runs, list them, export them for Otava."""

from __future__ import annotations

from pathlib import Path

import click

from dumgum_loadtest.cli_errors import clean_errors
from dumgum_loadtest.history.record import OVERALL, RunRecord

# The headline figures `history list` shows: (column title, metric name, format).
LIST_FIGURES = (
    ("first answer p99", "first_answer_s.from_intended.censored.p99", "{:.3f} s"),
    ("drop rate", "drop_rate", "{:.2%}"),
    ("EUR/answer", "cost_per_answered_request_eur", "{:.5f}"),
)

db_option = click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="History database: a file path, sqlite:///PATH or postgresql://... [default:"
    " $DUMGUM_LOADTEST_HISTORY, else reports/history.sqlite].",
)
scenario_option = click.option("--scenario", default=None, help="Only runs of this scenario.")


@click.group("history")
def history() -> None:
    """Keep every run's headline figures in a database, for comparison and trends."""


@history.command("add")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@db_option
@clean_errors
def add_command(run_dirs: tuple[Path, ...], db_url: str | None) -> None:
    """Record the finished runs RUN_DIR... (a run already recorded is left as it is).

    Every RUN_DIR is read first: when one is not a run directory, nothing is recorded."""
    from dumgum_loadtest.history.record import read_run
    from dumgum_loadtest.history.store import open_history

    records = [read_run(run_dir) for run_dir in run_dirs]
    with open_history(db_url) as store:
        for record in records:
            if store.add(record):
                state = "added"
            elif _same_run(store.get(record.run_id), record):
                state = "already recorded"
            else:
                state = "NOT added, another run with this id is recorded"
            click.echo(f"{state}: {record.run_id} ({_describe(record)})")


@history.command("list")
@scenario_option
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True)
@db_option
@clean_errors
def list_command(scenario: str | None, limit: int, db_url: str | None) -> None:
    """The recorded runs, newest first, with a few headline figures."""
    from dumgum_loadtest.history.store import open_history

    with open_history(db_url) as store:
        records = store.runs(scenario=scenario, limit=limit)
        shown = store.url
    if not records:
        which = f" of scenario {scenario!r}" if scenario else ""
        click.echo(f"no runs{which} recorded in {shown}")
        return
    titles = ["run id", "started (UTC)", "scenario", "target", "status", "valid", "SLOs"]
    titles += ["version/commit", *(title for title, _, _ in LIST_FIGURES)]
    table = [titles, *(_list_row(record) for record in records)]
    widths = [max(len(row[i]) for row in table) for i in range(len(titles))]
    for row in table:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@history.command("export")
@click.option(
    "--csv",
    "csv_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write the CSV here: one row per run, one column per overall metric.",
)
@scenario_option
@click.option(
    "--include-invalid",
    is_flag=True,
    help="Also export runs that cannot be compared (interrupted, harness-bound, failed"
    " calibration); left out by default, as change-point detection would take their"
    " figures for the target's.",
)
@db_option
@clean_errors
def export_command(
    csv_path: Path, scenario: str | None, include_invalid: bool, db_url: str | None
) -> None:
    """Export runs as CSV for Apache Otava (time, run_id, scenario, version, commit, metrics)."""
    from dumgum_loadtest.history.export import wide_frame
    from dumgum_loadtest.history.store import open_history
    from dumgum_loadtest.outputs import check_output_file, write_output_text

    check_output_file(csv_path, "--csv")
    with open_history(db_url) as store:
        frame = store.metrics_frame(scenario)
    if not include_invalid:
        frame = frame[frame["valid"]]
    wide = wide_frame(frame)
    write_output_text(csv_path, wide.to_csv(index=False), "--csv")
    click.echo(f"wrote {len(wide)} run(s), {len(wide.columns) - 5} metric(s) to {csv_path}")


def _same_run(known: RunRecord | None, record: RunRecord) -> bool:
    """Whether ``known`` is ``record`` itself (perhaps from a copy of its directory)."""
    return known is not None and (known.machine, known.scenario_hash, known.started_at) == (
        record.machine,
        record.scenario_hash,
        record.started_at,
    )


def _describe(record: RunRecord) -> str:
    validity = "valid" if record.valid else "invalid: " + "; ".join(record.invalid_reasons)
    return f"{record.scenario}, {record.status}, {validity}"


def _list_row(record: RunRecord) -> list[str]:
    overall = {m.name: m.value for m in record.metrics if m.scope == OVERALL}
    slos = {None: "-", True: "pass", False: "FAIL"}[record.slo_passed]
    version = f"{record.package_version or '?'}/{(record.git_commit or '-')[:8]}"
    figures = [
        form.format(overall[name]) if name in overall else "-" for _, name, form in LIST_FIGURES
    ]
    return [
        record.run_id,
        record.started_at.strftime("%Y-%m-%d %H:%M"),
        record.scenario,
        record.target,
        record.status,
        "yes" if record.valid else "no",
        slos,
        version,
        *figures,
    ]
