"""The history as series: one per scenario, metric and scope value, runs in start order.

``build_trends(frame, ...)`` takes the history's metrics frame (``HistoryStore.metrics_frame``:
one row per run and metric, long form, the columns of ``FRAME_COLUMNS``) and returns
``Trends``: the series, their change points and notes on what could not be judged. Only valid,
completed runs with a finite value take part in change detection; the others stay in the
series (drawn grey) so a gap in the nights is visible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import FRAME_COLUMNS, OVERALL
from dumgum_loadtest.trends.changepoints import detect_changes, too_short
from dumgum_loadtest.trends.settings import DetectionSettings

# The headline figures followed by default (names as history.record writes them).
HEADLINE_METRICS = (
    "first_answer_s.from_intended.censored.p50",
    "first_answer_s.from_intended.censored.p99",
    "processing_s.from_intended.censored.p99",
    "last_message_s.from_intended.censored.p99",
    "enqueue_s.from_intended.all_sent.p99",
    "drop_rate",
    "loss_rate",
    "rejected_rate",
    "goodput_rps",
    "max_sustainable_rps",
    "cost_per_answered_request_eur",
    "cost_per_1000_conversations_eur",
    "cost_projected_monthly_eur",
)
# What a breakdown (``--by chat_model``) records per value, followed by default.
BREAKDOWN_METRICS = (
    "first_answer_s.p50",
    "first_answer_s.p99",
    "drop_rate",
    "cost_projected_eur",
)
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Point:
    """One run's value of a series."""

    run_id: str
    started_at: datetime  # UTC
    value: float | None  # None: the run recorded the metric without a finite value
    valid: bool  # valid and completed: the only runs change detection uses
    version: str | None  # dumgum-loadtest's package version
    commit: str | None  # the harness's git commit
    status: str
    target: str
    scenario_hash: str

    @property
    def used(self) -> bool:
        return self.valid and self.value is not None

    @property
    def label(self) -> str:
        """The run's code as one short label: version and commit, either, or its date."""
        commit = (self.commit or "")[:7]
        parts = [part for part in (self.version, commit) if part]
        return " ".join(parts) if parts else self.started_at.strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class ChangePoint:
    """A change between ``points[index - 1]`` and ``points[index]`` of its series."""

    scenario: str
    metric: str
    scope: str
    scope_value: str
    run_id: str  # the first run after the change
    index: int  # that run's position in the series (all runs, valid or not)
    before: float  # mean of the valid runs from the previous change point (or the start)
    after: float  # mean of the valid runs up to the next change point (or the end)
    relative_change: float | None  # (after - before) / |before|; None when before is 0
    pvalue: float  # Welch t-test between the two
    runs_before: int
    runs_after: int
    previous_run_id: str  # the last valid run before the change
    started_at: datetime
    version: str | None
    commit: str | None
    previous_version: str | None
    previous_commit: str | None
    scenario_changed: bool  # the scenario file (its hash) changed between the two runs


@dataclass(frozen=True, slots=True)
class Series:
    scenario: str
    metric: str
    scope: str  # overall, or the breakdown: chat_model, vision, ...
    scope_value: str  # "" overall
    points: tuple[Point, ...]
    change_points: tuple[ChangePoint, ...] = ()
    note: str = ""  # why no change could be judged, when so

    @property
    def used_count(self) -> int:
        return sum(point.used for point in self.points)

    @property
    def name(self) -> str:
        """The metric, with the breakdown value when it is one: ``drop_rate [vision = True]``."""
        where = "" if self.scope == OVERALL else f" [{self.scope} = {self.scope_value}]"
        return f"{self.metric}{where}"

    @property
    def title(self) -> str:
        return f"{self.scenario}: {self.name}"


@dataclass(frozen=True, slots=True)
class Trends:
    series: tuple[Series, ...]
    settings: DetectionSettings
    metrics: tuple[str, ...]
    by: tuple[str, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def change_points(self) -> list[ChangePoint]:
        return [cp for series in self.series for cp in series.change_points]

    @property
    def scenarios(self) -> list[str]:
        return list(dict.fromkeys(series.scenario for series in self.series))


def build_trends(
    frame: pd.DataFrame,
    metrics: Sequence[str] = (),
    by: Sequence[str] = (),
    settings: DetectionSettings | None = None,
    source: str = "the history",
) -> Trends:
    """Series and change points of ``frame`` (the history's metrics frame).

    ``metrics``: the metric names to follow ([] = ``HEADLINE_METRICS`` overall and
    ``BREAKDOWN_METRICS`` per breakdown value); a name the history has never recorded is a
    ConfigError naming those it has. ``by``: breakdowns (``chat_model``, ``vision``, ...) whose
    values get series of their own besides the overall ones.
    """
    settings = settings or DetectionSettings()
    metrics, by = list(dict.fromkeys(metrics)), list(dict.fromkeys(by))  # each once
    frame = normalise_frame(frame, source)
    _check_names(frame, metrics, by, source)
    notes: list[str] = []
    if frame.empty:
        notes.append(f"{source} holds no runs: nothing to draw")
    series: list[Series] = []
    wanted = metrics
    for scope in (OVERALL, *by):
        names = wanted or list(HEADLINE_METRICS if scope == OVERALL else BREAKDOWN_METRICS)
        scoped = frame[(frame["scope"] == scope) & frame["metric"].isin(names)]
        for scenario, of_scenario in scoped.groupby("scenario", sort=False):
            for scope_value, of_value in of_scenario.groupby("scope_value", sort=True):
                for metric in names:
                    rows = of_value[of_value["metric"] == metric]
                    if rows.empty:
                        continue
                    one = _series(str(scenario), metric, scope, str(scope_value), rows, settings)
                    series.append(one)
    drawn = {one.metric for one in series if one.scope == OVERALL}
    absent = [name for name in HEADLINE_METRICS if name not in drawn]
    if absent and not wanted and not frame.empty:
        notes.append(f"not recorded by any run, so not drawn: {', '.join(absent)}")
    short = sorted({s.scenario for s in series if s.note})
    if short:
        notes.append(
            f"fewer than {settings.min_runs} valid runs with a value, so no change point"
            f" judged, in some series of: {', '.join(short)}"
        )
    return Trends(
        series=tuple(series),
        settings=settings,
        metrics=tuple(wanted),
        by=tuple(by),
        notes=tuple(notes),
    )


def normalise_frame(frame: pd.DataFrame, source: str = "the history") -> pd.DataFrame:
    """The frame with the columns checked, ``started_at`` as UTC, sorted by start then run."""
    missing = [name for name in FRAME_COLUMNS if name not in frame.columns]
    if missing:
        raise ConfigError(
            f"{source}: metrics frame lacks column(s) {', '.join(missing)}; expected"
            f" {', '.join(FRAME_COLUMNS)}"
        )
    out = frame.loc[:, list(FRAME_COLUMNS)].copy()
    try:
        started = pd.to_datetime(out["started_at"], utc=True)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: started_at: not a timestamp: {exc}") from exc
    out["started_at"] = started
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    out["scope"] = out["scope"].fillna(OVERALL).astype(str)
    out["scope_value"] = out["scope_value"].fillna("").astype(str)
    out["scenario"] = _per_target(out["scenario"].astype(str), out["target"].astype(str))
    out["metric"] = out["metric"].astype(str)
    return out.sort_values(["started_at", "run_id"], kind="stable").reset_index(drop=True)


def _per_target(scenario: pd.Series, target: pd.Series) -> pd.Series:
    """A scenario run against several targets (the mock, a real API's host) becomes one series
    per target, named ``scenario @ target``: their figures are never one trend."""
    targets = target.groupby(scenario).nunique()
    mixed = scenario.isin(targets.index[targets > 1])
    return scenario.where(~mixed, scenario + " @ " + target)


def _check_names(
    frame: pd.DataFrame, metrics: Sequence[str], by: Sequence[str], source: str
) -> None:
    if frame.empty:
        return
    known_metrics = sorted(set(frame["metric"]))
    unknown = [name for name in metrics if name not in known_metrics]
    if unknown:
        raise ConfigError(
            f"--metric {unknown[0]}: {source} has no such metric; recorded: "
            + ", ".join(known_metrics)
        )
    scopes = sorted(set(frame["scope"]) - {OVERALL})
    unknown_scopes = [scope for scope in by if scope not in scopes]
    if unknown_scopes:
        raise ConfigError(
            f"--by {unknown_scopes[0]}: {source} has no such breakdown; recorded: "
            + (", ".join(scopes) or "none")
        )


def _series(
    scenario: str,
    metric: str,
    scope: str,
    scope_value: str,
    rows: pd.DataFrame,
    settings: DetectionSettings,
) -> Series:
    # One value per run: a run recorded twice keeps its last row.
    rows = rows.drop_duplicates("run_id", keep="last")
    points = tuple(_point(row) for row in rows.to_dict("records"))
    used = [i for i, point in enumerate(points) if point.used]
    if too_short(len(used), settings):
        note = (
            f"{len(used)} valid run(s) with a value; change points need at least"
            f" {settings.min_runs}"
        )
        return Series(scenario, metric, scope, scope_value, points, note=note)
    values = [value for i in used if (value := points[i].value) is not None]
    changes = []
    for change in detect_changes(values, settings):
        at, previous = points[used[change.index]], points[used[change.index - 1]]
        changes.append(
            ChangePoint(
                scenario=scenario,
                metric=metric,
                scope=scope,
                scope_value=scope_value,
                run_id=at.run_id,
                index=used[change.index],
                before=change.before,
                after=change.after,
                relative_change=change.relative_change,
                pvalue=change.pvalue,
                runs_before=change.runs_before,
                runs_after=change.runs_after,
                previous_run_id=previous.run_id,
                started_at=at.started_at,
                version=at.version,
                commit=at.commit,
                previous_version=previous.version,
                previous_commit=previous.commit,
                scenario_changed=at.scenario_hash != previous.scenario_hash,
            )
        )
    return Series(scenario, metric, scope, scope_value, points, tuple(changes))


def _point(row: dict[Any, Any]) -> Point:
    value = _finite(row["value"])
    started = pd.Timestamp(row["started_at"]).to_pydatetime().astimezone(UTC)
    return Point(
        run_id=str(row["run_id"]),
        started_at=started,
        value=value,
        valid=_flag(row["valid"]) and str(row["status"]) == COMPLETED,
        version=_text(row["package_version"]),
        commit=_text(row["git_commit"]),
        status=str(row["status"]),
        target=str(row["target"]),
        scenario_hash=str(row["scenario_hash"]),
    )


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _flag(value: Any) -> bool:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return bool(value)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text or None
