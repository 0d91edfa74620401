"""Every scheduled request gets exactly one outcome, and the rules are the documented ones."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import pandas as pd

from dumgum_loadtest.analysis.load import EVENT_COLUMNS
from dumgum_loadtest.analysis.outcomes import OUTCOMES, classify, count_outcomes, outcome_codes
from dumgum_loadtest.records import NOT_SENT, SENT, TRANSPORT_ERROR, RequestRecord

S = 1_000_000_000


def _request(request_id: str, sent_s: float | None, status: int | None, **extra: Any) -> dict:
    base = {f.name: None for f in fields(RequestRecord)}
    base.update(
        run_id="r",
        request_id=request_id,
        user_id="u",
        persona_id="p",
        intended_ns=int((sent_s or 0) * S),
        sent_ns=None if sent_s is None else int(sent_s * S),
        response_ns=None if sent_s is None else int(sent_s * S) + 1000,
        status=status,
        send_state=NOT_SENT if sent_s is None else SENT,
        buffer_s=5,
    )
    base.update(extra)
    return base


def _event(kind: str, tag: str, recv_s: float, sequence: int | None = 0) -> dict:
    row = dict.fromkeys(EVENT_COLUMNS)
    row.update(event=kind, tag_request=tag, recv_ns=int(recv_s * S), sequence_number=sequence)
    return row


def _classify(requests: list[dict], events: list[dict], time_scale: float = 1.0) -> list[str]:
    frame = pd.DataFrame(requests)
    frame["status"] = frame["status"].astype("Int64")
    event_frame = pd.DataFrame(events, columns=list(EVENT_COLUMNS))
    return list(classify(frame, event_frame, time_scale))


def test_each_rule() -> None:
    requests = [
        _request("answered", 1.0, 204),
        _request("dropped", 1.0, 204, user_id="u2"),
        _request("rejected", 1.0, 422, user_id="u3"),
        _request("throttled", 1.0, 429, user_id="u4"),
        _request("not-sent", None, None, user_id="u5"),
        _request("lost", 1.0, 204, user_id="u6"),
    ]
    events = [
        _event("answer.processing", "answered", 2.0, None),
        _event("answer.created", "answered", 3.0),
        _event("conversation.dropped", "dropped", 9.0, None),
    ]
    assert _classify(requests, events) == [
        "answered",
        "dropped",
        "rejected",
        "rejected",
        "not_sent",
        "lost",
    ]


def test_burst_inside_the_buffer_is_merged_into_the_answered_request() -> None:
    requests = [
        _request("a", 10.0, 204),
        _request("b", 12.0, 204),
        _request("c", 14.0, 204),  # each within 5 s of the previous: one burst
        _request("later", 40.0, 204),  # a new turn, never answered
    ]
    events = [_event("answer.created", "c", 21.0)]
    assert _classify(requests, events) == ["merged", "merged", "answered", "lost"]


def test_the_buffer_window_follows_the_time_scale() -> None:
    requests = [_request("a", 10.0, 204), _request("b", 10.6, 204)]
    events = [_event("answer.created", "b", 11.0)]
    # At time scale 0.01, 5 s of buffer is 50 ms (+ tolerance): 0.6 s apart is two turns.
    assert _classify(requests, events, time_scale=0.01) == ["lost", "answered"]


def test_follow_up_messages_and_duplicates_count_once() -> None:
    requests = [_request("a", 1.0, 204)]
    events = [
        _event("answer.created", "a", 2.0),
        _event("answer.created", "a", 2.1),  # duplicate delivery
        _event("answer.created", "a", 2.5, sequence=1),  # split reply follow-up
    ]
    assert _classify(requests, events) == ["answered"]


def test_transport_errors_are_judged_by_their_events() -> None:
    requests = [
        _request("gone", 1.0, None, send_state=TRANSPORT_ERROR),
        _request("arrived", 1.0, None, send_state=TRANSPORT_ERROR, user_id="u2"),
    ]
    events = [_event("answer.created", "arrived", 3.0)]
    # Never reached the target as far as anyone knows: its own outcome, not a loss.
    assert _classify(requests, events) == ["send_failed", "answered"]


def test_counts_add_up() -> None:
    counts = count_outcomes(outcome_codes(pd.Series(["answered", "merged", "lost", "lost"])))
    assert set(counts) == set(OUTCOMES)
    assert sum(counts.values()) == 4
