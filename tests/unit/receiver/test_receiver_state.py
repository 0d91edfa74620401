"""The receiver's state: one sequence of operations, the same answers in memory and in Redis.

The Redis runs use the session's real Valkey server (tests/valkey.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.receiver.history import (
    HistoryEntry,
    UserMessage,
    answer_entry,
    user_message_entry,
)
from dumgum_loadtest.receiver.state import (
    ReceiverState,
    StateError,
    check_processes,
    check_state_url,
    open_state,
)
from dumgum_loadtest.receiver.waits import TerminalEvent

T = TypeVar("T")
PAIR = ("u1", "p1")


@pytest.fixture(params=["memory", "redis"])
def state_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory"
    url: str = request.getfixturevalue("redis_url")
    return url


def make_state(url: str, max_messages_per_pair: int = 4) -> ReceiverState:
    return open_state(url, max_messages_per_pair, max_pairs=100, max_waits=10, seed=0, ttl_s=60)


def with_state(url: str, use: Callable[[ReceiverState], Awaitable[T]], **kw: Any) -> T:
    async def run() -> T:
        state = make_state(url, **kw)
        await state.start()
        try:
            return await use(state)
        finally:
            await state.close()

    return asyncio.run(run())


def answer(message_id: str, created_at: str, pair: tuple[str, str] = PAIR) -> HistoryEntry:
    entry = answer_entry(
        {
            "id": message_id,
            "userProfileId": pair[0],
            "personaProfileId": pair[1],
            "type": "TEXT",
            "text": f"text of {message_id}",
            "createdAt": created_at,
        },
        fallback_ns=0,
    )
    assert entry is not None
    return entry


def user(message_id: str, date: str, text: str = "hi") -> HistoryEntry:
    message = UserMessage(
        userProfileId=PAIR[0], personaProfileId=PAIR[1], id=message_id, date=date, text=text
    )
    return user_message_entry(message)


def test_chat_history_operations_answer_alike(state_url: str) -> None:
    async def use(state: ReceiverState) -> dict[str, Any]:
        await state.record(answer("a2", "2025-01-01T00:00:02.000Z"), None)
        await state.add_messages([user("m1", "2025-01-01T00:00:01Z")])
        await state.record(answer("a3", "2025-01-01T00:00:03.500Z"), None)
        # Equal dates keep their arrival order; a redelivered id is ignored, new text or not.
        await state.record(answer("a3b", "2025-01-01T00:00:03.500Z"), None)
        await state.record(answer("a2", "2025-01-01T00:00:09.000Z"), None)
        full = await state.messages(PAIR, None)
        newer = await state.messages(PAIR, 2_000_000_000 + 1_735_689_600_000_000_000)
        sub_ms = await state.messages(PAIR, 1_735_689_603_500_000_001)
        # A fifth message pushes the oldest out (4 kept); its id may then come back.
        await state.record(answer("a4", "2025-01-01T00:00:04Z"), None)
        await state.add_messages([user("m1", "2025-01-01T00:00:05Z", text="again")])
        trimmed = await state.messages(PAIR, None)
        other = await state.messages(("u1", "p2"), None)
        return {"full": full, "newer": newer, "sub_ms": sub_ms, "trimmed": trimmed, "other": other}

    got = with_state(state_url, use)
    assert [m["id"] for m in got["full"]] == ["m1", "a2", "a3", "a3b"]
    assert got["full"][1] == {
        "id": "a2",
        "sender": "PERSONA",
        "type": "TEXT",
        "date": "2025-01-01T00:00:02.000Z",
        "text": "text of a2",
    }
    assert [m["id"] for m in got["newer"]] == ["a3", "a3b"]  # strictly after 00:00:02.000
    assert got["sub_ms"] == []  # 03.500000001 is still in the millisecond 03.500
    assert [m["id"] for m in got["trimmed"]] == ["a3", "a3b", "a4", "m1"]
    assert got["trimmed"][-1]["text"] == "again"
    assert got["other"] == []


def test_profile_versions_answer_alike(state_url: str) -> None:
    async def use(state: ReceiverState) -> list[str]:
        return [
            await state.profile_version("user_1"),
            await state.bump_profile("user_1"),
            await state.bump_profile("user_1"),
            await state.profile_version("user_1"),
            await state.profile_version("user_2"),
        ]

    assert with_state(state_url, use) == ["v1", "v2", "v3", "v3", "v1"]


def test_turn_end_waits_answer_alike(state_url: str) -> None:
    async def use(state: ReceiverState) -> list[Any]:
        ended = TerminalEvent("answer.created", 2_000)
        await state.record(None, (PAIR, ended))
        await state.record(None, (PAIR, TerminalEvent("conversation.dropped", 1_000)))  # older
        results: list[Any] = [
            await state.wait(PAIR, after_ns=1_500, timeout_s=1),  # already there
            await state.wait(PAIR, after_ns=2_000, timeout_s=0.05),  # not after it: timeout
            await state.wait(("u9", "p1"), after_ns=0, timeout_s=0),  # no wait at all
        ]
        # A pending wait is woken by the next end of its pair's turn.
        waiting = asyncio.ensure_future(state.wait(PAIR, after_ns=2_000, timeout_s=5))
        await asyncio.sleep(0.05)
        await state.record(None, (PAIR, TerminalEvent("conversation.dropped", 3_000)))
        results.append(await waiting)
        results.append(state.stats()["waits"]["pending"])
        return results

    assert with_state(state_url, use) == [
        TerminalEvent("answer.created", 2_000),
        None,
        None,
        TerminalEvent("conversation.dropped", 3_000),
        0,
    ]


def test_a_turn_end_recorded_by_one_redis_state_wakes_a_wait_in_another(redis_url: str) -> None:
    """Two RedisStates stand for two receiver processes: the waiter and the one that hears."""

    async def run() -> TerminalEvent | None:
        waiter, hearer = make_state(redis_url), make_state(redis_url)
        await waiter.start()
        await hearer.start()
        try:
            waiting = asyncio.ensure_future(waiter.wait(PAIR, after_ns=0, timeout_s=5))
            await asyncio.sleep(0.05)
            await hearer.record(answer("a1", "2025-01-01T00:00:01Z"), (PAIR, TerminalEvent("x", 5)))
            event = await asyncio.wait_for(waiting, 2)
            assert [m["id"] for m in await waiter.messages(PAIR, None)] == ["a1"]
            return event
        finally:
            await waiter.close()
            await hearer.close()

    assert asyncio.run(run()) == TerminalEvent("x", 5)


@pytest.mark.parametrize("url", ["postgres://h/0", "redis", "http://localhost:6379", ""])
def test_an_unknown_state_is_refused_naming_what_is_valid(url: str) -> None:
    with pytest.raises(ConfigError, match=r"--state .*'memory'.*redis://HOST:PORT/DB"):
        check_state_url(url)


def test_an_unreachable_redis_fails_at_start_naming_it() -> None:
    async def run() -> None:
        state = make_state("redis://127.0.0.1:1/0")
        try:
            await state.start()
        finally:
            await state.close()

    with pytest.raises(StateError, match=r"state redis://127.0.0.1:1/0: connecting failed"):
        asyncio.run(run())


def test_several_processes_need_a_shared_state() -> None:
    check_processes(1, "memory")
    check_processes(4, "redis://127.0.0.1:6379/0")
    with pytest.raises(ConfigError, match=r"^--processes 2: needs --state redis://HOST:PORT/DB;"):
        check_processes(2, "memory")
    with pytest.raises(ConfigError, match=r"^--processes 0: give 1 or more$"):
        check_processes(0, "memory")


def test_the_receiver_command_refuses_processes_without_a_shared_state(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from dumgum_loadtest.cli import main

    result = CliRunner().invoke(main, ["receiver", "--processes", "2", "--out", str(tmp_path)])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines == [
        "error: --processes 2: needs --state redis://HOST:PORT/DB; the in-memory state cannot"
        " be shared between processes (or give --processes 1)"
    ]
