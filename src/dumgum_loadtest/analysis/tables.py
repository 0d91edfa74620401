"""A run's tables as the analysis reads them: the requests (only the columns it uses, compactly
typed), the events already joined to them (``JoinedEvents``), and the customer-endpoint calls.

From the Parquet tables a finished run writes, else from the raw shards (an interrupted
run). At 10 M requests and 30 M events this is what keeps memory to a few GB: text that
repeats (models, stages, languages) becomes pandas categories, ids stay Arrow text, and the
events' text never reaches pandas at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from dumgum_loadtest.analysis.join import (
    JoinedEvents,
    join_events,
    join_tables,
    read_joined_events,
    text_array,
)
from dumgum_loadtest.analysis.load import RawRecords, load_raw, read_shards
from dumgum_loadtest.analysis.shards import (
    CALLS,
    EVENTS,
    REQUESTS,
    LineCount,
    ShardKind,
    shard_tables,
)
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.records import RAW_DIR

TABLE_NAMES = ("requests", "events", "calls")
# What the analysis, the cost section and the reports read of each request.
REQUEST_COLUMNS_READ = (
    "request_id",
    "conversation_id",
    "turn",
    "stage",
    "user_id",
    "persona_id",
    "intended_ns",
    "sent_ns",
    "response_ns",
    "status",
    "send_state",
    "chat_model",
    "language",
    "test_mode",
    "buffer_s",
    "max_processing_s",
    "generate_personality",
    "vision",
    "shareable_pictures",
    "multiple_messages",
    "typing_delay",
    "engage",
)
CALL_COLUMNS_READ = ("kind", "status", "duration_ns", "response_bytes")
# Text read as pandas categories: a few values over millions of rows, dictionary-encoded in
# the Parquet file already (no hashing). Ids (requests, users, personas, conversations) stay
# Arrow text: the steps that group by them hash only the rows they need.
_FEW_VALUES = frozenset(
    {"stage", "send_state", "chat_model", "language", "typing_delay", "engage", "kind"}
)


@dataclass
class RunTables:
    """What ``analyse`` works from; ``requests`` has a RangeIndex that ``events`` points
    into."""

    requests: pd.DataFrame
    events: JoinedEvents
    calls: pd.DataFrame
    unreadable_lines: int
    notes: list[str] = field(default_factory=list)  # how the tables were read, when it matters

    @classmethod
    def from_raw(cls, raw: RawRecords, run_id: str | None = None) -> RunTables:
        requests = raw.requests.reset_index(drop=True)
        joined = join_events(requests, raw.events, run_id)
        return cls(requests, joined, raw.calls, raw.unreadable_lines)


def table_paths(run_dir: Path) -> dict[str, Path]:
    return {name: run_dir / f"{name}.parquet" for name in TABLE_NAMES}


def load_run_tables(run_dir: Path, run_id: str | None = None) -> RunTables:
    """The Parquet tables when the run finished writing them, else the raw shards.

    ``run_id``: events tagged with another run's id count as not this run's.
    """
    paths = table_paths(run_dir)
    with _memory_given_back():
        if not all(path.exists() for path in paths.values()):
            return _read_shards(run_dir, run_id)
        try:
            return _read_run_tables(paths, run_id)
        except _UNREADABLE_TABLE as exc:
            note = _fall_back_note(run_dir, paths, exc)
        tables = _read_shards(run_dir, run_id)
        tables.notes.append(note)
        return tables


# What pyarrow raises for a truncated, overwritten or otherwise corrupt Parquet file.
_UNREADABLE_TABLE = (pa.ArrowException, OSError, ValueError)


def _fall_back_note(run_dir: Path, paths: dict[str, Path], exc: Exception) -> str:
    """The note that says the Parquet tables were unreadable and the raw shards were read
    instead; a ConfigError naming the file when there are no raw shards to read."""
    bad = _unreadable_table(paths) or paths["requests"]
    if not any(has_shards(run_dir, kind) for kind in (REQUESTS, EVENTS, CALLS)):
        raise ConfigError(
            f"{bad}: unreadable ({exc}) and {run_dir / RAW_DIR} has no raw records to rebuild"
            " it from; restore the file or the raw/ directory"
        )
    return (
        f"{bad.name} could not be read ({type(exc).__name__}: {str(exc)[:120]}); the report was"
        f" rebuilt from the raw records in {RAW_DIR}/"
    )


def _unreadable_table(paths: dict[str, Path]) -> Path | None:
    for path in paths.values():
        try:
            pq.read_metadata(path)
        except _UNREADABLE_TABLE:
            return path
    return None


def has_shards(run_dir: Path, kind: ShardKind) -> bool:
    return bool(kind.paths(run_dir))


def _read_shards(run_dir: Path, run_id: str | None) -> RunTables:
    """An interrupted run's raw shards, into the same compact tables: the events are joined
    a block of lines at a time, never held as text."""
    count = LineCount()
    requests = read_shards(run_dir, REQUESTS, count)
    ids = text_array(requests.column("request_id"))
    events = join_tables(ids, shard_tables(run_dir, EVENTS, count), run_id)
    frame = _frame(requests.select(list(REQUEST_COLUMNS_READ[1:])))
    frame.insert(0, "request_id", pd.Series(pd.arrays.ArrowExtensionArray(ids)))
    calls = _frame(read_shards(run_dir, CALLS, count).select(list(CALL_COLUMNS_READ)))
    return RunTables(frame, events, calls, count.unreadable)


def _read_run_tables(paths: dict[str, Path], run_id: str | None) -> RunTables:
    # The events first, joined to the request ids alone: the join's hash table and the tags
    # then never share memory with the other request columns.
    ids = _request_ids(paths["requests"])
    events = read_joined_events(paths["events"], ids, run_id)
    requests = read_table(paths["requests"], REQUEST_COLUMNS_READ[1:])
    requests.insert(0, "request_id", pd.Series(pd.arrays.ArrowExtensionArray(ids)))
    calls = read_table(paths["calls"], CALL_COLUMNS_READ)
    return RunTables(requests, events, calls, 0)


@contextmanager
def _memory_given_back() -> Iterator[None]:
    """Arrow allocates from jemalloc told to return freed pages at once (where the wheel has
    it): the text read and dropped while loading otherwise stays resident, and at 10 M
    requests that is the analysis' peak memory."""
    try:
        pool = pa.jemalloc_memory_pool()
    except NotImplementedError:
        yield
        return
    previous = pa.default_memory_pool()
    pa.jemalloc_set_decay_ms(0)
    pa.set_memory_pool(pool)
    try:
        yield
    finally:
        pa.set_memory_pool(previous)  # buffers go back to the pool they came from


def _request_ids(path: Path) -> pa.Array:
    parquet = pq.ParquetFile(path)
    if "request_id" not in parquet.schema_arrow.names:
        return pa.nulls(parquet.metadata.num_rows, pa.string())
    return text_array(parquet.read(columns=["request_id"]).column(0))


def load_records(run_dir: Path) -> RawRecords:
    """Every column of every table (what ``cost calibrate`` reads), Parquet or raw shards."""
    paths = table_paths(run_dir)
    if not all(path.exists() for path in paths.values()):
        return load_raw(run_dir)
    try:
        frames = {name: read_table(path, None) for name, path in paths.items()}
    except _UNREADABLE_TABLE as exc:
        _fall_back_note(run_dir, paths, exc)  # refuses when there are no raw shards
        return load_raw(run_dir)
    return RawRecords(frames["requests"], frames["events"], frames["calls"], 0)


def read_table(path: Path, columns: tuple[str, ...] | None) -> pd.DataFrame:
    """The ``columns`` of a Parquet table (all: None) that it has, read and converted a column
    at a time, so only one column's Arrow buffers are ever held beside the frame."""
    names = pq.read_schema(path).names
    wanted = names if columns is None else [name for name in columns if name in names]
    parquet = pq.ParquetFile(path, read_dictionary=[n for n in wanted if n in _FEW_VALUES])
    frame = {name: _series(name, parquet.read(columns=[name]).column(0)) for name in wanted}
    return pd.DataFrame(frame, copy=False)  # no copy into 2-D blocks


def _frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as the same compact frame ``read_table`` gives."""
    frame = {name: _series(name, table.column(name)) for name in table.column_names}
    return pd.DataFrame(frame, copy=False)


def _series(name: str, column: pa.ChunkedArray) -> pd.Series:
    kind = column.type
    if name in _FEW_VALUES and (
        pa.types.is_dictionary(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind)
    ):
        return pd.Series(_categorical(column))
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        # other text (ids) stays Arrow-backed, without a copy
        return pd.Series(pd.arrays.ArrowExtensionArray(column))
    if (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and column.null_count == 0:
        values = column.to_numpy()
        # counts, seconds and statuses: int32 halves them (times keep their 64 bits)
        if pa.types.is_integer(kind) and not name.endswith("_ns") and _fits_int32(values):
            values = values.astype("int32")
        return pd.Series(values)
    series: pd.Series = column.to_pandas()  # numbers with gaps become float64 with NaN
    return series


def _fits_int32(values: np.ndarray) -> bool:
    limits = np.iinfo("int32")
    return bool(len(values)) and limits.min <= values.min() and values.max() <= limits.max


def _categorical(column: pa.ChunkedArray) -> pd.Categorical:
    """Text as a pandas categorical with one dictionary for all chunks: the file's own
    dictionaries unified (a few values each), else the text hashed once by Arrow."""
    if pa.types.is_dictionary(column.type):
        encoded = column.unify_dictionaries().combine_chunks()
    else:
        encoded = pc.dictionary_encode(column.combine_chunks())
    codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
    values = encoded.dictionary.cast(pa.string()).to_pylist()
    return pd.Categorical.from_codes(codes, categories=values)
