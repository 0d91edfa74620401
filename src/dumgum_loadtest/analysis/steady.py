"""What each load stage kept up with, measured on the clock inside its steady window.

A stage's *steady window* runs from its first intended send plus a short *transition* to its
last intended send. The transition is the stage's own p99 time to first answer: until then
some answers still belong to the stage before, and the backlog is still settling to what the
new rate and latency hold (Little's law). It never takes more than ``TRANSITION_MAX_SHARE``
of the stage: an overloaded stage's p99 grows without bound, and what is left of its window
still shows the overload.

In the window the stage's figures are counts of receive and send times, not of the
requests' eventual fates: answers (first ``answer.created``) and drops received, the
requests scheduled that are owed a reply of their own (answered, dropped or lost: neither
merged into another's reply nor refused at the enqueue), and the backlog (sent, neither
answered nor dropped yet) at the window's two edges. All of it vectorised: one binary search
per time into the few window edges, no sort of the times.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# A transition of at most this share of the stage: the window stays most of the stage even
# when the stage's latency grows without bound.
TRANSITION_MAX_SHARE = 0.25


@dataclass(frozen=True)
class SteadyCounts:
    """Per stage (arrays aligned with the stages): the window and what happened inside it."""

    start_ns: np.ndarray  # float64 epoch ns, inclusive
    end_ns: np.ndarray  # float64 epoch ns, exclusive for receive times
    owed: np.ndarray  # requests of the stage scheduled in the window and owed a reply
    answers: np.ndarray  # first answer.created received in the window (any stage's request)
    drops: np.ndarray  # conversation.dropped received in the window
    backlog_start: np.ndarray  # sent and awaiting a reply at the window's start
    backlog_end: np.ndarray  # the same at its end


def counts_before(times_ns: np.ndarray, edges_ns: np.ndarray) -> np.ndarray:
    """For each edge, how many of ``times_ns`` are strictly before it (NaN times never are).

    One binary search of each time among the few sorted edges, then a cumulative count:
    linear in the times, whatever the edges' order or overlaps.
    """
    order = np.argsort(edges_ns, kind="stable")
    sorted_edges = edges_ns[order]
    # The number of edges at or before each time; NaN sorts after every edge.
    places = np.searchsorted(sorted_edges, times_ns, side="right")
    before_sorted = np.cumsum(np.bincount(places, minlength=sorted_edges.size + 1))
    before = np.empty(sorted_edges.size, dtype=np.int64)
    before[order] = before_sorted[: sorted_edges.size]
    return before


def steady_counts(
    start_ns: np.ndarray,
    end_ns: np.ndarray,
    *,
    owed_group: np.ndarray,
    owed_intended_ns: np.ndarray,
    first_answer_ns: np.ndarray,
    dropped_ns: np.ndarray,
    awaited_sent_ns: np.ndarray,
    awaited_finish_ns: np.ndarray,
) -> SteadyCounts:
    """The counts of each stage's window ``[start_ns, end_ns)``.

    ``owed_group`` and ``owed_intended_ns``: the stage and intended send of every request owed
    a reply (a group past the last stage: left out). ``awaited_*``: the send and the answer or
    drop (NaN: neither) of every request awaiting a reply, whatever its stage, warm-up too.
    """
    stages = start_ns.size
    edges_ns = np.concatenate([start_ns, end_ns])
    answers = np.diff(counts_before(first_answer_ns, edges_ns).reshape(2, stages), axis=0)[0]
    drops = np.diff(counts_before(dropped_ns, edges_ns).reshape(2, stages), axis=0)[0]
    in_flight = counts_before(awaited_sent_ns, edges_ns) - counts_before(
        awaited_finish_ns, edges_ns
    )
    # A request is owed to its own stage's window: from the window's start (the transition
    # left out) to the stage's last send.
    window_start_ns = np.append(start_ns, np.inf)  # the left-out group: never in a window
    inside = owed_intended_ns >= window_start_ns[owed_group]
    owed = np.bincount(owed_group[inside], minlength=stages + 1)[:stages]
    return SteadyCounts(
        start_ns=start_ns,
        end_ns=end_ns,
        owed=owed,
        answers=answers,
        drops=drops,
        backlog_start=in_flight[:stages],
        backlog_end=in_flight[stages:],
    )


def transition_ns(span_ns: np.ndarray, settle_s: np.ndarray) -> np.ndarray:
    """Per stage, the transition left out at its start: its own p99 time to first answer
    (``settle_s``, NaN or negative: none), at most ``TRANSITION_MAX_SHARE`` of its span."""
    settle_ns: np.ndarray = np.nan_to_num(np.maximum(settle_s, 0.0), nan=0.0) * 1e9
    transition: np.ndarray = np.minimum(settle_ns, TRANSITION_MAX_SHARE * span_ns)
    return transition
