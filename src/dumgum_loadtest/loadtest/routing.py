"""Which mock process a conversation's requests go to, when the run serves the mock in shards.

Each mock process holds the whole state of the (user, persona) pairs it sees: the buffer and
its merges, the reply in progress, bans, pauses, the newest-message date, cached profiles. So
every request of a pair must reach the same process. The generator picks it from a hash of the
pair (CRC-32 of ``f"{user}\\x00{persona}"`` in UTF-8, modulo the number of processes): the
same in every worker process and in every run, unlike Python's salted ``hash()``. A pair's
requests therefore keep their order within one process, as they would with a single mock.
"""

from __future__ import annotations

import zlib


def shard_index(user_id: str, persona_id: str, shards: int) -> int:
    """The mock process (0 .. shards - 1) that serves the pair (``user_id``, ``persona_id``)."""
    if shards < 1:
        raise ValueError(f"shards must be >= 1, got {shards}")
    if shards == 1:
        return 0
    return zlib.crc32(f"{user_id}\x00{persona_id}".encode()) % shards


__all__ = ["shard_index"]
