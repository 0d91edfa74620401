"""``trends.json``: the change points and every series as plain JSON.

``{"change_points": [...], "series": {scenario: {metric: [point, ...]}},
"breakdown_series": {scenario: {scope: {scope_value: {metric: [point, ...]}}}},
"notes": [...], "series_notes": [...], "parameters": {...}}``. A change point's ``index`` is
the position of its ``run_id`` in the matching list of ``series`` (or ``breakdown_series``).
Missing or non-finite values are ``null``; so is ``relative_change`` when the earlier mean
is 0.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime
from typing import Any

from dumgum_loadtest.history.record import OVERALL
from dumgum_loadtest.trends.series import ChangePoint, Point, Trends

SCHEMA_VERSION = 1


def trends_document(trends: Trends) -> dict[str, Any]:
    series: dict[str, dict[str, list[dict[str, Any]]]] = {}
    breakdowns: dict[str, dict[str, dict[str, dict[str, list[dict[str, Any]]]]]] = {}
    for one in trends.series:
        points = [point_json(point) for point in one.points]
        if one.scope == OVERALL:
            series.setdefault(one.scenario, {})[one.metric] = points
        else:
            by_value = breakdowns.setdefault(one.scenario, {}).setdefault(one.scope, {})
            by_value.setdefault(one.scope_value, {})[one.metric] = points
    settings = trends.settings
    return {
        "schema_version": SCHEMA_VERSION,
        "parameters": {
            "algorithm": "ruptures Binseg (l2) candidates, Welch t-test filter (Otava-style)",
            "max_pvalue": settings.max_pvalue,
            "min_magnitude": settings.min_magnitude,
            "min_segment_runs": settings.min_segment_runs,
            "min_runs": settings.min_runs,
            "candidate_penalty": settings.candidate_penalty,
            "metrics": list(trends.metrics),
            "by": list(trends.by),
        },
        "change_points": [change_point_json(cp) for cp in trends.change_points],
        "series": series,
        "breakdown_series": breakdowns,
        "notes": list(trends.notes),
        "series_notes": [
            {
                "scenario": one.scenario,
                "metric": one.metric,
                "scope": one.scope,
                "scope_value": one.scope_value,
                "note": one.note,
            }
            for one in trends.series
            if one.note
        ],
    }


def point_json(point: Point) -> dict[str, Any]:
    return {
        "run_id": point.run_id,
        "started_at": _time(point.started_at),
        "value": _number(point.value),
        "valid": point.valid,
        "version": point.version,
        "commit": point.commit,
        "status": point.status,
        "target": point.target,
        "scenario_hash": point.scenario_hash,
    }


def change_point_json(cp: ChangePoint) -> dict[str, Any]:
    record = asdict(cp)
    record["started_at"] = _time(cp.started_at)
    for key in ("before", "after", "relative_change", "pvalue"):
        record[key] = _number(record[key])
    return record


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
