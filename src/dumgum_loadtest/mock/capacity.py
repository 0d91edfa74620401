"""A resizable concurrency gate with a FIFO queue: one per chat model."""

from __future__ import annotations

import asyncio
from collections import deque


class CapacityGate:
    """Like a semaphore, but its size can change while the mock runs and its queue is visible."""

    def __init__(self, slots: int) -> None:
        self.slots = slots
        self.busy = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def queued(self) -> int:
        return len(self._waiters)

    def try_acquire(self) -> bool:
        """Take a slot at once if one is free and nobody queues before us; never waits."""
        if self.busy < self.slots and not self._waiters:
            self.busy += 1
            return True
        return False

    async def acquire(self) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was granted as the wait was cancelled: give it back
            elif waiter in self._waiters:  # _wake may already have skipped past it
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        self.busy -= 1
        self._wake()

    def resize(self, slots: int) -> None:
        self.slots = slots
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.busy < self.slots:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.busy += 1
                waiter.set_result(None)
