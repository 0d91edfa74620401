"""What ``compare`` reads of one run: per-request latencies (raw, not percentiles), the counts
behind its rates, its cost per answered request and its SLO verdicts.

Latencies are computed exactly as the analysis computes the summary's views (the same outcome
resolution, the same censoring), from the run's tables: ``requests.parquet`` and
``events.parquet`` (or the raw shards when the tables are missing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dumgum_loadtest.errors import ConfigError

# Latency metrics compared as distributions: name -> (analysis stage, origin, what it counts).
LATENCY_METRICS: dict[str, tuple[str, str, str]] = {
    "first_answer_s": (
        "first_answer",
        "intended",
        "first answer from the intended send, censored (a reply that never came counts as at"
        " least its deadline)",
    ),
    "processing_s": (
        "processing",
        "intended",
        "answer.processing from the intended send, censored",
    ),
    "enqueue_s": ("enqueue", "sent", "enqueue round trip from the actual send, every sent request"),
}
# Rates compared as proportions: name -> the summary's section (count of of).
RATE_METRICS: dict[str, str] = {
    "drop_rate": "dropped over the requests that awaited a reply",
    "loss_rate": "lost over the requests that awaited a reply",
    "rejected_rate": "rejected (HTTP 4xx/5xx) over the sent requests",
}


@dataclass(frozen=True, slots=True)
class Count:
    events: int  # dropped, lost, rejected ...
    trials: int  # ... out of this many

    @property
    def rate(self) -> float | None:
        return self.events / self.trials if self.trials else None


@dataclass(frozen=True, slots=True)
class Slo:
    objective: str
    target: float
    measured: float | None
    passed: bool


@dataclass(frozen=True, slots=True)
class RunSamples:
    run_id: str
    run_dir: Path
    latency_s: dict[str, np.ndarray]  # LATENCY_METRICS name -> seconds, one per request
    rates: dict[str, Count]  # RATE_METRICS name -> its counts
    cost_per_answered_eur: float | None
    slos: tuple[Slo, ...] = field(default=())
    mock_overrides: tuple[str, ...] = field(default=())


def load_samples(run_dir: Path) -> RunSamples:
    """The run's samples; ConfigError when its tables or summary cannot be read."""
    from dumgum_loadtest.analysis.analyse import outcome_rules, read_json
    from dumgum_loadtest.analysis.latency import request_timestamps, stage_views_s
    from dumgum_loadtest.analysis.outcomes import outcome_codes, resolve
    from dumgum_loadtest.analysis.tables import load_run_tables
    from dumgum_loadtest.scenarios import load_scenario

    summary = read_json(run_dir / "summary.json")
    if not summary:
        raise ConfigError(f"{run_dir / 'summary.json'}: missing or unreadable; run `report` first")
    scenario = load_scenario(run_dir / "scenario.yaml")
    meta = read_json(run_dir / "run-meta.json")
    environment = read_json(run_dir / "environment.json")
    time_scale = float(environment.get("time_scale") or scenario.mock.get("time_scale", 1.0))
    tables = load_run_tables(run_dir, meta.get("run_id"))
    requests = tables.requests
    stamps = request_timestamps(requests, tables.events)
    resolution = resolve(requests, stamps, outcome_rules(run_dir, scenario, meta, time_scale))
    codes = outcome_codes(resolution.outcome)
    views: dict[tuple[str, str], np.ndarray] = {}
    for origin in {origin for _, origin, _ in LATENCY_METRICS.values()}:
        for stage, _answered, second in stage_views_s(requests, stamps, codes, time_scale, origin):
            views[stage, origin] = second
    latency = {name: views[stage, origin] for name, (stage, origin, _) in LATENCY_METRICS.items()}
    return RunSamples(
        run_id=str(summary.get("run_id") or run_dir.name),
        run_dir=run_dir,
        latency_s=latency,
        rates={name: _count(summary, name) for name in RATE_METRICS},
        cost_per_answered_eur=_number((summary.get("cost") or {}).get("per_answered_request_eur")),
        slos=tuple(_slo(row) for row in summary.get("slo") or []),
        mock_overrides=tuple(str(s) for s in environment.get("mock_overrides") or []),
    )


def _count(summary: dict[str, Any], name: str) -> Count:
    section = summary.get(name) or {}
    return Count(int(section.get("count") or 0), int(section.get("of") or 0))


def _slo(row: dict[str, Any]) -> Slo:
    return Slo(
        objective=str(row.get("objective")),
        target=float(row.get("target") or 0.0),
        measured=_number(row.get("measured")),
        passed=bool(row.get("pass")),
    )


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None
