"""One outcome per scheduled request; the README's "Outcomes" section says the same in prose.

Decided in this order, the first that applies:

- ``rejected``: the enqueue answered 4xx/5xx.
- ``not_sent``: the generator was too far behind its schedule, or the run ended first.
- ``answered`` / ``dropped``: a first ``answer.created`` (sequenceNumber 0) or a
  ``conversation.dropped`` carries the request's own correlation tag (the earlier decides).
- ``send_failed``: the send did not complete (connection error, timeout, the run stopped
  before the response) and no event names it: it may never have reached the target.
- ``merged``: accepted, no reply of its own, but a reply of its pair that could have covered it
  under the target's merge rules arrived after it was sent (``analysis.merging``).
- ``unresolved``: accepted, none of the above, and the observation ended before its reply
  deadline had passed, without the target confirming that nothing was pending: the run was
  cut short or settling hit its bound. Kept out of the loss rate.
- ``lost``: accepted, and none of the above.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dumgum_loadtest.analysis.merging import MergeRules, PairRequests, covering_reply_ns
from dumgum_loadtest.records import NOT_SENT, TRANSPORT_ERROR

OUTCOMES = (
    "answered",
    "merged",
    "dropped",
    "rejected",
    "not_sent",
    "send_failed",
    "unresolved",
    "lost",
)
OUTCOME_DTYPE = pd.CategoricalDtype(list(OUTCOMES))
_ANSWERED, _MERGED, _DROPPED, _REJECTED, _NOT_SENT, _SEND_FAILED, _UNRESOLVED, _LOST = range(
    len(OUTCOMES)
)
# Outcomes that awaited a reply and got a verdict: the denominator of drop and loss rates.
AWAITED = ("answered", "dropped", "lost")
# A reply may arrive this long after its deadline and still count (delivery retries, clocks).
DEADLINE_GRACE_S = 5.0


@dataclass(frozen=True)
class OutcomeRules:
    """What the classification needs beyond the records: the target's merge rules, and when
    the observation ended (epoch ns; None: at the last record) and whether the target then
    confirmed that nothing was pending (the mock's gauges at a quiet end)."""

    merge: MergeRules = field(default_factory=MergeRules)
    observed_until_ns: float | None = None
    nothing_pending: bool = False

    @property
    def time_scale(self) -> float:
        return self.merge.time_scale


@dataclass(frozen=True)
class Resolution:
    """Every request's outcome (categorical, one byte each) and, for the answered and the
    merged, when the reply that covered them arrived (epoch ns, NaN otherwise)."""

    outcome: pd.Series
    covering_reply_ns: np.ndarray


def classify(requests: pd.DataFrame, events: pd.DataFrame, time_scale: float) -> pd.Series:
    """The outcome of every request, indexed like ``requests`` (events in a DataFrame), with
    the default merge rules. A request still without a reply is ``lost``, never
    ``unresolved``: while a run settles, those are exactly the ones it waits for."""
    from dumgum_loadtest.analysis.join import join_events
    from dumgum_loadtest.analysis.latency import request_timestamps

    joined = join_events(requests.reset_index(drop=True), events)
    stamps = request_timestamps(requests, joined)
    rules = OutcomeRules(MergeRules(time_scale=time_scale), nothing_pending=True)
    return classify_stamps(requests, stamps, rules)


def classify_stamps(
    requests: pd.DataFrame, stamps: pd.DataFrame, rules: OutcomeRules | float
) -> pd.Series:
    """Outcomes from the per-request stage timestamps (see ``latency.request_timestamps``):
    a categorical Series (categories: ``OUTCOMES``), one byte per request. A bare number for
    ``rules`` is the time scale, with the default merge rules and no ``unresolved``."""
    if not isinstance(rules, OutcomeRules):
        rules = OutcomeRules(MergeRules(time_scale=float(rules)), nothing_pending=True)
    return resolve(requests, stamps, rules).outcome


def resolve(requests: pd.DataFrame, stamps: pd.DataFrame, rules: OutcomeRules) -> Resolution:
    """Outcomes and covering replies of every request, in the order the module text gives."""
    answer = stamps["first_answer_ns"].to_numpy(dtype="float64")
    drop = stamps["dropped_ns"].to_numpy(dtype="float64")
    status = requests["status"].to_numpy(dtype="float64", na_value=np.nan)
    send_state = requests["send_state"]
    codes = np.full(len(requests), _LOST, dtype="int8")
    # Whichever terminal event came first decides between answered and dropped.
    answered = ~np.isnan(answer) & (np.isnan(drop) | (answer <= drop))
    codes[answered] = _ANSWERED
    codes[~np.isnan(drop) & ~answered] = _DROPPED
    codes[status >= 400] = _REJECTED
    codes[(send_state == NOT_SENT).to_numpy(dtype=bool, na_value=False)] = _NOT_SENT
    failed = (send_state == TRANSPORT_ERROR).to_numpy(dtype=bool, na_value=False)
    codes[failed & (codes == _LOST)] = _SEND_FAILED
    covering_ns = np.where(codes == _ANSWERED, answer, np.nan)
    _mark_merged(requests, stamps, codes, covering_ns, rules.merge)
    _mark_unresolved(requests, stamps, codes, rules)
    outcome = pd.Series(pd.Categorical.from_codes(codes, dtype=OUTCOME_DTYPE), index=requests.index)
    return Resolution(outcome, covering_ns)


def _mark_merged(
    requests: pd.DataFrame,
    stamps: pd.DataFrame,
    codes: np.ndarray,
    covering_ns: np.ndarray,
    rules: MergeRules,
) -> None:
    status = _column(requests, "status")
    accepted = (status >= 200) & (status < 300) & (codes != _REJECTED) & (codes != _NOT_SENT)
    if not rules.merge or not (accepted & (codes == _LOST)).any():
        return
    rows = _rows_of_unanswered_users(requests, accepted, codes)
    pair = pair_codes(requests, rows)
    # Of those users' pairs, only the ones with a request still unanswered.
    wanted = np.zeros(int(pair.max()) + 1, dtype=bool)
    wanted[pair[codes[rows] == _LOST]] = True
    rows, pair = rows[wanted[pair]], pair[wanted[pair]]
    own = codes[rows]
    sent_ns, response_ns = (
        _column(requests, "sent_ns", rows),
        _column(requests, "response_ns", rows),
    )
    stamp = {name: _column(stamps, name, rows) for name in _STAMPS}
    replied = (own == _ANSWERED) | (own == _DROPPED)
    reply_ns = np.where(replied, np.fmin(stamp["first_answer_ns"], stamp["dropped_ns"]), np.nan)
    reply_end_ns = np.fmax(np.fmax(stamp["processing_ns"], stamp["last_message_ns"]), reply_ns)
    del stamp  # a few hundred MB at 10 M requests, before the replay needs its own
    covered = covering_reply_ns(
        PairRequests(
            pair=pair,
            taken_ns=np.where(np.isnan(response_ns), sent_ns, response_ns),
            sent_ns=sent_ns,
            window_s=np.nan_to_num(_column(requests, "buffer_s", rows)),
            reply_ns=reply_ns,
            reply_end_ns=np.where(replied, reply_end_ns, np.nan),
        ),
        rules,
    )
    merged = (own == _LOST) & ~np.isnan(covered)
    codes[rows[merged]] = _MERGED
    covering_ns[rows[merged]] = covered[merged]


_STAMPS = ("processing_ns", "first_answer_ns", "last_message_ns", "dropped_ns")


def _column(frame: pd.DataFrame, name: str, rows: np.ndarray | None = None) -> np.ndarray:
    """A numeric column as float64 (NaN: missing), of ``rows`` only when given: picked before
    converting, so 10 M rows are never copied for a few hundred thousand."""
    column = frame[name]
    if rows is not None:
        column = column.iloc[rows]
    values: np.ndarray = column.to_numpy(dtype="float64", na_value=np.nan)
    return values


def _rows_of_unanswered_users(
    requests: pd.DataFrame, accepted: np.ndarray, codes: np.ndarray
) -> np.ndarray:
    """The accepted rows of the users with a request still unanswered: only their pairs can
    hold merged requests. Looked up by the users' ids, so the ids of the other requests (most
    of them) are only hashed once, against a small set."""
    users = arrow_array(requests["user_id"])
    wanted = pc.unique(users.take(pa.array(np.flatnonzero(accepted & (codes == _LOST)))))
    of_wanted = pc.is_in(users, value_set=wanted).to_numpy(zero_copy_only=False)
    return np.flatnonzero(of_wanted & accepted)


def reply_deadline_ns(requests: pd.DataFrame, rules: MergeRules) -> np.ndarray:
    """Per request: by when its reply (or its batch's) must have come, epoch ns.

    From the send: the buffer window, then maxProcessingTimeSeconds; with the in-flight policy
    ``queue`` a batch may first wait for the pair's reply in progress, so twice that; plus
    ``DEADLINE_GRACE_S``.
    """
    sent_ns = requests["sent_ns"].to_numpy(dtype="float64", na_value=np.nan)
    buffer_s = requests["buffer_s"].to_numpy(dtype="float64", na_value=0.0)
    processing_s = requests["max_processing_s"].to_numpy(dtype="float64", na_value=0.0)
    waits = 2.0 if rules.merge and rules.inflight_policy == "queue" else 1.0
    span_s = (buffer_s + waits * processing_s) * rules.time_scale + DEADLINE_GRACE_S
    deadline: np.ndarray = sent_ns + span_s * 1e9
    return deadline


def _mark_unresolved(
    requests: pd.DataFrame, stamps: pd.DataFrame, codes: np.ndarray, rules: OutcomeRules
) -> None:
    waiting = np.flatnonzero(codes == _LOST)
    if rules.nothing_pending or waiting.size == 0:
        return
    end_ns = rules.observed_until_ns
    if end_ns is None:  # no word from the run: the last thing recorded
        end_ns = float(
            np.nanmax(
                [
                    np.nanmax(column.to_numpy(dtype="float64", na_value=np.nan), initial=-np.inf)
                    for column in (
                        requests["sent_ns"],
                        requests["response_ns"],
                        stamps["processing_ns"],
                        stamps["last_message_ns"],
                        stamps["dropped_ns"],
                    )
                ]
            )
        )
    deadline_ns = reply_deadline_ns(requests.iloc[waiting], rules.merge)
    codes[waiting[deadline_ns > end_ns]] = _UNRESOLVED


def pair_codes(requests: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """A number per (user, persona) of the given rows, equal for equal pairs, dense: from 0 to
    the number of distinct pairs (so arrays indexed by it stay small)."""
    user = codes_of(requests["user_id"].iloc[rows]) + 1  # 0: no user
    persona = codes_of(requests["persona_id"].iloc[rows]) + 1
    combined = user * (int(persona.max(initial=0)) + 1) + persona
    codes: np.ndarray = pd.factorize(combined)[0]
    return codes


def codes_of(values: pd.Series) -> np.ndarray:
    """Integer codes of a column's values (-1 for missing): cheap for categories and Arrow."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(dtype="int64")
    if isinstance(values.dtype, pd.ArrowDtype):
        indices = pc.dictionary_encode(arrow_array(values)).indices
        codes: np.ndarray = indices.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
        return codes
    return pd.factorize(values)[0].astype("int64")


def arrow_array(values: pd.Series) -> pa.Array:
    """The column as one Arrow array, without copying when it is Arrow-backed already."""
    array = pa.array(values)
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def outcome_codes(outcome: pd.Series) -> np.ndarray:
    """Outcomes as small integers, positions in ``OUTCOMES``: a ``classify`` result's own
    one-byte codes (no copy, so not to be written to), else the names encoded."""
    if isinstance(outcome.dtype, pd.CategoricalDtype) and tuple(outcome.cat.categories) == OUTCOMES:
        codes: np.ndarray = outcome.cat.codes.to_numpy()
        return codes
    return pd.Categorical(outcome, dtype=OUTCOME_DTYPE).codes


def count_outcomes(codes: np.ndarray) -> dict[str, int]:
    """How many requests had each outcome, every outcome named (zeros included)."""
    counts = np.bincount(codes, minlength=len(OUTCOMES))
    return {name: int(n) for name, n in zip(OUTCOMES, counts, strict=True)}
