"""Read every shard of a run's raw records into typed DataFrames (requests, events, calls).

Shards are JSON lines appended while the run went; a line cut short by a crash is skipped
and counted, never fatal, so an interrupted run still loads.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from dumgum_loadtest.records import RAW_DIR, REQUESTS_STEM, TAG_REQUEST, TAG_RUN, RequestRecord

EVENT_COLUMNS = (
    "recv_ns",
    "endpoint",
    "http_status",
    "event",
    "project_id",
    "user_id",
    "persona_id",
    "answer_id",
    "sequence_number",
    "parent_answer_id",
    "cost",
    "response_time_s",
    "stop_reason",
    "stopped_until",
    "tag_run",
    "tag_request",
)
CALL_COLUMNS = (
    "recv_ns",
    "kind",
    "status",
    "duration_ns",
    "response_bytes",
    "profile_id",
    "user_id",
    "persona_id",
    "last_message_date",
)
REQUEST_COLUMNS = tuple(f.name for f in fields(RequestRecord))


@dataclass
class RawRecords:
    requests: pd.DataFrame
    events: pd.DataFrame
    calls: pd.DataFrame
    unreadable_lines: int


def _lines(paths: list[Path]) -> Iterator[bytes]:
    for path in paths:
        with path.open("rb") as handle:
            yield from handle


def _parse(paths: list[Path], counter: list[int]) -> Iterator[dict[str, Any]]:
    for line in _lines(paths):
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            counter[0] += 1  # a line cut short by a crash: keep going
            continue
        if isinstance(record, dict):
            yield record
        else:
            counter[0] += 1


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_row(record: dict[str, Any]) -> dict[str, Any]:
    body = record.get("body")
    row: dict[str, Any] = {
        "recv_ns": record.get("recv_ns"),
        "endpoint": record.get("endpoint"),
        "http_status": record.get("status"),
    }
    if not isinstance(body, dict):
        row["event"] = None
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
    if answer is not None:
        row.update(
            answer_id=answer.get("id"),
            sequence_number=answer.get("sequenceNumber"),
            parent_answer_id=answer.get("parentAnswerId"),
            cost=answer.get("cost"),
            response_time_s=answer.get("responseTime"),
            stop_reason=answer.get("conversationStopReason"),
            stopped_until=answer.get("conversationStoppedUntil"),
        )
    return row


def _call_row(record: dict[str, Any]) -> dict[str, Any]:
    params = _mapping(record.get("params"))
    return {
        "recv_ns": record.get("recv_ns"),
        "kind": record.get("kind"),
        "status": record.get("status"),
        "duration_ns": record.get("duration_ns"),
        "response_bytes": record.get("response_bytes"),
        "profile_id": params.get("profileId"),
        "user_id": params.get("userProfileId"),
        "persona_id": params.get("personaProfileId"),
        "last_message_date": params.get("lastMessageDate"),
    }


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in columns:
        if column.endswith("_ns"):
            frame[column] = frame[column].astype("Int64")
    return frame


def raw_dir(run_dir: Path) -> Path:
    return run_dir / RAW_DIR


def load_raw(run_dir: Path) -> RawRecords:
    """Every shard under ``<run_dir>/raw``; missing kinds give empty frames."""
    base = raw_dir(run_dir)
    bad = [0]
    requests = _frame(
        list(_parse(sorted(base.glob(f"{REQUESTS_STEM}-*.jsonl")), bad)), REQUEST_COLUMNS
    )
    events = _frame(
        [_event_row(r) for r in _parse(sorted(base.glob("events-*.jsonl")), bad)], EVENT_COLUMNS
    )
    calls = _frame(
        [_call_row(r) for r in _parse(sorted(base.glob("calls-*.jsonl")), bad)], CALL_COLUMNS
    )
    events = events.sort_values("recv_ns", kind="stable").reset_index(drop=True)
    return RawRecords(requests, events, calls, bad[0])
