"""Long-poll waits for a conversation's terminal event, across processes.

A closed-model user in a Locust worker sends a turn, then asks the receiver (the only
process that sees the webhooks) to answer as soon as that pair's turn has ended: the first
message of an answer (``answer.created`` with ``sequenceNumber`` 0) or ``conversation.dropped``.
The last terminal event per pair is remembered, so a wait that starts after its event arrived
is answered at once. Memory is bounded: pairs in least-recently-used order, and a cap on
concurrent waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, NamedTuple

from dumgum_loadtest.schema.enums import EventType

Pair = tuple[str, str]
"""(userProfileId, personaProfileId)."""

_ANSWER_CREATED = EventType.ANSWER_CREATED.value
_CONVERSATION_DROPPED = EventType.CONVERSATION_DROPPED.value


class TerminalEvent(NamedTuple):
    event: str
    recv_ns: int


class TooManyWaitsError(Exception):
    """More concurrent waits than ``max_waits``: the caller answers 503."""


def terminal_pair(name: str, document: Any) -> Pair | None:
    """The pair whose turn ``document`` ends, or None when it ends none."""
    if not isinstance(document, dict):
        return None
    data = document.get("data")
    if not isinstance(data, dict):
        return None
    if name == _ANSWER_CREATED:
        answer = data.get("answer")
        return answer_terminal_pair(answer) if isinstance(answer, dict) else None
    if name == _CONVERSATION_DROPPED:
        return _pair_of(data)
    return None


def answer_terminal_pair(answer: dict[str, Any]) -> Pair | None:
    """The pair whose turn an ``answer.created`` event's ``data.answer`` ends, if it ends one."""
    if answer.get("sequenceNumber", 0) not in (0, None):
        return None  # a follow-up message of a split reply: the turn ended earlier
    return _pair_of(answer)


def _pair_of(source: dict[str, Any]) -> Pair | None:
    user_id, persona_id = source.get("userProfileId"), source.get("personaProfileId")
    if not isinstance(user_id, str) or not isinstance(persona_id, str):
        return None
    return user_id, persona_id


class PendingWaits:
    """The waits this process holds, each a future woken by its pair's next terminal event.

    Shared by both states: the in-memory one wakes them as events arrive here, the Redis one
    as terminal events are published by any receiver process.
    """

    def __init__(self, max_waits: int) -> None:
        self.max_waits = max_waits
        self._pending: dict[Pair, list[tuple[int, asyncio.Future[TerminalEvent]]]] = {}
        self.waiting = 0

    @property
    def pairs(self) -> int:
        """Pairs with at least one wait pending."""
        return len(self._pending)

    def wake(self, pair: Pair, event: TerminalEvent) -> None:
        """Answer the waits on ``pair`` that started before ``event`` was received."""
        pending = self._pending.get(pair)
        if pending:
            for after_ns, future in pending:
                if event.recv_ns > after_ns and not future.done():
                    future.set_result(event)

    @contextlib.contextmanager
    def register(self, pair: Pair, after_ns: int) -> Iterator[asyncio.Future[TerminalEvent]]:
        """A future for the first terminal event of ``pair`` after ``after_ns``, while inside."""
        if self.waiting >= self.max_waits:
            raise TooManyWaitsError(f"{self.waiting} waits pending (max {self.max_waits})")
        future: asyncio.Future[TerminalEvent] = asyncio.get_running_loop().create_future()
        entry = (after_ns, future)
        self._pending.setdefault(pair, []).append(entry)
        self.waiting += 1
        try:
            yield future
        finally:
            self.waiting -= 1
            pending = self._pending.get(pair)
            if pending is not None:
                pending.remove(entry)
                if not pending:
                    del self._pending[pair]


async def event_or_timeout(
    future: asyncio.Future[TerminalEvent], timeout_s: float
) -> TerminalEvent | None:
    try:
        return await asyncio.wait_for(future, timeout_s)
    except TimeoutError:
        return None


class TerminalWaits:
    """The last terminal event per pair and the waits pending on each pair (one event loop)."""

    def __init__(self, max_pairs: int, max_waits: int) -> None:
        self.max_pairs = max_pairs
        self._last: OrderedDict[Pair, TerminalEvent] = OrderedDict()
        self._pending = PendingWaits(max_waits)
        self.evicted_pairs = 0

    @property
    def pairs(self) -> int:
        return len(self._last)

    @property
    def waiting(self) -> int:
        return self._pending.waiting

    @property
    def pending_pairs(self) -> int:
        return self._pending.pairs

    def on_event(self, name: str, document: Any, recv_ns: int) -> None:
        """Record a received event; wakes the waits of its pair when it ends a turn."""
        pair = terminal_pair(name, document)
        if pair is not None:
            self.on_terminal(pair, TerminalEvent(name, recv_ns))

    def on_terminal(self, pair: Pair, event: TerminalEvent) -> None:
        """Remember ``pair``'s turn ended with ``event``; wakes the waits on that pair."""
        last = self._last
        previous = last.get(pair)
        if previous is None or previous.recv_ns <= event.recv_ns:
            last[pair] = event
        last.move_to_end(pair)
        if len(last) > self.max_pairs:
            last.popitem(last=False)
            self.evicted_pairs += 1
        self._pending.wake(pair, event)

    def latest(self, pair: Pair, after_ns: int) -> TerminalEvent | None:
        """The pair's last terminal event if it was received after ``after_ns``."""
        event = self._last.get(pair)
        return event if event is not None and event.recv_ns > after_ns else None

    async def wait(self, pair: Pair, after_ns: int, timeout_s: float) -> TerminalEvent | None:
        """The first terminal event of ``pair`` received after ``after_ns``; None at timeout."""
        event = self.latest(pair, after_ns)
        if event is not None or timeout_s <= 0:
            return event
        with self._pending.register(pair, after_ns) as future:
            return await event_or_timeout(future, timeout_s)
