"""Settling a real-URL run: it waits for the answers that can still come, and only those."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from tests.unit.cost.cost_helpers import S, request

from dumgum_loadtest.records import NOT_SENT, RAW_DIR, TAG_REQUEST, TAG_RUN, TRANSPORT_ERROR
from dumgum_loadtest.run import all_resolved


def _answer(tag: str, recv_s: float) -> dict[str, Any]:
    answer = {"id": f"answer_{tag}", "sequenceNumber": 0, "cost": "0.0000"}
    answer["tags"] = {TAG_RUN: "run", TAG_REQUEST: tag}  # type: ignore[assignment]
    body = {"event": "answer.created", "data": {"projectId": "p", "answer": answer}}
    return {"recv_ns": int(recv_s * S), "endpoint": "incoming", "status": 204, "body": body}


def _run_dir(tmp_path: Path, requests: list[dict[str, Any]], events: list[Any]) -> Path:
    raw = tmp_path / RAW_DIR
    raw.mkdir(parents=True)
    (raw / "requests-0.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    (raw / "events-1.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    return tmp_path


def test_requests_that_never_reached_the_target_are_not_awaited(tmp_path: Path) -> None:
    """A request cut off at the stop (transport error) or never sent can get no answer:
    waiting for it held the run until the settling bound, minutes at DumGum's time."""
    failed = request("b", 2.0, "c2", "u2", "p1", "chat-2-pro", status=None)
    failed.update(send_state=TRANSPORT_ERROR, response_ns=None, error="the run stopped")
    unsent = request("c", 3.0, "c3", "u3", "p1", "chat-2-pro", status=None, sent_ns=None)
    unsent.update(send_state=NOT_SENT, response_ns=None)
    answered = request("a", 1.0, "c1", "u1", "p1", "chat-2-pro")
    run_dir = _run_dir(tmp_path, [answered, failed, unsent], [_answer("a", 1.5)])
    assert all_resolved(run_dir, time_scale=1.0)


def test_an_accepted_request_without_its_answer_is_still_awaited(tmp_path: Path) -> None:
    waiting = request("d", 4.0, "c4", "u4", "p1", "chat-2-pro")
    run_dir = _run_dir(tmp_path, [request("a", 1.0, "c1", "u1", "p1", "chat-2-pro"), waiting], [])
    assert not all_resolved(run_dir, time_scale=1.0)
    (run_dir / RAW_DIR / "events-1.jsonl").write_bytes(
        b"".join(orjson.dumps(_answer(tag, 5.0)) + b"\n" for tag in ("a", "d"))
    )
    assert all_resolved(run_dir, time_scale=1.0)
