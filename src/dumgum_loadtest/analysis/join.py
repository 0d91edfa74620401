"""Events joined to the requests they answer, once, as integer positions (fast at 10 M rows).

Every later step (stage timestamps, outcomes, hygiene) works on numpy arrays indexed by the
request's row position, instead of joining strings again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

PROCESSING, FIRST_ANSWER, FOLLOW_UP, DROPPED, OTHER = range(5)
_NAMED_KINDS = {
    "answer.processing": PROCESSING,
    "answer.created": FIRST_ANSWER,  # a follow-up when its sequenceNumber is above 0
    "conversation.dropped": DROPPED,
}


@dataclass(frozen=True)
class JoinedEvents:
    """Per event: the request row it belongs to (-1: none of this run's), its kind, its time."""

    request_pos: np.ndarray
    kind: np.ndarray
    recv_ns: np.ndarray


def _arrow(series: pd.Series) -> pa.Array:
    array = pa.array(series, from_pandas=True)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.cast(pa.string()) if not pa.types.is_string(array.type) else array


def join_events(requests: pd.DataFrame, events: pd.DataFrame) -> JoinedEvents:
    positions = pc.index_in(_arrow(events["tag_request"]), value_set=_arrow(requests["request_id"]))
    request_pos = positions.fill_null(-1).to_numpy(zero_copy_only=False).astype("int64")
    # Event names through their dictionary: a handful of distinct strings, millions of rows.
    encoded = pc.dictionary_encode(_arrow(events["event"]))
    names = encoded.dictionary.to_pylist()
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    lookup = np.full(len(names) + 1, OTHER, dtype="int8")  # the last slot: no name at all
    for index, name in enumerate(names):
        lookup[index] = _NAMED_KINDS.get(name, OTHER)
    kind = lookup[codes]
    sequence = events["sequence_number"].to_numpy(dtype="float64", na_value=0.0)
    kind[(kind == FIRST_ANSWER) & (np.nan_to_num(sequence) > 0)] = FOLLOW_UP
    recv_ns = events["recv_ns"].to_numpy(dtype="int64", na_value=0)
    return JoinedEvents(request_pos, kind, recv_ns)


def first_time_ns(joined: JoinedEvents, kinds: tuple[int, ...], size: int) -> np.ndarray:
    """Per request row: the earliest receive time of an event of ``kinds`` (NaN if none)."""
    return _reduce(joined, kinds, size, np.minimum, np.inf)


def last_time_ns(joined: JoinedEvents, kinds: tuple[int, ...], size: int) -> np.ndarray:
    return _reduce(joined, kinds, size, np.maximum, -np.inf)


def _reduce(
    joined: JoinedEvents, kinds: tuple[int, ...], size: int, op: np.ufunc, empty: float
) -> np.ndarray:
    mask = np.isin(joined.kind, kinds) & (joined.request_pos >= 0)
    out = np.full(size, empty)
    op.at(out, joined.request_pos[mask], joined.recv_ns[mask].astype("float64"))
    out[np.isinf(out)] = np.nan
    return out
