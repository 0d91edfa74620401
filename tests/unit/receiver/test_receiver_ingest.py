"""The webhook hot path called as a bare ASGI app: record first, then answer."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.types import Message

from dumgum_loadtest.receiver.ingest import CLIENT_CLOSED_STATUS, NO_EVENT_NAME, EventEndpoint
from dumgum_loadtest.receiver.recorder import JsonlShard

SCOPE: dict[str, Any] = {"type": "http", "method": "POST", "path": "/incoming", "headers": []}


def call(endpoint: EventEndpoint, messages: list[Message], shard: JsonlShard) -> list[Message]:
    """Run one request; each message sent is stored with the lines on disk at that moment."""
    sent: list[Message] = []
    inbox = list(messages)

    async def receive() -> Message:
        return inbox.pop(0)

    async def send(message: Message) -> None:
        assert shard.path is not None
        sent.append({**message, "lines_on_disk": shard.path.read_bytes().splitlines()})

    asyncio.run(endpoint(SCOPE, receive, send))
    return sent


def body(chunk: bytes, more: bool = False) -> Message:
    return {"type": "http.request", "body": chunk, "more_body": more}


@pytest.fixture
def shard(tmp_path: Path) -> JsonlShard:
    shard = JsonlShard(tmp_path, "events")
    shard.open()
    return shard


def test_event_is_on_disk_before_the_204(shard: JsonlShard) -> None:
    seen: list[tuple[str, Any, int]] = []
    counts: Counter[str] = Counter()

    async def hook(name: str, document: Any, recv_ns: int) -> None:
        seen.append((name, document, recv_ns))

    endpoint = EventEndpoint("incoming", shard, counts, hook)
    event = orjson.dumps({"event": "answer.processing", "data": {"projectId": "p"}})
    start, end = call(endpoint, [body(event)], shard)
    assert start["status"] == 204
    (line,) = start["lines_on_disk"]
    record = orjson.loads(line)
    assert record["endpoint"] == "incoming" and record["status"] == 204
    assert record["body"] == orjson.loads(event)
    assert end["body"] == b""
    assert counts == Counter({"answer.processing": 1})
    assert seen == [("answer.processing", orjson.loads(event), record["recv_ns"])]


def test_a_body_in_chunks_is_joined(shard: JsonlShard) -> None:
    endpoint = EventEndpoint("memory", shard, Counter())
    event = orjson.dumps({"event": "memory.updated", "data": {"memories": []}})
    messages = [body(event[:7], more=True), body(event[7:20], more=True), body(event[20:])]
    start, _ = call(endpoint, messages, shard)
    assert start["status"] == 204
    assert orjson.loads(start["lines_on_disk"][0])["body"] == orjson.loads(event)


def test_invalid_json_is_recorded_and_answered_400(shard: JsonlShard) -> None:
    endpoint = EventEndpoint("incoming", shard, Counter())
    start, end = call(endpoint, [body(b"{oops")], shard)
    assert start["status"] == 400
    assert orjson.loads(start["lines_on_disk"][0])["body"] == "{oops"
    assert "not valid JSON" in orjson.loads(end["body"])["error"]
    assert endpoint.invalid_bodies == 1


def test_a_body_cut_by_a_disconnect_is_still_recorded(shard: JsonlShard) -> None:
    endpoint = EventEndpoint("incoming", shard, Counter())
    sent = call(endpoint, [body(b'{"event":', more=True), {"type": "http.disconnect"}], shard)
    assert sent == []
    assert shard.path is not None
    record = orjson.loads(shard.path.read_bytes())
    assert record["status"] == CLIENT_CLOSED_STATUS
    assert record["body"] == '{"event":'


@pytest.mark.parametrize("document", [[1, 2], {"data": {}}, {"event": 3}, "text"])
def test_json_without_an_event_name_is_counted_apart(shard: JsonlShard, document: object) -> None:
    counts: Counter[str] = Counter()
    start, _ = call(EventEndpoint("incoming", shard, counts), [body(orjson.dumps(document))], shard)
    assert start["status"] == 204
    assert counts == Counter({NO_EVENT_NAME: 1})


def answer(n: int) -> bytes:
    return orjson.dumps({"event": "answer.created", "data": {"answer": {"id": f"answer_{n}"}}})


def call_together(
    endpoint: EventEndpoint, bodies: list[bytes], shard: JsonlShard
) -> list[list[Message] | BaseException]:
    """Start one request per body in the same loop turn, as a server does for requests that
    arrived together; each message sent is stored with the lines on disk at that moment."""

    async def one(event: bytes) -> list[Message]:
        sent: list[Message] = []
        inbox = [body(event)]

        async def receive() -> Message:
            return inbox.pop(0)

        async def send(message: Message) -> None:
            assert shard.path is not None
            sent.append({**message, "lines_on_disk": shard.path.read_bytes().splitlines()})

        await endpoint(SCOPE, receive, send)
        return sent

    async def all_of_them() -> list[list[Message] | BaseException]:
        return await asyncio.gather(*(one(event) for event in bodies), return_exceptions=True)

    return asyncio.run(all_of_them())


def test_events_that_arrive_together_are_each_on_disk_before_their_204(
    shard: JsonlShard,
) -> None:
    endpoint = EventEndpoint("incoming", shard, Counter())
    bodies = [answer(n) for n in range(8)]
    results = call_together(endpoint, bodies, shard)
    for event, sent in zip(bodies, results, strict=True):
        assert not isinstance(sent, BaseException)
        start, _ = sent
        assert start["status"] == 204
        on_disk = [orjson.loads(line)["body"] for line in start["lines_on_disk"]]
        assert orjson.loads(event) in on_disk  # its own record was there before its 204
    assert shard.records == 8


def test_failed_writes_answer_no_2xx_and_the_next_records_stay_readable(
    shard: JsonlShard, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = os.write
    calls = 0

    def disk_full_halfway(fd: int, data: bytes | memoryview) -> int:
        # The first call writes part of what it was given, ending mid-line, and the next
        # fails: a disk that fills up.
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data)[: len(data) // 2 + 7])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", disk_full_halfway)
    endpoint = EventEndpoint("incoming", shard, Counter())
    failed = call_together(endpoint, [answer(n) for n in range(4)], shard)
    # No answer at all from the endpoint: the server turns the error into a 500 for each.
    assert [type(result) for result in failed] == [OSError] * 4
    monkeypatch.setattr(os, "write", real_write)
    later = call_together(endpoint, [answer(n) for n in range(10, 13)], shard)
    assert all(not isinstance(sent, BaseException) and sent[0]["status"] == 204 for sent in later)
    assert shard.path is not None
    readable = []
    for line in shard.path.read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):
            readable.append(orjson.loads(line)["body"]["data"]["answer"]["id"])
    # Every acknowledged event is whole on its own line: none glued onto the torn one.
    assert readable[-3:] == ["answer_10", "answer_11", "answer_12"]
    assert "answer_3" not in readable  # refused by the full disk


# -- the same endpoint as a direct route (answered inside the HTTP protocol) -----------------


def test_the_direct_answer_records_first_and_runs_the_hook_without_waiting(
    shard: JsonlShard,
) -> None:
    seen: list[tuple[str, int]] = []
    endpoint = EventEndpoint(
        "incoming",
        shard,
        Counter(),
        on_event=None,
        on_event_now=lambda name, document, recv_ns: seen.append((name, shard.records)),
    )
    assert endpoint.takes()
    event = orjson.dumps({"event": "answer.processing", "data": {"projectId": "p"}})
    assert endpoint.answer([], event).status == 204
    assert seen == [("answer.processing", 1)]  # the hook ran with the record already written
    invalid = endpoint.answer([], b"{nope")
    assert invalid.status == 400
    assert dict(invalid.headers)[b"content-length"] == b"%d" % len(invalid.body)
    assert b"not valid JSON" in invalid.body
    assert shard.records == 2 and endpoint.invalid_bodies == 1


def test_an_endpoint_whose_hook_must_wait_is_not_answered_directly(shard: JsonlShard) -> None:
    async def hook(name: str, document: Any, recv_ns: int) -> None:
        return None

    assert not EventEndpoint("incoming", shard, Counter(), hook).takes()
    assert EventEndpoint("memory", shard, Counter()).takes()


def test_a_failed_write_gives_no_direct_answer(
    shard: JsonlShard, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(fd: int, data: bytes | memoryview) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    endpoint = EventEndpoint("incoming", shard, Counter())
    monkeypatch.setattr(os, "write", disk_full)
    with pytest.raises(OSError):  # the protocol turns it into a 500 and closes
        endpoint.answer([], answer(1))
    monkeypatch.undo()
    assert endpoint.answer([], answer(2)).status == 204
