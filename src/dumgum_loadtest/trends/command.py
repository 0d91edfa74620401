"""``dumgum-loadtest trends``: the history's series and change points as a page and JSON.

Thin over the library: check ``--out``, read the history's metrics frame, ``build_trends``,
``write_trends``, print the change points. A HarnessError is one line on stderr, exit 2.
Only click and the thresholds are imported here; pandas, matplotlib, ruptures and the store
load when the command runs, so the rest of the command line starts as fast as before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from dumgum_loadtest.cli_errors import clean_errors
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.trends.settings import (
    MAX_PVALUE,
    MIN_MAGNITUDE,
    MIN_SEGMENT_RUNS,
    DetectionSettings,
)

if TYPE_CHECKING:
    import pandas as pd

    from dumgum_loadtest.trends.series import ChangePoint


def load_frame(db_url: str | None, scenario: str | None) -> pd.DataFrame:
    """The history's metrics frame (of ``scenario``). ConfigError when the history is a
    SQLite file that does not exist (reading must not create an empty one), or has no run of
    ``scenario`` (naming the scenarios it has)."""
    from dumgum_loadtest.history.store import (
        DEFAULT_PATH,
        HISTORY_ENV,
        engine_url,
        mask_url,
        open_history,
    )

    url = db_url or os.environ.get(HISTORY_ENV) or str(DEFAULT_PATH)
    target = engine_url(url)
    database = target.database
    sqlite_file = target.get_backend_name() == "sqlite" and database not in (None, "", ":memory:")
    if sqlite_file and not Path(str(database)).is_file():
        raise ConfigError(
            f"history database {mask_url(url)}: no such file; give --db (or ${HISTORY_ENV})"
            " the history that `run --history` or `history add` records into"
        )
    with open_history(url) as history:
        frame = history.metrics_frame(scenario=scenario)
        if scenario is not None and frame.empty:
            everything = history.metrics_frame(scenario=None)
            known = sorted(set(everything["scenario"].astype(str)))
            if known:
                raise ConfigError(
                    f"--scenario {scenario}: no run of this scenario in the history; recorded:"
                    f" {', '.join(known)}"
                )
    return frame


def describe(change: ChangePoint) -> str:
    """One line: where, how much, at which run and code."""
    shown = "from 0" if change.relative_change is None else f"{change.relative_change:+.1%}"
    scope = "" if change.scope == "overall" else f" [{change.scope}={change.scope_value}]"
    code = " ".join(part for part in (change.version, (change.commit or "")[:10]) if part)
    return (
        f"change: {change.scenario} {change.metric}{scope} {shown} at run {change.run_id}"
        f"{f' ({code})' if code else ''}, p={change.pvalue:.2g}"
    )


@click.command("trends")
@click.option(
    "--db",
    "db_url",
    default=None,
    metavar="URL",
    help="History database: a SQLite file, sqlite:///PATH or postgresql://... [default:"
    " $DUMGUM_LOADTEST_HISTORY, else reports/history.sqlite].",
)
@click.option("--scenario", default=None, help="Only this scenario [default: every one].")
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    metavar="NAME",
    help="A metric to follow (repeatable), e.g. drop_rate [default: the headline metrics].",
)
@click.option(
    "--by",
    multiple=True,
    metavar="BREAKDOWN",
    help="Also a series per value of this breakdown (repeatable): chat_model,"
    " generate_personality, vision, language, ...",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Directory for trends.html and trends.json (created when missing).",
)
@click.option(
    "--max-pvalue",
    type=float,
    default=MAX_PVALUE,
    show_default=True,
    help="Keep a change when a Welch t-test between its segments gives p below this.",
)
@click.option(
    "--min-magnitude",
    type=float,
    default=MIN_MAGNITUDE,
    show_default=True,
    help="... and its means differ by at least this fraction of the earlier (0.05 = 5 %).",
)
@click.option(
    "--min-segment-runs",
    type=int,
    default=MIN_SEGMENT_RUNS,
    show_default=True,
    help="Valid runs needed on each side of a change.",
)
@clean_errors
def trends(
    db_url: str | None,
    scenario: str | None,
    metrics: tuple[str, ...],
    by: tuple[str, ...],
    out_dir: Path,
    max_pvalue: float,
    min_magnitude: float,
    min_segment_runs: int,
) -> None:
    """Plot each headline metric of the history per scenario and mark its change points.

    Writes OUT/trends.html (self-contained) and OUT/trends.json, and prints one line per
    change point. Only valid, completed runs are judged; invalid ones are drawn grey.
    Exit 0 (whether or not anything changed), 2 on a usage error.
    """
    from dumgum_loadtest.outputs import check_output_dir, make_output_dir
    from dumgum_loadtest.trends.output import write_trends
    from dumgum_loadtest.trends.series import build_trends

    check_output_dir(out_dir, "--out")  # before the history is read
    settings = DetectionSettings(
        max_pvalue=max_pvalue, min_magnitude=min_magnitude, min_segment_runs=min_segment_runs
    )
    frame = load_frame(db_url, scenario)
    result = build_trends(frame, metrics=metrics, by=by, settings=settings)
    make_output_dir(out_dir, "--out")
    try:
        written = write_trends(result, out_dir)
    except OSError as exc:
        raise ConfigError(f"--out {out_dir}: cannot write: {exc.strerror or exc}") from exc
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    for change in result.change_points:
        click.echo(describe(change))
    if not result.change_points:
        click.echo("no change point")
    click.echo(f"wrote {', '.join(str(path) for path in written)}", err=True)
