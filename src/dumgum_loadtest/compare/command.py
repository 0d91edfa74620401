"""``dumgum-loadtest compare RUN_DIR [--baseline ...]``: did this run get worse than its baseline?

Exit codes: 0 nothing significant got worse and the current run's SLOs hold; 1 a regression
or a failed SLO; 2 the runs are not comparable, one is invalid, or a usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from dumgum_loadtest.cli_errors import clean_errors
from dumgum_loadtest.errors import ConfigError

if TYPE_CHECKING:
    from dumgum_loadtest.compare.gate import Baseline, Comparison, Thresholds
    from dumgum_loadtest.history.record import RunRecord

LAST_PASSING = "last-passing"
MEDIAN_OF = "median-of:"
EXIT_NO_REGRESSION = 0
EXIT_REGRESSION = 1


@click.command()
@click.argument("run_dir", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--baseline",
    "baseline_spec",
    default=LAST_PASSING,
    show_default=True,
    metavar="RUN_DIR|last-passing|median-of:N",
    help="A run directory; the newest valid run of the same scenario and target with its SLOs"
    " passed in the history; or the median of the N newest such runs.",
)
@click.option(
    "--db",
    "db_url",
    default=None,
    help="The history database URL (for last-passing and median-of:N) [default: the history's].",
)
@click.option(
    "--junit",
    "junit_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write JUnit XML: one test case per compared metric and per SLO of the run.",
)
@click.option(
    "--markdown",
    "markdown_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the comparison as Markdown (a CI comment).",
)
@click.option(
    "--threshold",
    "threshold_pct",
    type=float,
    default=5.0,
    show_default=True,
    help="Smallest change that counts, in % of the baseline figure.",
)
@clean_errors
def compare(
    run_dir: Path,
    baseline_spec: str,
    db_url: str | None,
    junit_path: Path | None,
    markdown_path: Path | None,
    threshold_pct: float,
) -> None:
    """Compare a run with a baseline: latency distributions, rates, cost, SLOs.

    A change is a regression only when it is statistically significant (Holm-adjusted
    p < 0.01 over the tested metrics) and beyond --threshold. Exit codes: 0 no significant
    regression and the run's SLOs hold; 1 a regression or a failed SLO; 2 not comparable,
    invalid run, or usage error.
    """
    from dumgum_loadtest.compare.gate import Thresholds
    from dumgum_loadtest.compare.render import markdown, text_table, verdicts
    from dumgum_loadtest.junit import write_junit
    from dumgum_loadtest.outputs import check_output_file, write_output_text

    if not 0 < threshold_pct < 1000:
        raise ConfigError(f"--threshold {threshold_pct:g}: give a percentage above 0 (5 = 5 %)")
    for path, option in ((junit_path, "--junit"), (markdown_path, "--markdown")):
        if path is not None:
            check_output_file(path, option)
    comparison = compare_run_dirs(
        run_dir, baseline_spec, db_url, Thresholds(relative=threshold_pct / 100)
    )
    click.echo(text_table(comparison))
    if markdown_path is not None:
        write_output_text(markdown_path, markdown(comparison), "--markdown")
    if junit_path is not None:
        write_junit(junit_path, "compare", verdicts(comparison))
    raise SystemExit(EXIT_NO_REGRESSION if comparison.passed else EXIT_REGRESSION)


def compare_run_dirs(
    run_dir: Path,
    baseline_spec: str = LAST_PASSING,
    db_url: str | None = None,
    thresholds: Thresholds | None = None,
) -> Comparison:
    """The library entry: the comparison of ``run_dir`` with the baseline ``baseline_spec``
    names (a run directory, ``last-passing`` or ``median-of:N``)."""
    from dumgum_loadtest.compare.gate import (
        Comparison,
        Thresholds,
        check_comparable,
        check_valid,
        compare_runs,
    )
    from dumgum_loadtest.compare.samples import load_samples
    from dumgum_loadtest.history.record import read_run

    thresholds = thresholds or Thresholds()
    current = read_run(_run_dir(run_dir, "RUN_DIR"))
    check_valid(current, "the current")
    baseline = choose_baseline(current, baseline_spec, db_url)
    for record in baseline.records:
        if Path(record.run_dir) == Path(current.run_dir):
            raise ConfigError(
                f"--baseline {baseline_spec}: the baseline is the current run itself"
                f" ({current.run_dir}); give another run"
            )
        check_valid(record, "the baseline")
        check_comparable(current, record)
    current_samples = load_samples(Path(current.run_dir))
    baseline_samples = [
        load_samples(_run_dir(Path(record.run_dir), f"baseline {record.run_id}"))
        for record in baseline.records
    ]
    notes = []
    for samples in baseline_samples:
        if samples.mock_overrides != current_samples.mock_overrides:
            notes.append(
                f"the mock's model differs (run --mock-set): baseline {samples.run_id}"
                f" {list(samples.mock_overrides) or 'none'}, current"
                f" {list(current_samples.mock_overrides) or 'none'}"
            )
    rows = compare_runs(current_samples, baseline_samples, thresholds)
    return Comparison(
        current_run_id=current.run_id,
        current_dir=current.run_dir,
        baseline=baseline,
        rows=tuple(rows),
        slos=current_samples.slos,
        thresholds=thresholds,
        notes=tuple(notes),
    )


def choose_baseline(current: RunRecord, spec: str, db_url: str | None) -> Baseline:
    """The baseline ``spec`` names: a run directory, or runs chosen from the history."""
    from dumgum_loadtest.compare.gate import Baseline, last_passing, median_of, parse_median_count
    from dumgum_loadtest.history.record import read_run

    if spec == LAST_PASSING:
        return last_passing(_history(current, db_url, 50), current)
    if spec.startswith(MEDIAN_OF):
        count = parse_median_count(spec)
        return median_of(_history(current, db_url, max(50, 4 * count)), current, count)
    path = Path(spec)
    if not path.is_dir():
        raise ConfigError(
            f"--baseline {spec}: not a run directory, {LAST_PASSING} or {MEDIAN_OF}N"
            " (e.g. median-of:5)"
        )
    record = read_run(path)
    return Baseline((record,), f"run {record.run_id} ({record.run_dir})")


def _history(current: RunRecord, db_url: str | None, limit: int) -> list[RunRecord]:
    """Runs of the current run's scenario and target from the history store, newest first."""
    from dumgum_loadtest.history.store import open_history

    with open_history(db_url) as history:
        runs: list[RunRecord] = history.runs(
            scenario_hash=current.scenario_hash, target=current.target, limit=limit
        )
    return runs


def _run_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise ConfigError(f"{what} {path}: no such run directory")
    return path.resolve()
