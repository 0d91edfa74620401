"""Event hygiene and the load on the customer's endpoints, as DumGum produced it."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.columns import encode
from dumgum_loadtest.analysis.join import DROPPED, FIRST_ANSWER, OTHER, JoinedEvents
from dumgum_loadtest.analysis.outcomes import OUTCOMES
from dumgum_loadtest.analysis.stats import percentiles_s
from dumgum_loadtest.cost.rules import answer_cost_eur

INVALID_COST_EXAMPLES = 5  # distinct values shown: missing first, then in the order read
EXAMPLE_CHARS = 40  # each cut to this many characters: a hostile value may be megabytes


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


def invalid_costs(joined: JoinedEvents) -> dict[str, Any]:
    """answer.created deliveries whose ``answer.cost`` is missing or invalid (not a finite
    decimal from 0 to ``MAX_ANSWER_COST_EUR``), and a few of the values as received. Such
    costs are in no total; the events stay in events.parquet as they came."""
    # the run's handful of distinct cost texts are judged once; the per-event work is a lookup
    valid = np.array(
        [answer_cost_eur(value) is not None for value in joined.cost_values] + [False],
        dtype=bool,
    )  # the last slot: no cost at all (code -1)
    bad = joined.created & ~valid[joined.cost_code]
    # per code (shifted by one: missing first), no sort; codes number the distinct costs in
    # the order they were first read
    per_code = np.bincount(joined.cost_code[bad] + 1, minlength=len(valid))
    shown = (np.flatnonzero(per_code) - 1)[:INVALID_COST_EXAMPLES].tolist()
    examples = [
        "(missing)" if code < 0 else str(joined.cost_values[code])[:EXAMPLE_CHARS] for code in shown
    ]
    return {"invalid_cost": int(bad.sum()), "invalid_cost_examples": examples}


def lost_after_stop(requests: pd.DataFrame, codes: np.ndarray, joined: JoinedEvents) -> int:
    """Lost requests sent to a conversation DumGum had stopped: a conversationStopReason for
    the same user and persona was received before the send, and the send came before its
    conversationStoppedUntil (always, for a permanent stop). DumGum answers those with
    nothing, and a customer should not send them."""
    stop_pos = joined.request_pos[joined.stop_rows]
    stopped = stop_pos >= 0
    lost = np.flatnonzero(codes == OUTCOMES.index("lost"))
    if not stopped.any() or not len(lost):
        return 0
    stop_at_ns = joined.recv_ns[joined.stop_rows][stopped]
    until_ns = joined.stopped_until_ns[stopped]
    rows = np.concatenate([stop_pos[stopped].astype("int64"), lost])
    # only these rows' ids are hashed, not the whole column's
    user = encode(requests["user_id"].take(rows)).codes
    persona = encode(requests["persona_id"].take(rows)).codes
    pair = (user + 1) * (int(persona.max()) + 2) + persona + 1
    stop_pair, lost_pair = pair[: stopped.sum()], pair[stopped.sum() :]
    sent_ns = requests["sent_ns"].to_numpy(dtype="float64", na_value=np.nan)[lost]
    # per lost request, the stops of its pair (a pair may be stopped several times)
    order = np.argsort(stop_pair, kind="stable")
    stop_pair, stop_at_ns, until_ns = stop_pair[order], stop_at_ns[order], until_ns[order]
    first = np.searchsorted(stop_pair, lost_pair, side="left")
    end = np.searchsorted(stop_pair, lost_pair, side="right")
    inside = np.zeros(len(lost), dtype=bool)
    for step in range(int((end - first).max())):
        at = np.minimum(first + step, len(stop_pair) - 1)
        inside |= (first + step < end) & (stop_at_ns[at] <= sent_ns) & (sent_ns < until_ns[at])
    return int(inside.sum())


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
