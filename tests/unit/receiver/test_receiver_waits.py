"""TerminalWaits: which events end a turn, waits answered at once or later, bounds."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from dumgum_loadtest.receiver.waits import (
    TerminalEvent,
    TerminalWaits,
    TooManyWaitsError,
    terminal_pair,
)


def answer(user: str = "u1", persona: str = "p1", sequence: int | None = 0) -> dict[str, Any]:
    created: dict[str, Any] = {"userProfileId": user, "personaProfileId": persona}
    if sequence is not None:
        created["sequenceNumber"] = sequence
    return {"event": "answer.created", "data": {"projectId": "proj", "answer": created}}


def dropped(user: str = "u1", persona: str = "p1") -> dict[str, Any]:
    data = {"projectId": "proj", "userProfileId": user, "personaProfileId": persona, "tags": {}}
    return {"event": "conversation.dropped", "data": data}


@pytest.mark.parametrize(
    ("name", "document", "expected"),
    [
        ("answer.created", answer(), ("u1", "p1")),
        ("answer.created", answer(sequence=None), ("u1", "p1")),
        ("answer.created", answer(sequence=1), None),  # a follow-up of a split reply
        ("conversation.dropped", dropped("u2", "p9"), ("u2", "p9")),
        ("answer.processing", {"data": {"userProfileId": "u1", "personaProfileId": "p1"}}, None),
        ("answer.created", {"data": "nonsense"}, None),
        ("answer.created", [1, 2], None),
        ("conversation.dropped", {"data": {"userProfileId": 7, "personaProfileId": "p"}}, None),
    ],
)
def test_terminal_pair(name: str, document: Any, expected: tuple[str, str] | None) -> None:
    assert terminal_pair(name, document) == expected


def test_an_event_already_received_answers_at_once() -> None:
    waits = TerminalWaits(max_pairs=10, max_waits=10)
    waits.on_event("answer.created", answer(), 100)

    async def scenario() -> tuple[TerminalEvent | None, TerminalEvent | None]:
        before = await waits.wait(("u1", "p1"), after_ns=99, timeout_s=5)
        after = await waits.wait(("u1", "p1"), after_ns=100, timeout_s=0)
        return before, after

    before, after = asyncio.run(scenario())
    assert before == TerminalEvent("answer.created", 100)
    assert after is None  # only events received strictly after after_ns count


def test_a_pending_wait_is_woken_by_its_pair_only() -> None:
    waits = TerminalWaits(max_pairs=10, max_waits=10)

    async def scenario() -> TerminalEvent | None:
        task = asyncio.create_task(waits.wait(("u1", "p1"), after_ns=50, timeout_s=5))
        await asyncio.sleep(0)
        assert waits.waiting == 1
        waits.on_event("answer.created", answer("u1", "p2"), 60)  # another pair
        waits.on_event("answer.created", answer("u1", "p1", sequence=2), 70)  # not terminal
        await asyncio.sleep(0)
        assert not task.done()
        waits.on_event("conversation.dropped", dropped("u1", "p1"), 80)
        return await task

    assert asyncio.run(scenario()) == TerminalEvent("conversation.dropped", 80)
    assert waits.waiting == 0


def test_timeout_returns_none_and_frees_the_wait() -> None:
    waits = TerminalWaits(max_pairs=10, max_waits=10)
    assert asyncio.run(waits.wait(("u1", "p1"), after_ns=0, timeout_s=0.01)) is None
    assert waits.waiting == 0
    assert waits.pending_pairs == 0  # nothing left behind for the pair


def test_concurrent_waits_are_bounded() -> None:
    waits = TerminalWaits(max_pairs=10, max_waits=1)

    async def scenario() -> None:
        first = asyncio.create_task(waits.wait(("u1", "p1"), after_ns=0, timeout_s=5))
        await asyncio.sleep(0)
        with pytest.raises(TooManyWaitsError):
            await waits.wait(("u2", "p2"), after_ns=0, timeout_s=5)
        waits.on_event("answer.created", answer(), 10)
        assert await first == TerminalEvent("answer.created", 10)

    asyncio.run(scenario())


def test_pairs_remembered_are_bounded_least_recent_first() -> None:
    waits = TerminalWaits(max_pairs=2, max_waits=10)
    waits.on_event("answer.created", answer("u1"), 1)
    waits.on_event("answer.created", answer("u2"), 2)
    waits.on_event("answer.created", answer("u1"), 3)  # u1 is now the most recent
    waits.on_event("answer.created", answer("u3"), 4)
    assert waits.pairs == 2
    assert waits.evicted_pairs == 1
    assert waits.latest(("u2", "p1"), 0) is None
    assert waits.latest(("u1", "p1"), 0) == TerminalEvent("answer.created", 3)


def test_an_older_event_arriving_late_does_not_hide_a_newer_one() -> None:
    waits = TerminalWaits(max_pairs=10, max_waits=10)
    waits.on_event("answer.created", answer(), 200)
    waits.on_event("conversation.dropped", dropped(), 150)  # delivered out of order
    assert waits.latest(("u1", "p1"), 160) == TerminalEvent("answer.created", 200)
