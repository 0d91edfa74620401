"""The recorder: records reach the shard within the flush interval; progress is valid JSON."""

from __future__ import annotations

from pathlib import Path

import gevent
import orjson

from dumgum_loadtest.loadtest.recorder import FLUSH_INTERVAL_S, Recorder


def test_records_are_flushed_by_the_greenlet_and_at_close(tmp_path: Path) -> None:
    recorder = Recorder(tmp_path, "4").start()
    assert orjson.loads(recorder.progress_path.read_bytes())["worker"] == "4"
    recorder.add({"request_id": "4-0"})
    recorder.add_turn({"conversation_id": "4-c0", "outcome": "answered"})
    assert recorder.requests_path.read_bytes() == b""  # buffered in memory
    gevent.sleep(FLUSH_INTERVAL_S * 1.5)
    assert recorder.requests_path.read_bytes() == b'{"request_id":"4-0"}\n'
    assert orjson.loads(recorder.turns_path.read_bytes())["outcome"] == "answered"
    recorder.add({"request_id": "4-1"})
    recorder.close()
    lines = recorder.requests_path.read_bytes().splitlines()
    assert [orjson.loads(line)["request_id"] for line in lines] == ["4-0", "4-1"]
    assert recorder.records_written == 2
    # A record made after close (a straggler) is still written by the next close.
    recorder.add({"request_id": "4-2"})
    recorder.close()
    assert len(recorder.requests_path.read_bytes().splitlines()) == 3
    assert not list(recorder.raw_dir.glob("*.tmp"))
    assert recorder.requests_path.parent.name == "raw"
