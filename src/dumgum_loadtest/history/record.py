"""One finished run as the history stores it: who, what, where, and its headline figures.

``read_run`` reads only the four files a run directory keeps for this purpose
(``summary.json``, ``environment.json``, ``run-meta.json``, ``scenario.yaml``), so a run copied
from another machine, or one whose raw shards were pruned, is recorded the same way.

A run's headline figures are ``Metric`` rows in long form: a ``name`` with its unit, and a
``scope`` (``overall``, or a breakdown of the summary such as ``chat_model``) with its
``scope_value``. Comparison, trends and the CSV export all read these rows; naming them here
once keeps the three in step.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from dumgum_loadtest.errors import ConfigError

OVERALL = "overall"
RUN_FILES = ("summary.json", "environment.json", "run-meta.json", "scenario.yaml")
DAYS_PER_MONTH = 30

# Summary views of latency (``latency_s.<measure>.<origin>.<view>``), all recorded.
ORIGINS = ("from_intended", "from_sent")
FIRST_ANSWER_VIEWS = ("answered", "censored", "per_message")
HEADLINE_QUANTILES = ("p50", "p90", "p99")
# The history's metrics as one long frame (``History.metrics_frame``; trends reads it).
FRAME_COLUMNS = (
    "run_id",
    "started_at",
    "scenario",
    "scenario_hash",
    "target",
    "status",
    "valid",
    "slo_passed",
    "package_version",
    "git_commit",
    "metric",
    "scope",
    "scope_value",
    "value",
)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str  # with its unit: first_answer_s.from_intended.censored.p99, drop_rate, ...
    value: float
    scope: str = OVERALL  # or a breakdown: chat_model, generate_personality, vision, ...
    scope_value: str = ""  # the breakdown's value: dating-pro-1, True, ...


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    run_dir: str  # absolute, as recorded: compare reads the raw records from there
    scenario: str
    scenario_hash: str  # sha256 of the resolved scenario (canonical JSON), first 16 hex digits
    target: str  # "mock", or the URL's host[:port]
    started_at: datetime  # UTC; the run id carries it
    status: str  # completed, interrupted, abandoned
    slo_passed: bool | None  # None: the run set no SLOs
    valid: bool  # False: interrupted, harness bottleneck, or failed calibration
    invalid_reasons: tuple[str, ...]
    package_version: str | None
    dumgum_version: str | None  # DumGum's side, when known (the mock: the package's version)
    git_commit: str | None
    machine: str
    metrics: tuple[Metric, ...] = field(default=())

    @property
    def interrupted(self) -> bool:
        return self.status != "completed"


def read_run(run_dir: Path) -> RunRecord:
    """The run at ``run_dir`` as the history records it; ConfigError when it is not a run."""
    run_dir = run_dir.resolve()
    files = {name: run_dir / name for name in RUN_FILES}
    missing = [name for name, path in files.items() if not path.is_file()]
    if missing:
        raise ConfigError(
            f"{run_dir}: not a finished run directory (missing {', '.join(missing)}); a run"
            " directory is what `dumgum-loadtest run` writes, with its summary"
        )
    summary = _read_json(files["summary.json"])
    environment = _read_json(files["environment.json"])
    meta = _read_json(files["run-meta.json"])
    try:
        scenario = yaml.safe_load(files["scenario.yaml"].read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{files['scenario.yaml']}: unreadable YAML: {exc}") from exc
    run_id = str(summary.get("run_id") or meta.get("run_id") or run_dir.name)
    status = str(meta.get("status") or summary.get("status") or "unknown")
    if summary.get("interrupted") and status == "completed":
        status = "interrupted"
    versions = environment.get("versions") or {}
    package_version = versions.get("dumgum-loadtest")
    target = target_name(str(environment.get("target") or summary.get("target") or "unknown"))
    return RunRecord(
        run_id=run_id,
        run_dir=str(run_dir),
        scenario=str(summary.get("scenario") or (scenario or {}).get("name") or "unknown"),
        scenario_hash=scenario_hash(scenario),
        target=target,
        started_at=started_at(run_id, meta),
        status=status,
        slo_passed=_slo_passed(summary),
        valid=not invalid_reasons(summary, status),
        invalid_reasons=tuple(invalid_reasons(summary, status)),
        package_version=package_version,
        dumgum_version=package_version if target == "mock" else environment.get("dumgum_version"),
        git_commit=environment.get("git_commit"),
        machine=str(environment.get("hostname") or meta.get("host") or "unknown"),
        metrics=tuple(metrics_of(summary)),
    )


def target_name(target: str) -> str:
    """ "mock", or a real URL's host[:port] (no credentials, path or query): two runs against
    different hosts are never comparable, two against the same host are."""
    if "://" not in target:
        return target
    netloc = urlsplit(target).netloc
    return netloc.rsplit("@", 1)[-1] or target


def scenario_hash(scenario: Any) -> str:
    """Same resolved scenario, same hash: key order and YAML layout do not matter.

    The run's own overrides are applied in ``scenario.yaml`` already, so a changed rate or
    duration makes a different hash, as it must: such runs are not comparable.
    """
    canonical = json.dumps(scenario, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def started_at(run_id: str, meta: Mapping[str, Any]) -> datetime:
    """The run's start: the ``YYYYmmdd-HHMMSS`` its id ends with (local time of the machine
    that ran it, taken as UTC as the run ids are made on UTC machines), else when the load
    started."""
    stamp = "-".join(run_id.rsplit("-", 2)[-2:])
    try:
        return datetime.strptime(stamp, "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        pass
    load_started_ns = meta.get("load_started_ns")
    if isinstance(load_started_ns, int):
        return datetime.fromtimestamp(load_started_ns / 1e9, tz=UTC)
    raise ConfigError(
        f"run {run_id!r}: no start time (the run id does not end with YYYYmmdd-HHMMSS and"
        " run-meta.json has no load_started_ns)"
    )


def invalid_reasons(summary: Mapping[str, Any], status: str) -> list[str]:
    """Why this night cannot be compared with another: empty when it can."""
    reasons: list[str] = []
    if status != "completed" or summary.get("interrupted"):
        reasons.append(f"the run did not complete ({status})")
    health = summary.get("health") or {}
    if health.get("harness_bottleneck"):
        why = "; ".join(health.get("bottleneck_reasons") or []) or "see the run's health"
        reasons.append(f"the harness was the bottleneck: {why}")
    calibration = summary.get("calibration") or {}
    if calibration and not calibration.get("passed", True):
        reasons.append(f"calibration failed: {calibration.get('sentence', 'see the summary')}")
    return reasons


def _slo_passed(summary: Mapping[str, Any]) -> bool | None:
    if not summary.get("slo"):
        return None
    return bool(summary.get("passed"))


def metrics_of(summary: Mapping[str, Any]) -> Iterator[Metric]:
    """The headline figures of a summary, overall and per breakdown value."""
    outcomes = summary.get("outcomes") or {}
    for outcome, count in outcomes.items():
        yield Metric(f"outcomes.{outcome}", float(count))
    for rate in ("drop_rate", "loss_rate", "rejected_rate"):
        value = (summary.get(rate) or {}).get("rate")
        if value is not None:
            yield Metric(rate, float(value))
    latency = summary.get("latency_s") or {}
    for origin in ORIGINS:
        first = (latency.get("first_answer") or {}).get(origin) or {}
        for name in FIRST_ANSWER_VIEWS:
            yield from _quantiles(f"first_answer_s.{origin}.{name}", first.get(name))
        for measure in ("processing", "last_message"):
            views = (latency.get(measure) or {}).get(origin) or {}
            yield from _quantiles(f"{measure}_s.{origin}.censored", views.get("censored"), ("p99",))
        enqueue = (latency.get("enqueue") or {}).get(origin) or {}
        yield from _quantiles(f"enqueue_s.{origin}.all_sent", enqueue.get("all_sent"), ("p99",))
    if summary.get("goodput_rps") is not None:
        yield Metric("goodput_rps", float(summary["goodput_rps"]))
    capacity = summary.get("capacity") or {}
    if capacity.get("max_sustainable_rps") is not None:
        yield Metric("max_sustainable_rps", float(capacity["max_sustainable_rps"]))
    yield from _cost(summary)
    for scope, rows in (summary.get("breakdowns") or {}).items():
        for row in rows:
            label = str(row.get("value"))
            for outcome, count in (row.get("outcomes") or {}).items():
                yield Metric(f"outcomes.{outcome}", float(count), scope, label)
            row_rate = (row.get("drop_rate") or {}).get("rate")
            if row_rate is not None:
                yield Metric("drop_rate", float(row_rate), scope, label)
            for metric in _quantiles("first_answer_s", row.get("first_answer_s")):
                yield Metric(metric.name, metric.value, scope, label)


def _quantiles(
    name: str, stats: Mapping[str, Any] | None, which: tuple[str, ...] = HEADLINE_QUANTILES
) -> Iterator[Metric]:
    if not stats or not stats.get("count"):
        return
    for quantile in which:
        if stats.get(quantile) is not None:
            yield Metric(f"{name}.{quantile}", float(stats[quantile]))


def _cost(summary: Mapping[str, Any]) -> Iterator[Metric]:
    cost = summary.get("cost") or {}
    for key, name in (
        ("per_answered_request_eur", "cost_per_answered_request_eur"),
        ("per_1000_conversations_eur", "cost_per_1000_conversations_eur"),
    ):
        if cost.get(key) is not None:
            yield Metric(name, float(cost[key]))
    total = (cost.get("projected") or {}).get("total_eur")
    duration_s = summary.get("duration_s")
    if total is not None and duration_s:
        # The run's offered traffic sustained for a month, priced as the run was.
        yield Metric(
            "cost_projected_monthly_eur", float(total) / float(duration_s) * 86400 * DAYS_PER_MONTH
        )
    for model, row in (cost.get("by_chat_model") or {}).items():
        if row.get("total_eur") is not None:
            yield Metric("cost_projected_eur", float(row["total_eur"]), "chat_model", str(model))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: unreadable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data
