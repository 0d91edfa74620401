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


def terminal_events(events: pd.DataFrame) -> pd.DataFrame:
    """The first terminal event per request tag: answer.created #0 or conversation.dropped."""
    is_first_answer = (events["event"] == "answer.created") & (
        events["sequence_number"].fillna(0) == 0
    )
    terminal = events[
        (is_first_answer | (events["event"] == "conversation.dropped"))
        & events["tag_request"].notna()
    ]
    return terminal.drop_duplicates("tag_request", keep="first").set_index("tag_request")


def classify(requests: pd.DataFrame, events: pd.DataFrame, time_scale: float) -> pd.Series:
    """The outcome of every request, indexed like ``requests``."""
    outcome = pd.Series("lost", index=requests.index, dtype="object")
    status = requests["status"]
    rejected = status.notna() & (status >= 400)
    not_sent = requests["send_state"] == NOT_SENT
    terminal = terminal_events(events)
    kind = requests["request_id"].map(terminal["event"]) if len(terminal) else None
    if kind is not None:
        outcome[kind == "answer.created"] = "answered"
        outcome[kind == "conversation.dropped"] = "dropped"
    outcome[rejected] = "rejected"
    outcome[not_sent] = "not_sent"
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


def count_outcomes(outcome: pd.Series) -> dict[str, int]:
    counts = outcome.value_counts()
    return {name: int(counts.get(name, 0)) for name in OUTCOMES}
