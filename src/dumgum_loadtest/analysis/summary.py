"""``summary.json``: the authoritative record of a run, built from its raw records."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.load import RawRecords
from dumgum_loadtest.analysis.outcomes import classify, count_outcomes, terminal_events
from dumgum_loadtest.records import NOT_SENT, SENT, TRANSPORT_ERROR

SUMMARY_SCHEMA_VERSION = 1
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p999": 99.9}


def percentiles_s(values_s: pd.Series) -> dict[str, float | int | None]:
    """Exact percentiles (linear interpolation) and the max, in seconds; None when empty."""
    clean = values_s.dropna().to_numpy(dtype="float64")
    if clean.size == 0:
        return {**dict.fromkeys(PERCENTILES), "max": None, "count": 0}
    result: dict[str, float | int | None] = {
        name: round(float(np.percentile(clean, q)), 6) for name, q in PERCENTILES.items()
    }
    result["max"] = round(float(clean.max()), 6)
    result["count"] = int(clean.size)
    return result


def request_counts(requests: pd.DataFrame) -> dict[str, int]:
    status = requests["status"]
    return {
        "scheduled": len(requests),
        "sent": int((requests["send_state"] != NOT_SENT).sum()),
        "accepted": int(status.between(200, 299).sum()),
        "rejected": int((status >= 400).sum()),
        "not_sent": int((requests["send_state"] == NOT_SENT).sum()),
        "transport_errors": int((requests["send_state"] == TRANSPORT_ERROR).sum()),
    }


def build_summary(raw: RawRecords, time_scale: float, meta: dict[str, Any]) -> dict[str, Any]:
    """Counts that add up: every scheduled request has exactly one outcome."""
    requests = raw.requests
    outcome = classify(requests, raw.events, time_scale)
    status = requests["status"]
    rejected_by_status = status[status >= 400].astype(int).value_counts().sort_index()
    terminal = terminal_events(raw.events)
    answered = requests[outcome == "answered"]
    first_answer_ns = answered["request_id"].map(terminal["recv_ns"]) if len(terminal) else None
    sent = requests[requests["send_state"] == SENT]
    latency: dict[str, Any] = {
        "enqueue_round_trip": percentiles_s((sent["response_ns"] - sent["sent_ns"]) / 1e9),
    }
    if first_answer_ns is not None:
        latency["first_answer_from_intended"] = percentiles_s(
            (first_answer_ns - answered["intended_ns"]) / 1e9
        )
        latency["first_answer_from_sent"] = percentiles_s(
            (first_answer_ns - answered["sent_ns"]) / 1e9
        )
    lateness = (sent["sent_ns"] - sent["intended_ns"]) / 1e9
    return {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        **meta,
        "requests": request_counts(requests),
        "rejected_by_status": {str(code): int(n) for code, n in rejected_by_status.items()},
        "outcomes": count_outcomes(outcome),
        "events": {str(name): int(n) for name, n in raw.events["event"].value_counts().items()},
        "latency_s": latency,
        "schedule_lateness_s": percentiles_s(lateness),
        "unreadable_lines": raw.unreadable_lines,
    }
