"""Raw shards become the same flat tables whether Arrow or the line-by-line reader reads
them; bad lines are skipped and counted; the Parquet tables are written whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from dumgum_loadtest.analysis import shards
from dumgum_loadtest.analysis.join import join_events
from dumgum_loadtest.analysis.load import load_raw
from dumgum_loadtest.analysis.shards import EVENTS, LineCount, shard_tables
from dumgum_loadtest.rundir import write_tables

S = 1_000_000_000


def _answer(answer_id: str, tag: str, recv_s: float, **extra: Any) -> dict[str, Any]:
    answer = {
        "id": answer_id,
        "userProfileId": "u1",
        "personaProfileId": "p1",
        "text": "a reply the tables do not keep",
        "tags": {"dlt_run": "run-1", "dlt_req": tag},
        "cost": "0.0250",
        "responseTime": 2,
        "sequenceNumber": 0,
        **extra,
    }
    body = {"event": "answer.created", "data": {"projectId": "proj", "answer": answer}}
    return {"recv_ns": int(recv_s * S), "endpoint": "incoming", "status": 204, "body": body}


def _processing(tag: str, recv_s: float) -> dict[str, Any]:
    data = {"projectId": "proj", "userProfileId": "u1", "personaProfileId": "p1"}
    data["tags"] = {"dlt_run": "run-1", "dlt_req": tag}  # type: ignore[assignment]
    body = {"event": "answer.processing", "data": data}
    return {"recv_ns": int(recv_s * S), "endpoint": "incoming", "status": 204, "body": body}


def _memory(recv_s: float) -> dict[str, Any]:
    body = {"event": "memory.updated", "data": {"memories": [{"uniqueIdentifier": "m"}]}}
    return {"recv_ns": int(recv_s * S), "endpoint": "memories", "status": 204, "body": body}


def _request(request_id: str) -> dict[str, Any]:
    return {
        "run_id": "run-1",
        "request_id": request_id,
        "user_id": "u1",
        "persona_id": "p1",
        "intended_ns": 1 * S,
        "sent_ns": None,
        "status": None,
        "test_mode": True,
    }


def _write(run_dir: Path, name: str, lines: list[Any], tail: bytes = b"") -> None:
    raw = run_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    text = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    (raw / name).write_bytes(text + tail)


def _events() -> list[dict[str, Any]]:
    return [
        _processing("r0", 1.0),
        _answer("a0", "r0", 3.0),
        _answer("a0", "r0", 2.0),  # the same answer, received earlier: written later
        _answer("a1", "r0", 4.0, sequenceNumber=1, cost="0.0000"),
        _memory(5.0),
        {"recv_ns": int(6 * S), "endpoint": "incoming", "status": 204, "body": None},
    ]


def _rows(run_dir: Path) -> tuple[list[dict[str, Any]], LineCount]:
    count = LineCount()
    tables = list(shard_tables(run_dir, EVENTS, count))
    return [row for table in tables for row in table.to_pylist()], count


def test_arrow_and_the_line_by_line_reader_give_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(tmp_path, "events-1.jsonl", _events())
    by_arrow, count = _rows(tmp_path)
    assert count.blocks_read_in_python == 0

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise shards.pa.ArrowInvalid("forced")

    monkeypatch.setattr(shards.pj, "read_json", refuse)
    by_python, count = _rows(tmp_path)
    assert count.blocks_read_in_python == 1
    assert by_arrow == by_python
    assert [row["event"] for row in by_arrow] == [
        "answer.processing",
        "answer.created",
        "answer.created",
        "answer.created",
        "memory.updated",
        None,
    ]
    first = by_arrow[1]
    assert first["tag_request"] == "r0" and first["tag_run"] == "run-1"
    assert first["answer_id"] == "a0" and first["cost"] == "0.0250"
    assert first["sequence_number"] == 0.0 and first["user_id"] == "u1"
    assert by_arrow[0]["tag_request"] == "r0" and by_arrow[0]["answer_id"] is None
    assert by_arrow[4]["tag_request"] is None


def test_bad_lines_are_skipped_and_counted_and_odd_types_kept(tmp_path: Path) -> None:
    events = _events()
    events[1]["body"]["data"]["answer"]["cost"] = 0.025  # a number where text is expected
    _write(tmp_path, "events-1.jsonl", [*events[:3], [1, 2], *events[3:]], tail=b'{"recv_ns": 7')
    raw = load_raw(tmp_path)
    assert raw.unreadable_lines == 2  # the array and the line cut short
    assert len(raw.events) == len(events)
    assert "0.025" in raw.events["cost"].tolist()
    # in receive order, the earlier delivery of a0 first
    assert raw.events["recv_ns"].tolist() == sorted(raw.events["recv_ns"].tolist())


def test_the_earliest_delivery_counts_whatever_the_row_order(tmp_path: Path) -> None:
    _write(tmp_path, "events-1.jsonl", _events())
    _write(tmp_path, "requests-0.jsonl", [_request("r0")])
    assert write_tables(tmp_path) == 0
    table = pq.read_table(tmp_path / "events.parquet")
    assert table.column("recv_ns").to_pylist()[1:3] == [3 * S, 2 * S]  # the shard's order
    frame = table.to_pandas()
    joined = join_events(load_raw(tmp_path).requests, frame)
    # a0 at 3 s repeats a0 at 2 s, though it comes first in the table
    assert joined.first_delivery.tolist()[1:3] == [False, True]


def test_tables_are_written_whole_with_every_line(tmp_path: Path) -> None:
    _write(tmp_path, "events-1.jsonl", _events())
    _write(tmp_path, "requests-0.jsonl", [_request(f"r{i}") for i in range(5)])
    _write(tmp_path, "requests-1.jsonl", [_request("r9")], tail=b"{cut")
    assert write_tables(tmp_path) == 1
    assert pq.read_table(tmp_path / "requests.parquet").num_rows == 6
    assert pq.read_table(tmp_path / "events.parquet").num_rows == len(_events())
    assert pq.read_table(tmp_path / "calls.parquet").num_rows == 0  # no shard: an empty table
    assert not list(tmp_path.glob(".*.partial"))


def test_a_cost_sent_as_a_number_keeps_its_block_on_arrow_and_its_text(tmp_path: Path) -> None:
    """DumGum sends the cost as text; one sent as a JSON number must neither push the whole
    block to the slow line-by-line reader nor lose its value through a double."""
    events = _events()
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = [orjson.dumps(line) for line in events]
    lines[1] = lines[1].replace(b'"cost":"0.0250"', b'"cost": 123456789012345678901234567')
    lines[2] = lines[2].replace(b'"cost":"0.0250"', b'"cost":1e400')
    lines[3] = lines[3].replace(b'"cost":"0.0000"', b'"cost":-0.0250')
    (raw / "events-1.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rows, count = _rows(tmp_path)
    assert count.blocks_read_in_python == 0 and count.unreadable == 0
    assert [row["cost"] for row in rows[1:4]] == [
        "123456789012345678901234567",
        "1e400",
        "-0.0250",
    ]
    # every other column as when the cost is text
    expected, _ = _rows_of(tmp_path / "text", events)
    for got, want in zip(rows, expected, strict=True):
        assert {k: v for k, v in got.items() if k != "cost"} == {
            k: v for k, v in want.items() if k != "cost"
        }


def _rows_of(run_dir: Path, events: list[Any]) -> tuple[list[dict[str, Any]], LineCount]:
    _write(run_dir, "events-1.jsonl", events)
    return _rows(run_dir)
