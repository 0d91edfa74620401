"""Every shard of a run's raw records as typed DataFrames (requests, events, calls).

Shards are JSON lines appended while the run went (read by ``analysis.shards``); a line cut
short by a crash is skipped and counted, never fatal, so an interrupted run still loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from dumgum_loadtest.analysis.shards import (
    CALLS,
    EVENTS,
    REQUESTS,
    LineCount,
    ShardKind,
    shard_tables,
)

REQUEST_COLUMNS = tuple(REQUESTS.schema.names)
EVENT_COLUMNS = tuple(EVENTS.schema.names)
CALL_COLUMNS = tuple(CALLS.schema.names)


@dataclass
class RawRecords:
    requests: pd.DataFrame
    events: pd.DataFrame
    calls: pd.DataFrame
    unreadable_lines: int


def read_shards(run_dir: Path, kind: ShardKind, count: LineCount) -> pa.Table:
    """Every shard of ``kind`` as one flat Arrow table."""
    tables = list(shard_tables(run_dir, kind, count))
    return pa.concat_tables(tables) if tables else kind.schema.empty_table()


def _frame(table: pa.Table) -> pd.DataFrame:
    # integers keep their missing values (nullable Int64), as the records have them
    frame: pd.DataFrame = table.to_pandas(
        types_mapper={pa.int64(): pd.Int64Dtype()}.get, self_destruct=True
    )
    return frame


def load_raw(run_dir: Path) -> RawRecords:
    """Every shard under ``<run_dir>/raw``; missing kinds give empty frames. Events come in
    receive order."""
    count = LineCount()
    requests = _frame(read_shards(run_dir, REQUESTS, count))
    events = read_shards(run_dir, EVENTS, count)
    # Arrow's sort is stable: events received at the same time keep their order
    events = events.take(pc.sort_indices(events, sort_keys=[("recv_ns", "ascending", "at_end")]))
    calls = _frame(read_shards(run_dir, CALLS, count))
    return RawRecords(requests, _frame(events), calls, count.unreadable)
