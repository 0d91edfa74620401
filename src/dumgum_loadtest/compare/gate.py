"""Whether two runs may be compared, which runs are the baseline, and each metric's verdict.

A change is a regression (or an improvement) only when it is both statistically significant
(Holm-adjusted p-value below ``alpha`` across every tested metric of the comparison) and
beyond the practical threshold (``relative`` of the baseline, and at least an absolute floor:
``latency_floor_s`` for latency, ``rate_floor`` for rates, so 0 -> 0.001 is not "+inf %").
Cost per answered request has no test (it is a ratio of sums, not a sample): its verdict is
on the threshold alone. No maximum is ever gated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

import numpy as np

from dumgum_loadtest.compare.samples import LATENCY_METRICS, RATE_METRICS, RunSamples, Slo
from dumgum_loadtest.compare.stats import (
    QUANTILES,
    compare_distributions,
    compare_proportions,
    holm,
)
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import RunRecord

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no change"
NOT_SIGNIFICANT = "not significant"
NOT_TESTED = "not tested"


@dataclass(frozen=True, slots=True)
class Thresholds:
    relative: float = 0.05  # a change must be at least 5 % of the baseline figure
    # ... and at least 10 ms for a latency: below it, two runs on one loaded machine differ
    # significantly by scheduling alone (measured: processing p95 +5 ms between identical runs).
    latency_floor_s: float = 0.010
    rate_floor: float = 0.001  # ... and at least 0.1 percentage point for a rate
    alpha: float = 0.01  # family-wise, Holm across the tested metrics


@dataclass(frozen=True, slots=True)
class Row:
    """One compared figure. ``change`` is current - baseline in the figure's unit."""

    metric: str  # first_answer_s.p99, drop_rate, cost_per_answered_request_eur, ...
    group: str  # latency, rank, rate, cost: how it is tested and shown
    baseline: float | None
    current: float | None
    low: float | None = None  # the 99 % interval of the change
    high: float | None = None
    p_value: float | None = None  # raw; None when not tested
    p_adjusted: float | None = None  # Holm
    verdict: str = NOT_TESTED
    gated: bool = False  # a regression here fails the comparison
    note: str = ""

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def relative(self) -> float | None:
        change = self.change
        if change is None or not self.baseline:
            return None
        return change / self.baseline


@dataclass(frozen=True, slots=True)
class Baseline:
    records: tuple[RunRecord, ...]  # newest first; one unless median-of:N
    how: str  # a sentence for the output: which runs and why


@dataclass(frozen=True, slots=True)
class Comparison:
    current_run_id: str
    current_dir: str
    baseline: Baseline
    rows: tuple[Row, ...]
    slos: tuple[Slo, ...]
    thresholds: Thresholds
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[Row]:
        return [row for row in self.rows if row.gated and row.verdict == REGRESSION]

    @property
    def failed_slos(self) -> list[Slo]:
        return [slo for slo in self.slos if not slo.passed]

    @property
    def passed(self) -> bool:
        return not self.regressions and not self.failed_slos


def check_valid(record: RunRecord, role: str) -> None:
    """ConfigError (exit 2) naming why the run cannot be compared, with its figures."""
    if not record.valid:
        reasons = "; ".join(record.invalid_reasons) or record.status
        raise ConfigError(
            f"{role} run {record.run_id} ({record.run_dir}) is not valid for comparison: {reasons}"
        )


def check_comparable(current: RunRecord, baseline: RunRecord) -> None:
    """ConfigError (exit 2) unless both runs ran the same resolved scenario on the same target."""
    differences = []
    if current.scenario_hash != baseline.scenario_hash:
        differences.append(
            f"scenario hash {baseline.scenario_hash} ({baseline.scenario}) in the baseline,"
            f" {current.scenario_hash} ({current.scenario}) in the current run (the resolved"
            " scenario.yaml differs: file, --duration, --rate or --target)"
        )
    if current.target != baseline.target:
        differences.append(f"target {baseline.target!r} in the baseline, {current.target!r} now")
    if differences:
        raise ConfigError(
            f"runs {baseline.run_id} and {current.run_id} are not comparable: "
            + "; ".join(differences)
        )


def eligible_baselines(history: Sequence[RunRecord], current: RunRecord) -> list[RunRecord]:
    """Runs of the same scenario hash and target, valid, SLOs passed (or none set), started no
    later than the current run and not the current run itself: newest first."""
    runs = [
        record
        for record in history
        if record.scenario_hash == current.scenario_hash
        and record.target == current.target
        and record.valid
        and record.slo_passed is not False
        and record.run_id != current.run_id
        and record.run_dir != current.run_dir
        and record.started_at <= current.started_at
    ]
    return sorted(runs, key=lambda record: record.started_at, reverse=True)


def last_passing(history: Sequence[RunRecord], current: RunRecord) -> Baseline:
    runs = eligible_baselines(history, current)
    if not runs:
        raise ConfigError(_none_eligible(current, "--baseline last-passing"))
    chosen = runs[0]
    return Baseline((chosen,), f"last passing run {chosen.run_id} ({chosen.run_dir})")


def median_of(history: Sequence[RunRecord], current: RunRecord, count: int) -> Baseline:
    runs = eligible_baselines(history, current)[:count]
    if not runs:
        raise ConfigError(_none_eligible(current, f"--baseline median-of:{count}"))
    short = f" ({count} asked; only {len(runs)} eligible)" if len(runs) < count else ""
    ids = ", ".join(record.run_id for record in runs)
    return Baseline(tuple(runs), f"median of {len(runs)} passing runs{short}: {ids}")


def _none_eligible(current: RunRecord, option: str) -> str:
    return (
        f"{option}: the history has no valid run with SLOs passed of scenario"
        f" {current.scenario} (hash {current.scenario_hash}) on target {current.target!r}"
        f" before {current.run_id}; give --baseline RUN_DIR"
    )


def parse_median_count(text: str) -> int:
    """The N of ``median-of:N``: an integer from 1 to 100."""
    raw = text.removeprefix("median-of:")
    try:
        count = int(raw)
    except ValueError:
        count = 0
    if not 1 <= count <= 100:
        raise ConfigError(
            f"--baseline {text!r}: N must be a whole number from 1 to 100 (median-of:5)"
        )
    return count


def compare_runs(
    current: RunSamples, baselines: Sequence[RunSamples], thresholds: Thresholds
) -> list[Row]:
    """Every compared figure with its verdict. Several baselines (median-of:N): the baseline
    figure is the median of theirs; the tests pool their requests and counts."""
    rows: list[Row] = []
    for name in LATENCY_METRICS:
        rows.extend(_latency_rows(name, current, baselines))
    for name in RATE_METRICS:
        rows.append(_rate_row(name, current, baselines))
    rows.append(_cost_row(current, baselines))
    return judge(rows, thresholds)


def _latency_rows(name: str, current: RunSamples, baselines: Sequence[RunSamples]) -> list[Row]:
    pooled = np.concatenate([run.latency_s[name] for run in baselines])
    change = compare_distributions(pooled, current.latency_s[name])
    rows = []
    for quantile in change.quantiles:
        figure = quantile.baseline_s
        if len(baselines) > 1:
            figure = median(
                float(np.nanquantile(run.latency_s[name], _level(quantile.name)))
                for run in baselines
                if np.isfinite(run.latency_s[name]).any()
            )
        rows.append(
            Row(
                metric=f"{name}.{quantile.name}",
                group="latency",
                baseline=figure,
                current=quantile.current_s,
                low=quantile.low_s,
                high=quantile.high_s,
                p_value=quantile.p_value,
                gated=quantile.p_value is not None,
                note=quantile.why_untested,
            )
        )
    if change.rank_p_value is not None and change.superiority is not None:
        superiority = change.superiority
        rows.append(
            Row(
                metric=f"{name}.rank_test",
                group="rank",
                baseline=None,
                current=superiority,
                p_value=change.rank_p_value,
                note=f"Mann-Whitney U; P(current > baseline) = {superiority:.3f}; shown, not gated",
            )
        )
    return rows


def _level(name: str) -> float:
    return QUANTILES[name]


def _rate_row(name: str, current: RunSamples, baselines: Sequence[RunSamples]) -> Row:
    events = sum(run.rates[name].events for run in baselines)
    trials = sum(run.rates[name].trials for run in baselines)
    now = current.rates[name]
    tested = compare_proportions(events, trials, now.events, now.trials)
    if tested is None:
        return Row(name, "rate", None, now.rate, note="no requests to count on a side")
    figure = tested.baseline_rate
    if len(baselines) > 1:
        figure = median(run.rates[name].rate or 0.0 for run in baselines if run.rates[name].trials)
    return Row(
        metric=name,
        group="rate",
        baseline=figure,
        current=tested.current_rate,
        low=tested.low,
        high=tested.high,
        p_value=tested.p_value,
        gated=True,
        note=f"Fisher exact; {now.events}/{now.trials} now, {events}/{trials} in the baseline",
    )


def _cost_row(current: RunSamples, baselines: Sequence[RunSamples]) -> Row:
    figures = [run.cost_per_answered_eur for run in baselines if run.cost_per_answered_eur]
    figure = median(figures) if figures else None
    now = current.cost_per_answered_eur
    ratio = f"current / baseline = {now / figure:.3f}; " if figure and now is not None else ""
    return Row(
        metric="cost_per_answered_request_eur",
        group="cost",
        baseline=figure,
        current=now,
        gated=figure is not None and now is not None,
        note=f"{ratio}a ratio of sums: no test, the verdict is on the threshold alone",
    )


def judge(rows: Sequence[Row], thresholds: Thresholds) -> list[Row]:
    """Rows with Holm-adjusted p-values (the tested, gated rows form the family) and verdicts."""
    family = [index for index, row in enumerate(rows) if row.gated and row.p_value is not None]
    adjusted = holm([rows[index].p_value or 0.0 for index in family])
    p_adjusted = dict(zip(family, adjusted, strict=True))
    judged = []
    for index, row in enumerate(rows):
        row = dataclasses.replace(row, p_adjusted=p_adjusted.get(index))
        judged.append(dataclasses.replace(row, verdict=_verdict(row, thresholds)))
    return judged


def _verdict(row: Row, thresholds: Thresholds) -> str:
    change = row.change
    if row.group == "rank":
        if row.p_value is None or row.current is None:
            return NOT_TESTED
        if row.p_value >= thresholds.alpha:
            return NOT_SIGNIFICANT
        return "shifted later" if row.current > 0.5 else "shifted earlier"
    if not row.gated or change is None:
        return NOT_TESTED
    if row.group != "cost" and (row.p_adjusted is None or row.p_adjusted >= thresholds.alpha):
        return NOT_SIGNIFICANT
    if not _beyond_threshold(row, change, thresholds):
        return NO_CHANGE
    return REGRESSION if change > 0 else IMPROVEMENT


def _beyond_threshold(row: Row, change: float, thresholds: Thresholds) -> bool:
    baseline = abs(row.baseline or 0.0)
    if row.group == "latency" and abs(change) < thresholds.latency_floor_s:
        return False
    if row.group == "rate" and abs(change) < thresholds.rate_floor:
        return False
    if row.group == "rate" and baseline == 0:
        return True  # past the floor from nothing: no relative change to speak of
    return abs(change) >= thresholds.relative * baseline
