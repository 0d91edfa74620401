"""Event hygiene and the load on the customer's endpoints, as DumGum produced it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.join import DROPPED, FIRST_ANSWER, OTHER, JoinedEvents
from dumgum_loadtest.analysis.stats import percentiles_s


def event_hygiene(
    joined: JoinedEvents, stamps: pd.DataFrame, deadline_ns: np.ndarray
) -> dict[str, int]:
    """Duplicates, out-of-order pairs, events no request of this run claims, late answers."""
    duplicates = int((joined.created & ~joined.first_delivery).sum())
    processing = stamps["processing_ns"].to_numpy()
    first_answer = stamps["first_answer_ns"].to_numpy()
    out_of_order = int(np.nansum(processing > first_answer))
    # Only conversation events echo tags (memory events and image rejections carry none).
    conversation = joined.kind != OTHER
    foreign = (joined.request_pos < 0) | joined.other_run
    terminal = np.isin(joined.kind, (FIRST_ANSWER, DROPPED)) & (joined.request_pos >= 0)
    deadline = deadline_ns[joined.request_pos[terminal]]
    late = int((joined.recv_ns[terminal] > deadline).sum())
    return {
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "unmatched": int((foreign & conversation).sum()),
        "late": late,
        "events": len(joined),
    }


def customer_endpoint_load(calls: pd.DataFrame, accepted: int) -> dict[str, Any]:
    """Chat-history and profile calls per accepted enqueue, and how long the customer took."""
    section: dict[str, Any] = {}
    for kind in ("chat_history", "profile"):
        part = calls[calls["kind"] == kind]
        section[kind] = {
            "calls": len(part),
            "per_enqueue": round(len(part) / accepted, 4) if accepted else None,
            "errors": int((part["status"].fillna(0) >= 400).sum()),
            "handler_s": percentiles_s(part["duration_ns"].astype("float64") / 1e9),
            "response_bytes": percentiles_s(part["response_bytes"].astype("float64")),
        }
    return section
