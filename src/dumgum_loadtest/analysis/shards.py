"""A run's raw JSON-line shards as flat Arrow tables, a block of lines at a time.

Arrow's JSON reader parses each block against just the fields the tables keep: about five
times the speed of parsing line by line in Python, and no Python object per value, so a
run of 10 M requests converts in bounded memory. A block Arrow refuses (a line cut short by
a crash, a line that is not an object, a field of an unexpected type) is read line by line
instead: lines that are not JSON objects are skipped and counted, values of the wrong type
become text or nothing. Either way a block gives the same flat table: one row per line, with
the columns of ``requests.parquet``, ``events.parquet`` or ``calls.parquet``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from dumgum_loadtest.records import RAW_DIR, REQUESTS_STEM, TAG_REQUEST, TAG_RUN, RequestRecord

BLOCK_BYTES = 32 << 20  # lines are read this much at a time
# "cost" given as a JSON number (DumGum sends text): Arrow would refuse the whole block for
# it. Quoted, it is read as the very text received (no rounding through a double, and
# 1e400 kept), and the analysis judges it like any other cost. In valid JSON the bytes
# "cost" then a colon, outside a string, can only be a key; a JSON number's characters
# are all in the class.
_NUMBER_COST = re.compile(rb'("cost"\s*:\s*)(-?[0-9][0-9.eE+-]*)')

_TEXT = pa.string()
# RequestRecord's annotations ("int | None" and the like) as Arrow types
_TYPES = {"str": _TEXT, "int": pa.int64(), "bool": pa.bool_(), "float": pa.float64()}
REQUEST_SCHEMA = pa.schema(
    [(f.name, _TYPES[str(f.type).split()[0]]) for f in fields(RequestRecord)]
)
EVENT_SCHEMA = pa.schema(
    [
        ("recv_ns", pa.int64()),
        ("endpoint", _TEXT),
        ("http_status", pa.int64()),
        ("event", _TEXT),
        ("project_id", _TEXT),
        ("user_id", _TEXT),
        ("persona_id", _TEXT),
        ("answer_id", _TEXT),
        ("sequence_number", pa.float64()),
        ("parent_answer_id", _TEXT),
        ("cost", _TEXT),
        ("response_time_s", pa.float64()),
        ("stop_reason", _TEXT),
        ("stopped_until", _TEXT),
        ("tag_run", _TEXT),
        ("tag_request", _TEXT),
    ]
)
CALL_SCHEMA = pa.schema(
    [
        ("recv_ns", pa.int64()),
        ("kind", _TEXT),
        ("status", pa.int64()),
        ("duration_ns", pa.int64()),
        ("response_bytes", pa.int64()),
        ("profile_id", _TEXT),
        ("user_id", _TEXT),
        ("persona_id", _TEXT),
        ("last_message_date", _TEXT),
    ]
)

# What the receiver writes, as far as the tables read it (everything else is skipped).
_TAGS = pa.struct([(TAG_RUN, _TEXT), (TAG_REQUEST, _TEXT)])
_ANSWER_FIELDS = (
    ("id", "answer_id", _TEXT),
    ("sequenceNumber", "sequence_number", pa.float64()),
    ("parentAnswerId", "parent_answer_id", _TEXT),
    ("cost", "cost", _TEXT),
    ("responseTime", "response_time_s", pa.float64()),
    ("conversationStopReason", "stop_reason", _TEXT),
    ("conversationStoppedUntil", "stopped_until", _TEXT),
)
_SOURCE_FIELDS = (("userProfileId", _TEXT), ("personaProfileId", _TEXT), ("tags", _TAGS))
_EVENT_JSON = pa.schema(
    [
        ("recv_ns", pa.int64()),
        ("endpoint", _TEXT),
        ("status", pa.int64()),
        (
            "body",
            pa.struct(
                [
                    ("event", _TEXT),
                    (
                        "data",
                        pa.struct(
                            [
                                ("projectId", _TEXT),
                                *_SOURCE_FIELDS,
                                (
                                    "answer",
                                    pa.struct(
                                        [*_SOURCE_FIELDS, *((n, t) for n, _, t in _ANSWER_FIELDS)]
                                    ),
                                ),
                            ]
                        ),
                    ),
                ]
            ),
        ),
    ]
)
_CALL_PARAMS = (
    ("profileId", "profile_id"),
    ("userProfileId", "user_id"),
    ("personaProfileId", "persona_id"),
    ("lastMessageDate", "last_message_date"),
)
_CALL_JSON = pa.schema(
    [
        *((f.name, f.type) for f in CALL_SCHEMA if f.name in ("recv_ns", "kind", "status")),
        ("duration_ns", pa.int64()),
        ("response_bytes", pa.int64()),
        ("params", pa.struct([(name, _TEXT) for name, _ in _CALL_PARAMS])),
    ]
)


def _flat_requests(table: pa.Table) -> pa.Table:
    return table


def _flat_events(table: pa.Table) -> pa.Table:
    body = table.column("body")
    data = pc.struct_field(body, "data")
    answer = pc.struct_field(data, "answer")
    has_answer = pc.is_valid(answer)

    def source(name: str) -> pa.ChunkedArray:
        """From the answer when the event has one, else from the event's data."""
        return pc.if_else(has_answer, pc.struct_field(answer, name), pc.struct_field(data, name))

    tags = source("tags")
    columns = {
        "recv_ns": table.column("recv_ns"),
        "endpoint": table.column("endpoint"),
        "http_status": table.column("status"),
        "event": pc.struct_field(body, "event"),
        "project_id": pc.struct_field(data, "projectId"),
        "user_id": source("userProfileId"),
        "persona_id": source("personaProfileId"),
    }
    for name, column, _ in _ANSWER_FIELDS:
        columns[column] = pc.struct_field(answer, name)
    columns["tag_run"] = pc.struct_field(tags, TAG_RUN)
    columns["tag_request"] = pc.struct_field(tags, TAG_REQUEST)
    return pa.table({name: columns[name] for name in EVENT_SCHEMA.names})


def _flat_calls(table: pa.Table) -> pa.Table:
    params = table.column("params")
    columns = {name: table.column(name) for name in CALL_SCHEMA.names[:5]}
    for name, column in _CALL_PARAMS:
        columns[column] = pc.struct_field(params, name)
    return pa.table(columns)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _request_row(record: dict[str, Any]) -> dict[str, Any]:
    return {name: record.get(name) for name in REQUEST_SCHEMA.names}


def _event_row(record: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "recv_ns": record.get("recv_ns"),
        "endpoint": record.get("endpoint"),
        "http_status": record.get("status"),
    }
    body = record.get("body")
    if not isinstance(body, dict):
        return row
    data = _mapping(body.get("data"))
    answer = data.get("answer") if isinstance(data.get("answer"), dict) else None
    source = answer if answer is not None else data
    tags = _mapping(source.get("tags"))
    row.update(
        event=body.get("event"),
        project_id=data.get("projectId"),
        user_id=source.get("userProfileId"),
        persona_id=source.get("personaProfileId"),
        tag_run=tags.get(TAG_RUN),
        tag_request=tags.get(TAG_REQUEST),
    )
    for name, column, _ in _ANSWER_FIELDS:
        row[column] = (answer or {}).get(name)
    return row


def _call_row(record: dict[str, Any]) -> dict[str, Any]:
    params = _mapping(record.get("params"))
    row = {name: record.get(name) for name in CALL_SCHEMA.names[:5]}
    row.update({column: params.get(name) for name, column in _CALL_PARAMS})
    return row


@dataclass(frozen=True)
class ShardKind:
    """One kind of shard: its file names, what Arrow parses, how a row is made flat."""

    stem: str
    schema: pa.Schema  # the flat table
    json_schema: pa.Schema  # the fields Arrow's reader parses, nested as written
    flatten: Callable[[pa.Table], pa.Table]
    row: Callable[[dict[str, Any]], dict[str, Any]]  # the same, for one line in Python

    def paths(self, run_dir: Path) -> list[Path]:
        return sorted((run_dir / RAW_DIR).glob(f"{self.stem}-*.jsonl"))


REQUESTS = ShardKind(REQUESTS_STEM, REQUEST_SCHEMA, REQUEST_SCHEMA, _flat_requests, _request_row)
EVENTS = ShardKind("events", EVENT_SCHEMA, _EVENT_JSON, _flat_events, _event_row)
CALLS = ShardKind("calls", CALL_SCHEMA, _CALL_JSON, _flat_calls, _call_row)


@dataclass
class LineCount:
    """Lines skipped because they were not JSON objects (a line cut short by a crash)."""

    unreadable: int = 0
    blocks_read_in_python: int = 0


def shard_tables(run_dir: Path, kind: ShardKind, count: LineCount) -> Iterator[pa.Table]:
    """Every line of every shard of ``kind``, as flat tables of a block of lines each."""
    for path in kind.paths(run_dir):
        for block in _blocks(path):
            table = _parse(block, kind, count)
            if table.num_rows:
                yield table


def _blocks(path: Path) -> Iterator[bytes]:
    """The file as blocks of whole lines (the last may lack its newline)."""
    with path.open("rb") as handle:
        while chunk := handle.read(BLOCK_BYTES):
            yield chunk + handle.readline()  # up to the end of the line the read cut


def _parse(block: bytes, kind: ShardKind, count: LineCount) -> pa.Table:
    table = _parse_arrow(block, kind)
    if table is None and kind is EVENTS and _NUMBER_COST.search(block):
        block = _NUMBER_COST.sub(rb'\1"\2"', block)  # only when Arrow refused: no cost else
        table = _parse_arrow(block, kind)
    if table is not None:
        return table
    count.blocks_read_in_python += 1
    rows = []
    for line in block.splitlines():
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            count.unreadable += 1  # a line cut short by a crash: keep going
            continue
        rows.append(kind.row(record))
    try:
        return pa.Table.from_pylist(rows, schema=kind.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError):
        return pa.Table.from_pylist([_typed(row, kind.schema) for row in rows], schema=kind.schema)


def _parse_arrow(block: bytes, kind: ShardKind) -> pa.Table | None:
    """The block as a flat table by Arrow's reader; None when it refuses the block."""
    try:
        nested = pj.read_json(
            pa.BufferReader(block),
            parse_options=pj.ParseOptions(
                explicit_schema=kind.json_schema, unexpected_field_behavior="ignore"
            ),
        )
        return kind.flatten(nested).cast(kind.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _typed(row: dict[str, Any], schema: pa.Schema) -> dict[str, Any]:
    """Each value as its column's type: numbers given as text are read, text given as a
    number is written out, anything else that does not fit is dropped."""
    return {f.name: _value(row.get(f.name), f.type) for f in schema}


def _value(value: Any, kind: pa.DataType) -> Any:
    if value is None:
        return None
    if kind == _TEXT:
        return value if isinstance(value, str) else orjson.dumps(value).decode()
    if kind == pa.bool_():
        return value if isinstance(value, bool) else None
    try:
        number = float(value) if kind == pa.float64() else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if isinstance(value, bool):
        return None
    return number
