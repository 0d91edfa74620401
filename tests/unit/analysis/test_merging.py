"""The merge rules, one test per sentence of ``analysis.outcomes`` / ``analysis.merging``.

Each case is a pair's requests with the events a target following the rules would send (or
with events stripped, as a target losing replies would); the outcome must follow the README's
definition, never the nearest neighbour in time.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dumgum_loadtest.analysis.join import join_events
from dumgum_loadtest.analysis.latency import request_timestamps
from dumgum_loadtest.analysis.load import EVENT_COLUMNS
from dumgum_loadtest.analysis.merging import MergeRules
from dumgum_loadtest.analysis.outcomes import OutcomeRules, Resolution, resolve
from dumgum_loadtest.records import SENT, TRANSPORT_ERROR, RequestRecord

S = 1_000_000_000


def _request(request_id: str, sent_s: float, user: str = "u", **extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {f.name: None for f in fields(RequestRecord)}
    base.update(
        run_id="r",
        request_id=request_id,
        user_id=user,
        persona_id="p",
        intended_ns=int(sent_s * S),
        sent_ns=int(sent_s * S),
        response_ns=int(sent_s * S) + 2_000_000,
        status=204,
        send_state=SENT,
        buffer_s=5,
        max_processing_s=300,
    )
    base.update(extra)
    return base


def _reply(tag: str, first_s: float, last_s: float | None = None) -> list[dict[str, Any]]:
    """A reply's events: processing, the first message, and a follow-up ending at ``last_s``."""
    events = []
    for kind, at_s, sequence in (
        ("answer.processing", first_s - 0.5, None),
        ("answer.created", first_s, 0),
        *((("answer.created", last_s, 1),) if last_s is not None else ()),
    ):
        row = dict.fromkeys(EVENT_COLUMNS)
        row.update(event=kind, tag_request=tag, recv_ns=int(at_s * S), sequence_number=sequence)
        events.append(row)
    return events


def _resolve(
    requests: list[dict[str, Any]], events: list[dict[str, Any]], rules: OutcomeRules
) -> Resolution:
    frame = pd.DataFrame(requests)
    frame["status"] = frame["status"].astype("Int64")
    joined = join_events(frame, pd.DataFrame(events, columns=list(EVENT_COLUMNS)))
    return resolve(frame, request_timestamps(frame, joined), rules)


def _outcomes(
    requests: list[dict[str, Any]],
    events: list[dict[str, Any]],
    merge: MergeRules | None = None,
    **rules: Any,
) -> list[str]:
    settled = {"nothing_pending": True, **rules}
    return list(_resolve(requests, events, OutcomeRules(merge or MergeRules(), **settled)).outcome)


def test_a_reply_that_arrived_before_the_request_was_sent_covers_nothing() -> None:
    # "a" was answered at 11 s; "b" left at 12 s, inside a's buffer window but after the reply:
    # no reply can have covered it.
    requests = [_request("a", 10.0), _request("b", 12.0)]
    assert _outcomes(requests, _reply("a", 11.0)) == ["answered", "lost"]


def test_with_latest_tags_the_reply_names_the_last_of_its_batch() -> None:
    # a, b, c one burst (each inside the previous one's window), d a later turn.
    requests = [_request(n, t) for n, t in (("a", 10), ("b", 12), ("c", 14), ("d", 40))]
    events = _reply("c", 21.0) + _reply("d", 47.0)
    assert _outcomes(requests, events) == ["merged", "merged", "answered", "answered"]


def test_requests_whose_replies_were_stripped_stay_lost() -> None:
    # Every event of "b" and "d" removed: each was alone in its turn (its neighbours more than
    # a window away), so no other reply could have covered it.
    requests = [_request(n, t) for n, t in (("a", 10), ("b", 16), ("c", 22), ("d", 28))]
    events = _reply("a", 16.5) + _reply("c", 28.5)
    assert _outcomes(requests, events) == ["answered", "lost", "answered", "lost"]


def test_queue_policy_holds_a_batch_until_the_reply_in_progress_ends() -> None:
    # a's reply runs from 15 s (a's window) to its last message at 30 s. b (20 s), c (27 s) and
    # d (29 s) wait for it and form one batch, answered for d: b and c are merged although
    # b and c are 7 s apart, more than a window.
    requests = [_request(n, t) for n, t in (("a", 10), ("b", 20), ("c", 27), ("d", 29))]
    events = _reply("a", 22.0, last_s=30.0) + _reply("d", 40.0)
    assert _outcomes(requests, events) == ["answered", "merged", "merged", "answered"]
    # Without the reply in progress (ignore policy: nothing waits), b stands alone: lost.
    ignore = MergeRules(inflight_policy="ignore")
    assert _outcomes(requests, events, ignore)[1] == "lost"


def test_first_tags_name_the_first_of_the_batch() -> None:
    requests = [_request(n, t) for n, t in (("a", 10), ("b", 12), ("c", 14))]
    events = _reply("a", 21.0)
    first = MergeRules(merged_tags="first")
    assert _outcomes(requests, events, first) == ["answered", "merged", "merged"]
    # The same events read with latest tags: a's reply closes a's batch, b and c are lost.
    assert _outcomes(requests, events) == ["answered", "lost", "lost"]


def test_coalesce_merges_a_request_taken_while_the_reply_is_in_progress() -> None:
    # a's reply is in progress until its follow-up at 30 s; b arrives at 25 s.
    requests = [_request("a", 10.0), _request("b", 25.0)]
    events = _reply("a", 22.0, last_s=30.0)
    coalesce = MergeRules(inflight_policy="coalesce")
    resolution = _resolve(requests, events, OutcomeRules(coalesce, nothing_pending=True))
    assert list(resolution.outcome) == ["answered", "merged"]
    assert resolution.covering_reply_ns[1] == pytest.approx(30.0 * S)  # the reply's last event
    assert _outcomes(requests, events, MergeRules(inflight_policy="ignore")) == [
        "answered",
        "lost",
    ]


def test_no_merging_when_the_target_does_not_merge() -> None:
    requests = [_request("a", 10.0), _request("b", 11.0)]
    events = _reply("b", 20.0)
    assert _outcomes(requests, events, MergeRules(merge=False)) == ["lost", "answered"]


def test_the_window_follows_the_time_scale() -> None:
    requests = [_request("a", 10.0), _request("b", 10.6)]
    events = _reply("b", 11.0)
    assert _outcomes(requests, events, MergeRules(time_scale=0.01)) == ["lost", "answered"]
    assert _outcomes(requests, events, MergeRules(time_scale=1.0)) == ["merged", "answered"]


def test_pairs_do_not_merge_into_each_other() -> None:
    requests = [_request("a", 10.0, user="u1"), _request("b", 11.0, user="u2")]
    assert _outcomes(requests, _reply("b", 20.0)) == ["lost", "answered"]


def test_merged_requests_are_covered_by_their_batch_reply() -> None:
    requests = [_request("a", 10.0), _request("b", 12.0)]
    resolution = _resolve(requests, _reply("b", 20.0), OutcomeRules(nothing_pending=True))
    assert list(resolution.outcome) == ["merged", "answered"]
    assert np.allclose(resolution.covering_reply_ns, [20.0 * S, 20.0 * S])


def test_a_cut_short_observation_leaves_requests_unresolved_not_lost() -> None:
    # Observation ended at 20 s: "a" (sent at 10 s, deadline 10 + 5 + 2 x 300 + 5 s) could
    # still have been answered; "old" (sent long before) could not.
    requests = [
        _request("old", 10.0 - 2000, user="u1"),
        _request("a", 10.0, user="u2"),
        _request("failed", 10.0, user="u3", status=None, send_state=TRANSPORT_ERROR),
    ]
    cut = OutcomeRules(observed_until_ns=20.0 * S)
    assert list(_resolve(requests, [], cut).outcome) == ["lost", "unresolved", "send_failed"]
    # The target said nothing was pending when the observation ended: they are lost.
    settled = OutcomeRules(observed_until_ns=20.0 * S, nothing_pending=True)
    assert list(_resolve(requests, [], settled).outcome) == ["lost", "lost", "send_failed"]


def test_requests_in_flight_together_are_ordered_by_what_the_reply_names() -> None:
    # b left 1 ms after a, but its response came back first: the target may have taken either
    # first. The reply names b, so with latest tags b was taken last and a is merged.
    requests = [
        _request("a", 10.000, response_ns=int(10.004 * S)),
        _request("b", 10.001, response_ns=int(10.002 * S)),
    ]
    assert _outcomes(requests, _reply("b", 20.0)) == ["merged", "answered"]
    first = MergeRules(merged_tags="first")
    assert _outcomes(requests, _reply("a", 20.0), first) == ["answered", "merged"]
