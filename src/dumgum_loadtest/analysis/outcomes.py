"""One outcome per scheduled request: answered, merged, dropped, rejected, not_sent or lost.

- ``rejected``: the enqueue answered 4xx/5xx.
- ``not_sent``: the generator was too far behind its schedule, or the run ended first.
- ``answered`` / ``dropped``: a first ``answer.created`` (sequenceNumber 0) or a
  ``conversation.dropped`` carries the request's own correlation tag.
- ``merged``: no terminal event carries its tag, but a neighbouring accepted request of the
  same conversation, inside the buffer window, has one (DumGum echoes one enqueue's tags for a
  merged burst), directly or through a chain of such neighbours.
- ``lost``: accepted (or sent without an answer) and none of the above by the end.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dumgum_loadtest.records import NOT_SENT

OUTCOMES = ("answered", "merged", "dropped", "rejected", "not_sent", "lost")
# Sends within this much of the buffer window still count as one burst (scheduling jitter).
BUFFER_TOLERANCE_S = 0.25
OUTCOME_DTYPE = pd.CategoricalDtype(list(OUTCOMES))
_ANSWERED, _MERGED, _DROPPED, _REJECTED, _NOT_SENT, _LOST = range(len(OUTCOMES))


def classify(requests: pd.DataFrame, events: pd.DataFrame, time_scale: float) -> pd.Series:
    """The outcome of every request, indexed like ``requests`` (events in a DataFrame)."""
    from dumgum_loadtest.analysis.join import join_events
    from dumgum_loadtest.analysis.latency import request_timestamps

    joined = join_events(requests.reset_index(drop=True), events)
    stamps = request_timestamps(requests, joined)
    return classify_stamps(requests, stamps, time_scale)


def classify_stamps(requests: pd.DataFrame, stamps: pd.DataFrame, time_scale: float) -> pd.Series:
    """Outcomes from the per-request stage timestamps (see ``latency.request_timestamps``):
    a categorical Series (categories: ``OUTCOMES``), one byte per request."""
    answer = stamps["first_answer_ns"].to_numpy()
    drop = stamps["dropped_ns"].to_numpy()
    status = requests["status"].to_numpy(dtype="float64", na_value=np.nan)
    codes = np.full(len(requests), _LOST, dtype="int8")
    # Whichever terminal event came first decides between answered and dropped.
    answered = ~np.isnan(answer) & (np.isnan(drop) | (answer <= drop))
    codes[answered] = _ANSWERED
    codes[~np.isnan(drop) & ~answered] = _DROPPED
    codes[status >= 400] = _REJECTED
    codes[(requests["send_state"] == NOT_SENT).to_numpy(dtype=bool, na_value=False)] = _NOT_SENT
    _mark_merged(requests, codes, time_scale)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=OUTCOME_DTYPE), index=requests.index)


def _mark_merged(requests: pd.DataFrame, codes: np.ndarray, time_scale: float) -> None:
    status = requests["status"].to_numpy(dtype="float64", na_value=np.nan)
    accepted = np.flatnonzero((status >= 200) & (status < 300) & (codes != _REJECTED))
    unanswered = accepted[codes[accepted] == _LOST]
    if unanswered.size == 0:
        return
    # Only the users with a request still unanswered can have merged ones: sort just theirs.
    user = codes_of(requests["user_id"]) + 1  # 0: no user
    wanted = np.zeros(int(user.max()) + 1, dtype=bool)
    wanted[user[unanswered]] = True
    rows = accepted[wanted[user[accepted]]]
    persona = codes_of(requests["persona_id"])[rows]
    pair = user[rows] * (int(persona.max()) + 2) + persona
    sent_s = requests["sent_ns"].to_numpy(dtype="float64", na_value=np.nan)[rows] / 1e9
    order = np.lexsort((sent_s, pair))
    rows, sent_s, pair = rows[order], sent_s[order], pair[order]
    window_s = requests["buffer_s"].to_numpy(dtype="float64", na_value=0.0)[rows] * time_scale
    # Consecutive sends of a pair inside the earlier one's window form one burst.
    linked = (pair[1:] == pair[:-1]) & (np.diff(sent_s) <= window_s[:-1] + BUFFER_TOLERANCE_S)
    burst_id = np.concatenate([[0], np.cumsum(~linked)])
    lost = codes[rows] == _LOST
    covered = np.bincount(burst_id, weights=(~lost).astype("float64")) > 0
    codes[rows[lost & covered[burst_id]]] = _MERGED


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
