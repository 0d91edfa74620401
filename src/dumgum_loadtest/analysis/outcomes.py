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
    accepted = requests["status"].between(200, 299) & outcome.isin(["lost", "answered", "dropped"])
    candidates = requests[accepted]
    if candidates.empty:
        return
    ordered = candidates.sort_values(["user_id", "persona_id", "sent_ns"])
    sent_s = ordered["sent_ns"].to_numpy(dtype="float64") / 1e9
    window_s = ordered["buffer_s"].to_numpy(dtype="float64") * time_scale + BUFFER_TOLERANCE_S
    same_pair = (ordered["user_id"].to_numpy()[1:] == ordered["user_id"].to_numpy()[:-1]) & (
        ordered["persona_id"].to_numpy()[1:] == ordered["persona_id"].to_numpy()[:-1]
    )
    # Consecutive sends of a pair inside the earlier one's window form one burst.
    linked = same_pair & (np.diff(sent_s) <= window_s[:-1])
    burst_id = np.concatenate([[0], np.cumsum(~linked)])
    current = outcome.loc[ordered.index].to_numpy()
    has_terminal = pd.Series(current != "lost").groupby(burst_id).transform("any").to_numpy()
    merged = (current == "lost") & has_terminal
    outcome.loc[ordered.index[merged]] = "merged"


def codes_of(values: pd.Series) -> np.ndarray:
    """Integer codes of a column's values: a category's own codes, else a factorization."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(dtype="int64")
    return pd.factorize(values)[0].astype("int64")


def count_outcomes(outcome: pd.Series) -> dict[str, int]:
    counts = outcome.value_counts()
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}
