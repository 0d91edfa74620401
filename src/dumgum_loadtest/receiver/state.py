"""Where the receiver keeps what DumGum reads back: chat history, profile versions, turn ends.

``MemoryState`` (the default) holds them in this process: fast, and right for one process.
``RedisState`` (``redis_state.py``, ``--state redis://HOST:PORT/DB``) holds them in a
Redis or Valkey server, so several receiver processes serve one run consistently. Both
answer the same operations alike (tests run one sequence against both). Events themselves
never go through the state: each process writes its own shard before it answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.receiver.history import ChatHistoryStore, HistoryEntry, Pair
from dumgum_loadtest.receiver.profiles import ProfileBook
from dumgum_loadtest.receiver.waits import TerminalEvent, TerminalWaits

MEMORY_STATE = "memory"
REDIS_SCHEMES = ("redis", "rediss", "unix")


class StateError(Exception):
    """The shared store failed (unreachable, refused): one line naming it and why."""


class ReceiverState(Protocol):
    """The operations the receiver's endpoints need from the state they share."""

    async def start(self) -> None:
        """Connect and subscribe, in the serving process, before the first request."""

    async def close(self) -> None: ...

    async def record(self, entry: HistoryEntry | None, terminal: Terminal | None) -> None:
        """What one received event changes: a history message and/or the end of a turn."""

    async def add_messages(self, entries: Sequence[HistoryEntry]) -> None:
        """Register user messages (a message id the pair already holds is ignored)."""

    async def messages(self, pair: Pair, after_ns: int | None) -> list[dict[str, Any]]:
        """``pair``'s messages sorted by date; only those strictly newer than ``after_ns``."""

    async def profile_version(self, profile_id: str) -> str: ...

    async def bump_profile(self, profile_id: str) -> str:
        """Move ``profile_id`` to its next version (v1 → v2 …); returns the new version."""

    async def wait(self, pair: Pair, after_ns: int, timeout_s: float) -> TerminalEvent | None:
        """The first terminal event of ``pair`` received after ``after_ns``, by any process;
        None at timeout."""

    def stats(self) -> dict[str, Any]:
        """Figures for ``/_receiver/stats``; None where a figure is not known here."""


Terminal = tuple[Pair, TerminalEvent]
"""A pair whose turn an event ended, and that event."""


def check_state_url(url: str, option: str = "--state") -> str:
    """``memory`` or a Redis URL, else a ConfigError naming ``option`` and what is valid."""
    if url == MEMORY_STATE:
        return url
    parts = urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES or not (parts.netloc or parts.path):
        raise ConfigError(
            f"{option} {url!r}: give 'memory' (one process) or redis://HOST:PORT/DB"
            " (Redis or Valkey; also rediss:// and unix://)"
        )
    return url


def check_processes(processes: int, state: str, option: str = "--processes") -> None:
    """Serving processes: at least 1, and more than 1 only with a shared (Redis) state."""
    state_option = option.replace("processes", "state")
    if processes < 1:
        raise ConfigError(f"{option} {processes}: give 1 or more")
    if processes > 1 and state == MEMORY_STATE:
        raise ConfigError(
            f"{option} {processes}: needs {state_option} redis://HOST:PORT/DB; the in-memory"
            f" state cannot be shared between processes (or give {option} 1)"
        )


def shown_url(url: str) -> str:
    """``url`` fit for logs and messages: a password in it becomes ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port is not None else ""
    return parts._replace(netloc=f"{user}:***@{host}{port}").geturl()


class MemoryState:
    """Today's in-process state: nothing to connect, every operation a dict look-up."""

    def __init__(self, max_messages_per_pair: int, max_pairs: int, max_waits: int, seed: int):
        self.history = ChatHistoryStore(max_messages_per_pair, max_pairs)
        self.profiles = ProfileBook(seed)
        self.waits = TerminalWaits(max_pairs, max_waits)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def record(self, entry: HistoryEntry | None, terminal: Terminal | None) -> None:
        self.record_now(entry, terminal)

    def record_now(self, entry: HistoryEntry | None, terminal: Terminal | None) -> None:
        """``record`` without a wait: an event can be answered inside the HTTP protocol."""
        if entry is not None:
            self.history.add_entry(entry)
        if terminal is not None:
            self.waits.on_terminal(*terminal)

    async def add_messages(self, entries: Sequence[HistoryEntry]) -> None:
        for entry in entries:
            self.history.add_entry(entry)

    async def messages(self, pair: Pair, after_ns: int | None) -> list[dict[str, Any]]:
        return self.history.messages(pair, after_ns)

    async def profile_version(self, profile_id: str) -> str:
        return self.profiles.version(profile_id)

    async def bump_profile(self, profile_id: str) -> str:
        return self.profiles.bump(profile_id)

    async def wait(self, pair: Pair, after_ns: int, timeout_s: float) -> TerminalEvent | None:
        return await self.waits.wait(pair, after_ns, timeout_s)

    def stats(self) -> dict[str, Any]:
        return {
            "state": MEMORY_STATE,
            "pairs": self.history.pairs,
            "evicted_pairs": self.history.evicted_pairs,
            "duplicate_messages": self.history.duplicates,
            "waits": {"pending": self.waits.waiting, "pairs": self.waits.pairs},
        }


def open_state(
    url: str, max_messages_per_pair: int, max_pairs: int, max_waits: int, seed: int, ttl_s: int
) -> ReceiverState:
    """The state ``url`` names (``memory`` or a Redis URL); Redis connects on ``start``."""
    if check_state_url(url) == MEMORY_STATE:
        return MemoryState(max_messages_per_pair, max_pairs, max_waits, seed)
    from dumgum_loadtest.receiver.redis_state import RedisState  # redis only when used

    return RedisState(url, max_messages_per_pair, max_waits, ttl_s)
