"""Events joined to the requests they answer, once, as compact per-event arrays.

Every later step (stage timestamps, outcomes, hygiene, the measured cost) works on these
numpy arrays, indexed by the request's row position, instead of on the events' text. The
text (correlation tags, answer ids, event names, costs) is read a row group at a time and
reduced at once to integers: about 20 bytes per event instead of about 150, which is what
lets 30 M events fit in a few hundred MB.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dumgum_loadtest.analysis.columns import first_occurrences

PROCESSING, FIRST_ANSWER, FOLLOW_UP, DROPPED, OTHER = range(5)
_NAMED_KINDS = {
    "answer.processing": PROCESSING,
    "answer.created": FIRST_ANSWER,  # a follow-up when its sequenceNumber is above 0
    "conversation.dropped": DROPPED,
}
# The event columns the join reads; the rest (user, persona, parent answer...) stays on disk.
JOIN_COLUMNS = (
    "recv_ns",
    "event",
    "sequence_number",
    "tag_request",
    "tag_run",
    "answer_id",
    "cost",
    "stop_reason",
    "stopped_until",
)


@dataclass(frozen=True)
class JoinedEvents:
    """Per event, in the order read (the shards' order for a run's tables).

    ``request_pos``: the request row its correlation tag names (-1: none of these requests);
    ``kind``: PROCESSING, FIRST_ANSWER, FOLLOW_UP, DROPPED or OTHER; ``recv_ns``: receive
    time (float64 ns, NaN when missing); ``sequence_sign``: the sign of sequenceNumber
    (missing: 0), which tells first messages (0) from follow-ups; ``first_delivery``: False
    for an answer.created repeating an answer id received earlier (at-least-once delivery);
    ``cost_code``: index into ``cost_values`` of ``answer.cost`` (-1: none); ``other_run``:
    tagged with another run's id, or with none. ``stop_rows``: the (few) events carrying a
    conversationStopReason, and ``stopped_until_ns`` for each (inf: permanent or unstated).
    """

    request_pos: np.ndarray
    kind: np.ndarray
    recv_ns: np.ndarray
    sequence_sign: np.ndarray
    first_delivery: np.ndarray
    cost_code: np.ndarray
    cost_values: list[Any]
    other_run: np.ndarray
    stop_rows: np.ndarray
    stopped_until_ns: np.ndarray

    def __len__(self) -> int:
        return len(self.kind)

    @property
    def created(self) -> np.ndarray:
        """answer.created events (first messages and follow-ups)."""
        out: np.ndarray = (self.kind == FIRST_ANSWER) | (self.kind == FOLLOW_UP)
        return out


def request_ids(requests: pd.DataFrame) -> pa.Array:
    """The ``request_id`` column as one Arrow string array (no copy when Arrow-backed)."""
    return text_array(pa.array(requests["request_id"], from_pandas=True))


def join_events(
    requests: pd.DataFrame, events: pd.DataFrame, run_id: str | None = None
) -> JoinedEvents:
    """Join events held in a DataFrame (raw shards, tests) to ``requests``."""
    present = [column for column in JOIN_COLUMNS if column in events.columns]
    table = pa.Table.from_pandas(events[present], preserve_index=False)
    return join_tables(request_ids(requests), [table], run_id)


def read_joined_events(path: Path, ids: pa.Array, run_id: str | None) -> JoinedEvents:
    """Join a run's ``events.parquet`` to the request ids, a row group at a time."""
    # A few distinct names, costs and run ids: read as the file's dictionaries, never hashed.
    parquet = pq.ParquetFile(path, read_dictionary=["event", "cost", "tag_run"])
    columns = [name for name in JOIN_COLUMNS if name in parquet.schema_arrow.names]
    groups = (
        parquet.read_row_group(index, columns=columns)
        for index in range(parquet.metadata.num_row_groups)
    )
    return join_tables(ids, groups, run_id)


class _Builder:
    """The compact arrays, grown a table at a time; the text needed at the end is kept as
    Arrow chunks (tags, and answer ids of answer.created only), then dropped."""

    def __init__(self, run_id: str | None) -> None:
        self.run_id = run_id
        self.kinds: list[np.ndarray] = []
        self.recv: list[np.ndarray] = []
        self.signs: list[np.ndarray] = []
        self.costs: list[np.ndarray] = []
        self.other: list[np.ndarray] = []
        self.tags: list[pa.Array] = []
        self.answer_ids: list[pa.Array] = []
        self.created_rows: list[np.ndarray] = []
        self.stop_rows: list[np.ndarray] = []
        self.stopped_until: list[np.ndarray] = []
        self.cost_index: dict[Any, int] = {}
        self.rows = 0

    def add(self, table: pa.Table) -> None:
        size = table.num_rows
        sequence = _floats(_column(table, "sequence_number"), 0.0)
        kind = _kinds(_column(table, "event"))
        kind[(kind == FIRST_ANSWER) & (sequence > 0)] = FOLLOW_UP
        self.kinds.append(kind)
        self.signs.append(np.sign(np.nan_to_num(sequence)).astype("int8"))
        self.recv.append(_floats(_column(table, "recv_ns"), np.nan))
        self.costs.append(self._cost_codes(_column(table, "cost")))
        self.other.append(self._other_run(_column(table, "tag_run"), size))
        self.tags.append(text_array(_column(table, "tag_request")))
        created = np.flatnonzero((kind == FIRST_ANSWER) | (kind == FOLLOW_UP))
        answers = text_array(_column(table, "answer_id"))
        self.answer_ids.append(answers.take(pa.array(created, type=pa.int64())))
        self.created_rows.append(created + self.rows)
        stops = np.flatnonzero(
            _column(table, "stop_reason").is_valid().to_numpy(zero_copy_only=False)
        )
        self.stop_rows.append(stops + self.rows)
        self.stopped_until.append(_epoch_ns(_column(table, "stopped_until"), stops))
        self.rows += size

    def _cost_codes(self, costs: pa.Array) -> np.ndarray:
        """Codes into the costs seen so far (a handful of distinct strings per run)."""
        if pa.types.is_null(costs.type):
            return np.full(len(costs), -1, dtype="int32")
        encoded = _dictionary(costs)
        local = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        mapping = np.array(
            [
                self.cost_index.setdefault(v, len(self.cost_index))
                for v in encoded.dictionary.to_pylist()
            ]
            + [-1],
            dtype="int32",
        )
        codes: np.ndarray = mapping[local]
        return codes

    def _other_run(self, tags: pa.Array, size: int) -> np.ndarray:
        if self.run_id is None:
            return np.zeros(size, dtype=bool)
        if pa.types.is_null(tags.type):
            return np.ones(size, dtype=bool)
        encoded = _dictionary(tags)
        ours = [value == self.run_id for value in encoded.dictionary.to_pylist()]
        table = np.array([*ours, False], dtype=bool)  # the last slot: no run id at all
        other: np.ndarray = ~table[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
        return other

    def finish(self, ids: pa.Array) -> JoinedEvents:
        positions = _positions(self.tags, ids)
        self.tags.clear()  # the largest text of all: freed as soon as joined
        recv_ns = _concat(self.recv, "float64")
        created = _concat(self.created_rows, "int64")
        first_delivery = np.ones(self.rows, dtype=bool)
        if len(created):
            answers = pa.chunked_array(self.answer_ids, type=pa.string())
            # the first delivery is the earliest received (rows need not be in receive order)
            times = recv_ns[created]
            if not bool(np.all(times[1:] >= times[:-1])):
                order = np.argsort(times, kind="stable")  # NaN (no time) last
                created, answers = created[order], answers.take(pa.array(order))
            column = pd.Series(pd.arrays.ArrowExtensionArray(answers))
            # an answer without an id counts once per delivery: nothing to tell repeats by
            first_delivery[created] = first_occurrences(column) | column.isna().to_numpy()
        self.answer_ids.clear()
        return JoinedEvents(
            request_pos=positions,
            kind=_concat(self.kinds, "int8"),
            recv_ns=recv_ns,
            sequence_sign=_concat(self.signs, "int8"),
            first_delivery=first_delivery,
            cost_code=_concat(self.costs, "int32"),
            cost_values=list(self.cost_index),
            other_run=_concat(self.other, "bool"),
            stop_rows=_concat(self.stop_rows, "int64"),
            stopped_until_ns=_concat(self.stopped_until, "float64"),
        )


def join_tables(ids: pa.Array, tables: Iterable[pa.Table], run_id: str | None) -> JoinedEvents:
    """Events (as Arrow tables, in order) joined to the request ids (``request_ids``)."""
    builder = _Builder(run_id)
    for table in tables:
        builder.add(table)
    return builder.finish(ids)


def _positions(tags: list[pa.Array], ids: pa.Array) -> np.ndarray:
    """Per tag, the first request row with that id (-1: none; a missing tag matches none)."""
    if not tags:
        return np.zeros(0, dtype="int32")
    kind = "int32" if len(ids) < 2**31 else "int64"
    if not len(ids):
        return np.full(sum(len(t) for t in tags), -1, dtype=kind)
    # One lookup over all the chunks: Arrow builds the hash table of the ids once.
    found = pc.index_in(
        pa.chunked_array(tags, type=pa.string()),
        options=pc.SetLookupOptions(value_set=ids, skip_nulls=True),
    )
    positions: np.ndarray = found.fill_null(-1).to_numpy().astype(kind)
    return positions


def _column(table: pa.Table, name: str) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows)
    column = table.column(name)
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def text_array(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """As one plain string array (dictionaries decoded, nulls and numbers cast)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    if pa.types.is_large_string(array.type) or not pa.types.is_string(array.type):
        array = array.cast(pa.string())
    return array


def _dictionary(array: pa.Array) -> pa.DictionaryArray:
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    assert isinstance(encoded, pa.DictionaryArray)
    return encoded


def _kinds(names: pa.Array) -> np.ndarray:
    """Event names through their dictionary: a handful of strings, millions of rows."""
    if pa.types.is_null(names.type):
        return np.full(len(names), OTHER, dtype="int8")
    encoded = _dictionary(names)
    lookup = [_NAMED_KINDS.get(name, OTHER) for name in encoded.dictionary.to_pylist()]
    table = np.array([*lookup, OTHER], dtype="int8")  # the last slot: no name at all
    kinds: np.ndarray = table[encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)]
    return kinds


def _floats(values: pa.Array, missing: float) -> np.ndarray:
    if pa.types.is_null(values.type):
        return np.full(len(values), missing)
    out: np.ndarray = values.cast(pa.float64(), safe=False).fill_null(missing).to_numpy()
    return out


def _epoch_ns(times: pa.Array, rows: np.ndarray) -> np.ndarray:
    """ISO 8601 date-times at ``rows`` as epoch ns (float64; inf: none or unreadable)."""
    if not len(rows):
        return np.zeros(0)
    values = text_array(times).take(pa.array(rows, type=pa.int64())).to_pylist()
    parsed = pd.to_datetime(
        pd.Series(values, dtype=object), utc=True, errors="coerce", format="ISO8601"
    )
    nanos = parsed.dt.tz_localize(None).dt.as_unit("ns").to_numpy(dtype="datetime64[ns]")
    out: np.ndarray = nanos.view("int64").astype("float64")
    out[parsed.isna().to_numpy()] = np.inf
    return out


def _concat(parts: list[np.ndarray], dtype: str) -> np.ndarray:
    """The parts as one array; the list is emptied (each column is held twice, not all)."""
    out = np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)
    parts.clear()
    return out


def stage_times_ns(joined: JoinedEvents, size: int) -> dict[str, np.ndarray]:
    """Per request row (``size`` of them), the receive time (float64 ns, NaN: none) of its
    first answer.processing, first first message, last message and first drop.

    The events of this run's requests are picked out once for all four.
    """
    matched = joined.request_pos >= 0
    positions, kind, recv_ns = (
        joined.request_pos[matched],
        joined.kind[matched],
        joined.recv_ns[matched],
    )
    del matched
    wanted = np.zeros(OTHER + 1, dtype=bool)

    def reduce(kinds: tuple[int, ...], first: bool) -> np.ndarray:
        wanted[:] = False
        wanted[list(kinds)] = True
        rows = wanted[kind]
        out = np.full(size, np.inf if first else -np.inf)
        (np.fmin if first else np.fmax).at(out, positions[rows], recv_ns[rows])
        out[np.isinf(out)] = np.nan
        return out

    return {
        "processing_ns": reduce((PROCESSING,), first=True),
        "first_answer_ns": reduce((FIRST_ANSWER,), first=True),
        "last_message_ns": reduce((FIRST_ANSWER, FOLLOW_UP), first=False),
        "dropped_ns": reduce((DROPPED,), first=True),
    }
