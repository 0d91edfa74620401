"""Latency stages of every request, to the webhook, from the intended and the actual send time.

Stages: the enqueue round trip, to ``answer.processing``, to the first ``answer.created``, to
the last message of a split reply. Two views side by side: ``answered`` (replies that came)
and ``censored`` (dropped and lost count as at least their deadline), so losses can never
make latency look better.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.join import (
    DROPPED,
    FIRST_ANSWER,
    FOLLOW_UP,
    PROCESSING,
    JoinedEvents,
    first_time_ns,
    last_time_ns,
)
from dumgum_loadtest.analysis.stats import percentiles_s

STAGES = ("enqueue", "processing", "first_answer", "last_message")
ORIGINS = ("intended", "sent")


def request_timestamps(requests: pd.DataFrame, joined: JoinedEvents) -> pd.DataFrame:
    """Per request (aligned with ``requests``): epoch ns of each event stage, NaN if none.

    Float64 nanoseconds keep about 0.25 µs of resolution at today's epoch: ample here.
    """
    size = len(requests)
    return pd.DataFrame(
        {
            "processing_ns": first_time_ns(joined, (PROCESSING,), size),
            "first_answer_ns": first_time_ns(joined, (FIRST_ANSWER,), size),
            "last_message_ns": last_time_ns(joined, (FIRST_ANSWER, FOLLOW_UP), size),
            "dropped_ns": first_time_ns(joined, (DROPPED,), size),
        },
        index=requests.index,
    )


def stage_seconds(
    requests: pd.DataFrame, stamps: pd.DataFrame, origin: str
) -> dict[str, pd.Series]:
    """Seconds from ``origin`` (intended or sent) to each stage, per request."""
    start = requests[f"{origin}_ns"].astype("float64")
    return {
        "enqueue": (requests["response_ns"].astype("float64") - start) / 1e9,
        "processing": (stamps["processing_ns"] - start) / 1e9,
        "first_answer": (stamps["first_answer_ns"] - start) / 1e9,
        "last_message": (stamps["last_message_ns"] - start) / 1e9,
    }


def latency_section(
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    outcome: pd.Series,
    time_scale: float,
) -> dict[str, Any]:
    """``latency_s``: per stage, per origin, the answered and the censored percentiles."""
    answered = (outcome == "answered").to_numpy()
    unanswered = outcome.isin(["dropped", "lost"]).to_numpy()
    deadline_s = requests["max_processing_s"].astype("float64").to_numpy() * time_scale
    section: dict[str, Any] = {}
    for stage in STAGES:
        section[stage] = {}
        for origin in ORIGINS:
            values = stage_seconds(requests, stamps, origin)[stage].to_numpy()
            view: dict[str, Any] = {"answered": percentiles_s(values[answered])}
            if stage != "enqueue":
                # A reply that never came counts as at least its deadline.
                censored = np.where(unanswered, np.fmax(values, deadline_s), values)
                view["censored"] = percentiles_s(censored[answered | unanswered])
            else:
                view["all_sent"] = percentiles_s(values)
            section[stage][f"from_{origin}"] = view
    return section
