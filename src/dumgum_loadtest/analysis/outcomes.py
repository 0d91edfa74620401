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


def classify(requests: pd.DataFrame, events: pd.DataFrame, time_scale: float) -> pd.Series:
    """The outcome of every request, indexed like ``requests``."""
    from dumgum_loadtest.analysis.latency import request_timestamps

    return classify_stamps(requests, request_timestamps(requests, events), time_scale)


def classify_stamps(requests: pd.DataFrame, stamps: pd.DataFrame, time_scale: float) -> pd.Series:
    """Outcomes from the per-request stage timestamps (see ``latency.request_timestamps``)."""
    answer = stamps["first_answer_ns"].to_numpy()
    drop = stamps["dropped_ns"].to_numpy()
    status = requests["status"].to_numpy(dtype="float64", na_value=np.nan)
    values = np.full(len(requests), "lost", dtype=object)
    # Whichever terminal event came first decides between answered and dropped.
    answered = ~np.isnan(answer) & (np.isnan(drop) | (answer <= drop))
    values[answered] = "answered"
    values[~np.isnan(drop) & ~answered] = "dropped"
    values[status >= 400] = "rejected"
    values[(requests["send_state"] == NOT_SENT).to_numpy()] = "not_sent"
    outcome = pd.Series(values, index=requests.index, dtype="object")
    _mark_merged(requests, outcome, time_scale)
    return outcome


def _mark_merged(requests: pd.DataFrame, outcome: pd.Series, time_scale: float) -> None:
    status = requests["status"].to_numpy(dtype="float64", na_value=np.nan)
    current = outcome.to_numpy()
    accepted = np.flatnonzero((status >= 200) & (status < 300) & (current != "rejected"))
    if accepted.size == 0:
        return
    user = codes_of(requests["user_id"])[accepted]
    persona = codes_of(requests["persona_id"])[accepted]
    pair = user * (int(persona.max()) + 2) + persona
    sent_s = requests["sent_ns"].to_numpy(dtype="float64", na_value=np.nan)[accepted] / 1e9
    order = np.lexsort((sent_s, pair))
    rows = accepted[order]
    sent_s, pair = sent_s[order], pair[order]
    window_s = requests["buffer_s"].to_numpy(dtype="float64", na_value=0.0)[rows] * time_scale
    # Consecutive sends of a pair inside the earlier one's window form one burst.
    linked = (pair[1:] == pair[:-1]) & (np.diff(sent_s) <= window_s[:-1] + BUFFER_TOLERANCE_S)
    burst_id = np.concatenate([[0], np.cumsum(~linked)])
    lost = current[rows] == "lost"
    covered = np.bincount(burst_id, weights=(~lost).astype("float64")) > 0
    outcome.iloc[rows[lost & covered[burst_id]]] = "merged"


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
    """Outcomes as small integers, positions in ``OUTCOMES`` (cheap to count at 10 M rows)."""
    codes: np.ndarray = pd.Categorical(outcome, categories=OUTCOMES).codes.astype("int64")
    return codes


def count_outcomes(codes: np.ndarray) -> dict[str, int]:
    """How many requests had each outcome, every outcome named (zeros included)."""
    counts = np.bincount(codes, minlength=len(OUTCOMES))
    return {name: int(n) for name, n in zip(OUTCOMES, counts, strict=True)}
