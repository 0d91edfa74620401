"""Latency stages of every request, to the webhook, from the intended and the actual send time.

Stages: the enqueue round trip, to ``answer.processing``, to the first ``answer.created``, to
the last message of a split reply. Two views side by side: ``answered`` (replies that came)
and ``censored`` (dropped and lost count as at least their deadline), so losses can never
make latency look better. The first answer has a third, ``per_message``: every message that
got an answer, its own or the merged reply that covered it, from its own send, so the wait of
the messages of a burst shows too.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.join import JoinedEvents, stage_times_ns
from dumgum_loadtest.analysis.outcomes import OUTCOMES, outcome_codes
from dumgum_loadtest.analysis.stats import percentiles_in_place_s

STAGES = ("enqueue", "processing", "first_answer", "last_message")
ORIGINS = ("intended", "sent")


def request_timestamps(requests: pd.DataFrame, joined: JoinedEvents) -> pd.DataFrame:
    """Per request (aligned with ``requests``): epoch ns of each event stage, NaN if none.

    Float64 nanoseconds keep about 0.25 µs of resolution at today's epoch: ample here.
    """
    return pd.DataFrame(stage_times_ns(joined, len(requests)), index=requests.index)


def reply_masks(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """From outcome codes (positions in ``OUTCOMES``): answered, and dropped or lost (a reply
    was awaited and never came)."""
    answered = codes == OUTCOMES.index("answered")
    unanswered = (codes == OUTCOMES.index("dropped")) | (codes == OUTCOMES.index("lost"))
    return answered, unanswered


def numeric_values(column: pd.Series) -> np.ndarray:
    """A numeric column as a numpy array, integers or floats (NaN: missing), numpy data not
    copied (so not to be written to).

    Integers stay integers: ufuncs given ``dtype="float64"`` convert them chunk by chunk,
    exactly as a converted copy would, without the 80 MB copy per 10 M rows.
    """
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "iuf":
        return column.to_numpy()
    return column.to_numpy(dtype="float64", na_value=np.nan)


def stage_ends_ns(requests: pd.DataFrame, stamps: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per stage, the epoch ns at which each request reached it (NaN: never)."""
    return {
        "enqueue": numeric_values(requests["response_ns"]),
        "processing": stamps["processing_ns"].to_numpy(dtype="float64"),
        "first_answer": stamps["first_answer_ns"].to_numpy(dtype="float64"),
        "last_message": stamps["last_message_ns"].to_numpy(dtype="float64"),
    }


def seconds_between(
    end_ns: np.ndarray, start_ns: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """``(end - start) / 1e9`` in float64, into ``out`` when given (no temporary)."""
    seconds: np.ndarray = np.subtract(end_ns, start_ns, out=out, dtype="float64")
    seconds /= 1e9
    return seconds


def stage_seconds(
    requests: pd.DataFrame, stamps: pd.DataFrame, origin: str
) -> dict[str, pd.Series]:
    """Seconds from ``origin`` (intended or sent) to each stage, per request."""
    start_ns = numeric_values(requests[f"{origin}_ns"])
    return {
        stage: pd.Series(seconds_between(end_ns, start_ns), index=requests.index)
        for stage, end_ns in stage_ends_ns(requests, stamps).items()
    }


def stage_views_s(
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    codes: np.ndarray,
    time_scale: float,
    origin: str,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Per stage: seconds from ``origin`` of the answered requests, then of the second view.

    The second view is the censored one (answered, dropped and lost; a reply that never
    came counts as at least its deadline), for the enqueue stage every request with a
    response (nothing to censor). Both in request order, NaN left out, in fresh arrays the
    caller may reorder. ``codes``: the outcomes as positions in ``OUTCOMES``.
    """
    answered, unanswered = reply_masks(codes)
    awaited = answered | unanswered
    unanswered_rows = np.flatnonzero(unanswered)  # few: index them rather than mask 10 M rows
    max_processing_s = numeric_values(requests["max_processing_s"])[unanswered_rows]
    deadline_s = max_processing_s.astype("float64") * time_scale
    start_ns = numeric_values(requests[f"{origin}_ns"])
    seconds = np.empty(len(requests))  # one buffer for every stage
    for stage, end_ns in stage_ends_ns(requests, stamps).items():
        seconds_between(end_ns, start_ns, out=seconds)
        if stage != "enqueue":
            seconds[unanswered_rows] = np.fmax(seconds[unanswered_rows], deadline_s)
        known = ~np.isnan(seconds)
        second = known if stage == "enqueue" else awaited & known
        yield stage, seconds[answered & known], seconds[second]


def latency_section(
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    outcome: pd.Series,
    time_scale: float,
) -> dict[str, Any]:
    """``latency_s``: per stage, per origin, the answered and the censored percentiles.

    A stage's two views are partitioned on two threads: numpy releases the GIL there, and
    the partitions are most of the time this takes on 10 M requests.
    """
    codes = outcome_codes(outcome)
    section: dict[str, Any] = {stage: {} for stage in STAGES}
    with ThreadPoolExecutor(max_workers=2) as pool:
        for origin in ORIGINS:
            for stage, answered_s, second_s in stage_views_s(
                requests, stamps, codes, time_scale, origin
            ):
                answered, second = pool.map(percentiles_in_place_s, (answered_s, second_s))
                second_view = "all_sent" if stage == "enqueue" else "censored"
                section[stage][f"from_{origin}"] = {"answered": answered, second_view: second}
            if "covering_reply_ns" in stamps.columns:
                covering_s = seconds_between(
                    stamps["covering_reply_ns"].to_numpy(dtype="float64"),
                    numeric_values(requests[f"{origin}_ns"]),
                )
                per_message = percentiles_in_place_s(covering_s[~np.isnan(covering_s)])
                section["first_answer"][f"from_{origin}"]["per_message"] = per_message
    return section
