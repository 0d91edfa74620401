"""Live progress: what the run's progress line and its spend cap read from the event shards."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from dumgum_loadtest.progress import EventTail, RequestTail
from dumgum_loadtest.records import RAW_DIR


def _created(answer_id: str | None, cost: Any, sequence: int = 0) -> dict[str, Any]:
    answer: dict[str, Any] = {"sequenceNumber": sequence, "cost": cost}
    if answer_id is not None:
        answer["id"] = answer_id
    return {"event": "answer.created", "data": {"projectId": "p", "answer": answer}}


def _write(run_dir: Path, bodies: list[Any], shard: str = "events-1.jsonl") -> None:
    raw = run_dir / RAW_DIR
    raw.mkdir(parents=True, exist_ok=True)
    with (raw / shard).open("ab") as handle:
        for number, body in enumerate(bodies):
            record = {"recv_ns": number, "endpoint": "incoming", "status": 204, "body": body}
            handle.write(orjson.dumps(record) + b"\n")


def test_an_answer_delivered_several_times_is_counted_and_charged_once(tmp_path: Path) -> None:
    """At-least-once delivery: repeats of an answer id must not inflate progress or spend."""
    tail = EventTail(tmp_path)
    _write(
        tmp_path,
        [
            _created("answer_a", "0.0250"),
            _created("answer_a", "0.0250"),  # redelivered
            _created("answer_b", "0.0400"),
            _created("answer_b2", "0.0000", sequence=1),  # a follow-up: not an answered request
            {"event": "conversation.dropped", "data": {"projectId": "p"}},
        ],
    )
    tail.poll()
    # redelivered in the next poll, and from another receiver process's shard
    _write(tmp_path, [_created("answer_a", "0.0250")])
    _write(tmp_path, [_created("answer_b", "0.0400")], shard="events-2.jsonl")
    tail.poll()
    assert tail.answers == 2
    assert tail.cost_eur == Decimal("0.0650")
    assert tail.dropped == 1
    assert tail.events == 7  # every delivery is still an event received


def test_answers_without_an_id_count_at_each_delivery(tmp_path: Path) -> None:
    """Nothing tells their repeats apart (as in the analysis): each is counted."""
    tail = EventTail(tmp_path)
    _write(tmp_path, [_created(None, "0.0100"), _created(None, "0.0100")])
    tail.poll()
    assert tail.answers == 2
    assert tail.cost_eur == Decimal("0.0200")


def test_the_remembered_answer_ids_are_bounded(tmp_path: Path) -> None:
    """Beyond the bound the oldest ids are forgotten: a repeat that late counts again, but a
    recent one still counts once, and memory does not grow with the run."""
    tail = EventTail(tmp_path, answer_ids_kept=3)
    _write(tmp_path, [_created(f"answer_{n}", "1.0000") for n in range(10)])
    tail.poll()
    _write(tmp_path, [_created("answer_9", "1.0000"), _created("answer_0", "1.0000")])
    tail.poll()
    assert tail.answers == 11  # answer_9 (recent) once; answer_0 (forgotten) again
    assert tail.cost_eur == Decimal("11.0000")
    assert tail.answer_ids_held() <= 2 * 3


def test_hostile_costs_never_reach_the_live_spend(tmp_path: Path) -> None:
    """Infinity, NaN, negative, absurd or non-numeric costs are not money: the spend cap
    must neither trip on them nor be lowered by them, and the run must not crash."""
    hostile: list[Any] = [
        "Infinity",
        "NaN",
        "sNaN",
        "-5.0000",
        "1e308",
        1e308,
        "1234567890123456789012345",
        "not a number",
        True,
        None,
        {"eur": "1.0000"},
    ]
    tail = EventTail(tmp_path)
    bodies: list[Any] = [_created(f"answer_{n}", cost) for n, cost in enumerate(hostile)]
    bodies += [
        _created("answer_ok", "0.0250"),
        _created("answer_number", 0.5),  # a JSON number that is a plausible cost
        {"event": "answer.created", "data": "not an object"},
        {"event": "answer.created", "data": {"answer": ["not", "an", "object"]}},
        {"event": "answer.created", "data": {"answer": {"id": ["a", "list"], "cost": "0.1"}}},
    ]
    _write(tmp_path, bodies)
    raw = tmp_path / RAW_DIR / "events-1.jsonl"
    with raw.open("ab") as handle:  # numbers no JSON library writes back unchanged
        for cost in (b"123456789012345678901234567", b"1e400"):
            handle.write(
                b'{"body":{"event":"answer.created","data":{"answer":{"cost":%s}}}}\n' % cost
            )
    tail.poll()
    assert tail.cost_eur == Decimal("0.6250")
    # each answer.created is still an answer, whatever its cost or shape (the 1e400 line is
    # no JSON a parser accepts, and is skipped)
    assert tail.answers == len(hostile) + 5 + 1


def _sent(user: str, persona: str, sent_ns: int, status: int = 204) -> dict[str, Any]:
    return {"user_id": user, "persona_id": persona, "sent_ns": sent_ns, "status": status}


def _reply(event: str, user: str, persona: str, recv_ns: int) -> dict[str, Any]:
    record: dict[str, Any] = {"recv_ns": recv_ns, "endpoint": "incoming", "status": 204}
    if event == "answer.created":
        answer = {"id": f"answer_{user}_{recv_ns}", "sequenceNumber": 0, "cost": "0.0000"}
        data = {"answer": {**answer, "userProfileId": user, "personaProfileId": persona}}
    else:
        data = {"userProfileId": user, "personaProfileId": persona}
    record["body"] = {"event": event, "data": data}
    return record


def test_conversations_awaiting_a_reply_are_counted_per_pair(tmp_path: Path) -> None:
    """The progress line's "awaiting a reply": HTTP requests in flight are 0 a moment after
    each 204, while the conversations wait seconds for their webhook."""
    raw = tmp_path / RAW_DIR
    raw.mkdir()
    requests = [
        _sent("u1", "p1", 10),
        _sent("u1", "p1", 11),  # a burst: one conversation awaiting, not two
        _sent("u2", "p1", 10),  # answered below
        _sent("u3", "p1", 10),  # dropped below
        _sent("u4", "p1", 10),  # answered, then a new message after the answer
        _sent("u4", "p1", 30),
        _sent("u5", "p1", 10, status=429),  # rejected: nothing to await
    ]
    (raw / "requests-w0.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    events = [
        _reply("answer.created", "u2", "p1", 20),
        _reply("conversation.dropped", "u3", "p1", 20),
        _reply("answer.created", "u4", "p1", 20),
    ]
    (raw / "events-1.jsonl").write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))
    events_tail, requests_tail = EventTail(tmp_path), RequestTail(tmp_path)
    events_tail.poll()
    requests_tail.poll()
    assert requests_tail.awaiting(events_tail) == 2  # u1/p1 and u4/p1
