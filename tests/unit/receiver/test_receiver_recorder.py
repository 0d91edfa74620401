"""Recorder: line format, one whole line per record, nothing lost, invalid bodies kept."""

from __future__ import annotations

import base64
import os
import socket
from pathlib import Path

import orjson
import pytest

from dumgum_loadtest.receiver.recorder import (
    JsonlShard,
    Recorder,
    call_line,
    event_line,
    invalid_event_line,
    shard_writer_id,
)

EVENT = {"event": "answer.created", "data": {"projectId": "proj_1", "answer": {"id": "answer_1"}}}


def test_event_line_embeds_the_body_verbatim() -> None:
    body = b'{"event":"answer.created","data":{"cost":"0.0250","n":1.50}}'
    line = event_line(123, b"incoming", 204, body)
    assert line == b'{"recv_ns":123,"endpoint":"incoming","status":204,"body":' + body + b"}\n"
    record = orjson.loads(line)
    assert list(record) == ["recv_ns", "endpoint", "status", "body"]
    assert record["body"]["data"]["cost"] == "0.0250"


def test_pretty_printed_body_stays_one_line() -> None:
    body = orjson.dumps(EVENT | {"text": "two\nlines"}, option=orjson.OPT_INDENT_2)
    body = body.replace(b"\n", b"\r\n")
    line = event_line(1, b"memory", 204, body)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert orjson.loads(line)["body"] == orjson.loads(body)


def test_invalid_body_is_kept_as_a_string() -> None:
    record = orjson.loads(invalid_event_line(5, "incoming", 400, b'{"event": '))
    assert record == {"recv_ns": 5, "endpoint": "incoming", "status": 400, "body": '{"event": '}


def test_non_utf8_body_is_kept_whole_in_base64() -> None:
    raw = b"\xff\xfe garbage \x00"
    record = orjson.loads(invalid_event_line(5, "memory", 400, raw))
    assert base64.b64decode(record["body_base64"]) == raw
    assert "garbage" in record["body"]


def test_call_line() -> None:
    record = orjson.loads(call_line(9, "profile", {"profileId": "u1"}, 200, 1500, 812))
    assert record == {
        "recv_ns": 9,
        "kind": "profile",
        "params": {"profileId": "u1"},
        "status": 200,
        "duration_ns": 1500,
        "response_bytes": 812,
    }


@pytest.mark.parametrize("fsync", [False, True])
def test_shard_appends_every_record_whole(tmp_path: Path, fsync: bool) -> None:
    shard = JsonlShard(tmp_path / "run", "events", fsync=fsync)
    lines = [event_line(n, b"incoming", 204, orjson.dumps(EVENT | {"n": n})) for n in range(500)]
    for line in lines:
        shard.append(line)  # opens lazily, creating the directory
    shard.close()
    assert shard.path == tmp_path / "run" / f"events-{shard_writer_id()}.jsonl"
    content = shard.path.read_bytes()
    assert content == b"".join(lines)
    assert shard.records == 500
    assert shard.bytes_written == len(content)
    assert [orjson.loads(x)["body"]["n"] for x in content.splitlines()] == list(range(500))


def test_shard_reopened_appends_instead_of_truncating(tmp_path: Path) -> None:
    for n in range(3):
        shard = JsonlShard(tmp_path, "calls")
        shard.append(call_line(n, "profile", {}, 200, 1, 1))
        shard.close()
    assert len((tmp_path / f"calls-{shard_writer_id()}.jsonl").read_bytes().splitlines()) == 3


def test_record_is_in_the_file_when_append_returns(tmp_path: Path) -> None:
    shard = JsonlShard(tmp_path, "events")
    path = shard.open()
    shard.append(b'{"a":1}\n')
    # Read through another descriptor while ours is still open: no user-space buffer holds it.
    assert path.read_bytes() == b'{"a":1}\n'
    shard.close()


def test_recorder_opens_both_shards_named_by_host_and_pid(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path)
    recorder.open()
    recorder.close()
    writer = shard_writer_id()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"calls-{writer}.jsonl",
        f"events-{writer}.jsonl",
    ]


def test_a_restart_with_the_same_pid_never_glues_a_record_onto_a_half_written_line(
    tmp_path: Path,
) -> None:
    # A receiver killed (-9) mid-write left half a record; the restarted one has the same pid
    # (PID 1 in a container), so it appends to the very same file.
    path = tmp_path / f"events-{shard_writer_id()}.jsonl"
    whole = event_line(1, b"incoming", 204, orjson.dumps(EVENT))
    path.write_bytes(whole + whole[: len(whole) // 2])
    shard = JsonlShard(tmp_path, "events")
    shard.open()
    shard.append(event_line(2, b"incoming", 204, orjson.dumps(EVENT)))
    shard.close()
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    assert orjson.loads(lines[-1])["recv_ns"] == 2  # the acknowledged event is readable
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[1])  # the torn record stays, alone on its line


def test_reopening_a_cleanly_ended_shard_adds_no_blank_line(tmp_path: Path) -> None:
    line = event_line(1, b"incoming", 204, orjson.dumps(EVENT))
    for _ in range(2):
        shard = JsonlShard(tmp_path, "events")
        shard.append(line)
        shard.close()
    assert (tmp_path / f"events-{shard_writer_id()}.jsonl").read_bytes() == line + line


def test_shard_names_carry_the_host_so_pods_sharing_a_volume_never_share_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pods of one Deployment on one volume often all run as PID 1: the host name tells apart.
    monkeypatch.setattr(socket, "gethostname", lambda: "receiver-7f9c4 pod/a")
    monkeypatch.setattr(os, "getpid", lambda: 1)
    assert shard_writer_id() == "receiver-7f9c4_pod_a-1"
    shard = JsonlShard(tmp_path, "events")
    assert shard.open().name == "events-receiver-7f9c4_pod_a-1.jsonl"
    shard.close()
