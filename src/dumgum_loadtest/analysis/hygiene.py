"""Event hygiene and the load on the customer's endpoints, as DumGum produced it."""

from __future__ import annotations

from typing import Any

import pandas as pd

from dumgum_loadtest.analysis.stats import percentiles_s

CONVERSATION_EVENTS = ("answer.processing", "answer.created", "conversation.dropped")


def event_hygiene(
    events: pd.DataFrame, requests: pd.DataFrame, run_id: str | None, deadline_ns: pd.Series
) -> dict[str, int]:
    """Duplicates, out-of-order pairs, events no request of this run claims, late answers."""
    created = events[events["event"] == "answer.created"]
    duplicates = int(created["answer_id"].dropna().duplicated().sum())
    processing = events[events["event"] == "answer.processing"]
    first_processing = processing.groupby("tag_request")["recv_ns"].min()
    first_created = created.groupby("tag_request")["recv_ns"].min()
    both = pd.concat([first_processing, first_created], axis=1, keys=["p", "c"]).dropna()
    out_of_order = int((both["p"] > both["c"]).sum())
    # Only conversation events echo tags (memory events and image rejections carry none).
    tagged_kinds = events["event"].isin(CONVERSATION_EVENTS)
    tags = events["tag_request"]
    foreign = ~tags.isin(set(requests["request_id"])) | tags.isna()
    if run_id is not None:
        foreign |= events["tag_run"] != run_id  # another run's late events in this directory
    unmatched = int((foreign & tagged_kinds).sum())
    deadline_by_id = pd.Series(deadline_ns.to_numpy(), index=requests["request_id"])
    terminal = events[events["event"].isin(["answer.created", "conversation.dropped"])]
    late = int((terminal["recv_ns"] > terminal["tag_request"].map(deadline_by_id)).sum())
    return {
        "duplicates": duplicates,
        "out_of_order": out_of_order,
        "unmatched": unmatched,
        "late": late,
        "events": len(events),
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
