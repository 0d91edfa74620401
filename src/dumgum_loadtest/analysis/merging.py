"""Which reply covered a request that got none of its own: DumGum's buffer merging, replayed.

DumGum answers the enqueues of one (user, persona) pair that arrive inside ``bufferSeconds``
of each other with one reply, which echoes the ``tags`` of one of them (the latest, or the
first). A request without a reply of its own was therefore *merged* only if it sat in the same
batch as a request whose reply came, and that reply arrived after the request was sent. This
module rebuilds the batches from the records alone, per pair, in the order the target took the
requests (the enqueue's response time; the send time when there is none):

1. A request joins the batch of the one before it when the target took it before that batch
   could be taken: within the earlier request's buffer window (``bufferSeconds`` x time scale,
   plus ``TOLERANCE_S``), or, with the in-flight policy ``queue``, while the pair's previous
   reply was still being generated or delivered (until its last event arrived, plus
   ``TOLERANCE_S``): DumGum starts the next batch only after that reply is finished.
2. A reply names its batch's last request (``merged_tags: latest``) or its first (``first``),
   so a request carrying a reply ends (latest) or starts (first) a batch.
3. With the in-flight policy ``coalesce`` a request the target took while the pair's previous
   reply was in progress is merged into that reply; with ``ignore`` it is never answered.
4. A request in a batch whose reply came is merged when that reply arrived after it was sent.

Everything is vectorised: the links between neighbours are recomputed from whole-array
operations until they stop changing (a few rounds; each round only adds links, or with
``coalesce``/``ignore`` only removes them).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

# How late the target may take a batch after its window: response-time jitter between two
# requests, plus (for the mock) its measured event-loop lag; a real URL's is unknown.
BASE_TOLERANCE_S = 0.005
REAL_TOLERANCE_S = 0.25
_MAX_ROUNDS = 64
_NS = 1e9


@dataclass(frozen=True)
class MergeRules:
    """How the target merges a pair's enqueues: the mock's ``buffer`` model, or for a real URL
    DumGum's inferred behaviour (the mock's defaults: merge, ``queue``, ``latest``)."""

    merge: bool = True
    inflight_policy: str = "queue"  # queue | coalesce | ignore
    merged_tags: str = "latest"  # latest | first
    time_scale: float = 1.0
    tolerance_s: float = REAL_TOLERANCE_S

    @classmethod
    def from_mock_config(
        cls, config: Mapping[str, Any], time_scale: float, loop_lag_p99_ms: float | None = None
    ) -> MergeRules:
        """From a mock model (``mock-config.yaml``, a scenario's ``mock``; defaults for what it
        leaves out) and the p99 of the mock's event-loop lag (None: unknown)."""
        buffer = config.get("buffer") or {}
        tolerance_s = REAL_TOLERANCE_S
        if loop_lag_p99_ms is not None:
            tolerance_s = BASE_TOLERANCE_S + loop_lag_p99_ms / 1000
        return cls(
            merge=bool(buffer.get("merge", True)),
            inflight_policy=str(buffer.get("inflight_policy", "queue")),
            merged_tags=str(buffer.get("merged_tags", "latest")),
            time_scale=time_scale,
            tolerance_s=tolerance_s,
        )


@dataclass(frozen=True)
class PairRequests:
    """The accepted requests of the pairs that matter, one entry per request (any order).

    ``pair``: a whole number per (user, persona); ``taken_ns``: when the target took it;
    ``sent_ns``: when it left; ``window_s``: its bufferSeconds (DumGum seconds); ``reply_ns``:
    when its own reply came (first answer or drop; NaN: none); ``reply_end_ns``: when that
    reply's last event came (NaN: none).
    """

    pair: np.ndarray
    taken_ns: np.ndarray
    sent_ns: np.ndarray
    window_s: np.ndarray
    reply_ns: np.ndarray
    reply_end_ns: np.ndarray


def covering_reply_ns(requests: PairRequests, rules: MergeRules) -> np.ndarray:
    """Per request (in the given order): when the reply that covered it arrived, for the
    requests merged into another's reply; NaN for every other (its own reply, or none)."""
    covered = np.full(len(requests.pair), np.nan)
    if not rules.merge or len(covered) == 0:
        return covered
    # Two requests of a pair in flight at once may have been taken in either order; the reply
    # says which came last (latest tags) or first (first tags), so in an overlap the one a
    # reply names sorts to that end: by its response time, the others by their send time.
    named = ~np.isnan(requests.reply_ns)
    late, early = requests.taken_ns, requests.sent_ns
    if rules.merged_tags != "latest":
        late, early = early, late
    order = np.lexsort((np.where(named, late, early), requests.pair))
    pair = requests.pair[order]
    taken_ns = requests.taken_ns[order].astype("float64")
    sent_ns = requests.sent_ns[order].astype("float64")
    reply_ns = requests.reply_ns[order].astype("float64")
    reply_end_ns = np.fmax(requests.reply_end_ns[order].astype("float64"), reply_ns)
    window_ns = requests.window_s[order].astype("float64") * rules.time_scale * _NS
    echo = ~np.isnan(reply_ns)
    tolerance_ns = rules.tolerance_s * _NS
    same_pair = pair[1:] == pair[:-1]
    # A request carrying a reply closes its batch (latest tags) or opens one (first tags).
    allowed = same_pair & (~echo[:-1] if rules.merged_tags == "latest" else ~echo[1:])
    by_window = allowed & (taken_ns[1:] - taken_ns[:-1] <= window_ns[:-1] + tolerance_ns)
    if rules.inflight_policy == "queue":
        links = _queue_links(by_window, allowed, pair, taken_ns, reply_end_ns, tolerance_ns)
        during = np.zeros(len(pair), dtype=bool)
    else:
        links, during = _busy_links(by_window, echo, pair, taken_ns, reply_end_ns, tolerance_ns)
    starts, batch = _batch_starts(links)
    batch_reply_ns = np.fmin.reduceat(np.where(echo, reply_ns, np.inf), starts)[batch]
    merged = ~echo & np.isfinite(batch_reply_ns) & (batch_reply_ns > sent_ns)
    result = np.where(merged, batch_reply_ns, np.nan)
    if rules.inflight_policy == "coalesce":
        # Merged into the reply in progress: covered by its last event.
        running_end_ns = _previous_batch_end_ns(links, pair, reply_end_ns)
        coalesced = during & ~echo
        result[coalesced] = running_end_ns[coalesced]
    covered[order] = result
    return covered


def _batch_starts(links: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    starts = np.flatnonzero(np.concatenate([[True], ~links]))
    batch = np.cumsum(np.concatenate([[0], ~links]))
    return starts, batch


def _previous_batch_end_ns(links: np.ndarray, pair: np.ndarray, end_ns: np.ndarray) -> np.ndarray:
    """Per request: the latest reply end among the pair's batches before its own (-inf: none).

    Reply jobs of a pair run one after another, so the latest end of the batches before is the
    end of the reply that was in progress, if any, when the request's batch formed.
    """
    starts, batch = _batch_starts(links)
    batch_end = np.maximum.reduceat(np.where(np.isnan(end_ns), -np.inf, end_ns), starts)
    batch_pair = pair[starts]
    new_pair = np.concatenate([[True], batch_pair[1:] != batch_pair[:-1]])
    finite = np.isfinite(batch_end)
    if not finite.any():
        return np.full(len(pair), -np.inf)
    # A running maximum that restarts with every pair: each pair's values are lifted above all
    # the pairs' before it. Relative to the earliest end, so float64 keeps microseconds.
    low = float(batch_end[finite].min())
    span = float(batch_end[finite].max()) - low + 2.0
    lift = (np.cumsum(new_pair) - 1) * span
    relative = np.where(finite, batch_end - low, -1.0) + lift
    running = np.maximum.accumulate(relative) - lift
    before = np.concatenate([[-1.0], running[:-1]])
    before[new_pair] = -1.0
    before = np.where(before < 0, -np.inf, before + low)
    out: np.ndarray = before[batch]
    return out


def _queue_links(
    by_window: np.ndarray,
    allowed: np.ndarray,
    pair: np.ndarray,
    taken_ns: np.ndarray,
    reply_end_ns: np.ndarray,
    tolerance_ns: float,
) -> np.ndarray:
    """Links under ``queue``: a batch waits for the pair's reply in progress, so requests taken
    before that reply ended still join it. Each round only adds links (bursts only grow, so
    the reply they wait for only ends later)."""
    links = by_window
    for _ in range(_MAX_ROUNDS):
        running_end_ns = _previous_batch_end_ns(links, pair, reply_end_ns)
        waiting = allowed & (taken_ns[1:] <= running_end_ns[:-1] + tolerance_ns)
        grown = links | waiting
        if np.array_equal(grown, links):
            break
        links = grown
    return links


def _busy_links(
    by_window: np.ndarray,
    echo: np.ndarray,
    pair: np.ndarray,
    taken_ns: np.ndarray,
    reply_end_ns: np.ndarray,
    tolerance_ns: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Links under ``coalesce`` and ``ignore``: a request taken while the pair's reply was in
    progress never waits in the buffer, so nothing links to it or from it. Also returns which
    requests those are. Each round only removes links."""
    links = by_window
    during = np.zeros(len(pair), dtype=bool)
    for _ in range(_MAX_ROUNDS):
        running_end_ns = _previous_batch_end_ns(links, pair, reply_end_ns)
        during = ~echo & (taken_ns <= running_end_ns + tolerance_ns)
        cut = links & ~during[:-1] & ~during[1:]
        if np.array_equal(cut, links):
            break
        links = cut
    return links, during


__all__ = [
    "BASE_TOLERANCE_S",
    "REAL_TOLERANCE_S",
    "MergeRules",
    "PairRequests",
    "covering_reply_ns",
]
