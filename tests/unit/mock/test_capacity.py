"""The capacity gate: FIFO, resizable, and safe when a waiter is cancelled."""

from __future__ import annotations

import asyncio
import contextlib

from dumgum_loadtest.mock.capacity import CapacityGate


def test_fifo_and_resize() -> None:
    async def scenario() -> list[int]:
        gate = CapacityGate(1)
        order: list[int] = []
        await gate.acquire()

        async def worker(index: int) -> None:
            await gate.acquire()
            order.append(index)

        tasks = [asyncio.create_task(worker(i)) for i in range(3)]
        await asyncio.sleep(0)
        assert gate.queued == 3
        gate.resize(3)  # two more slots: the first two waiters go, in order
        await asyncio.sleep(0)
        assert order == [0, 1] and gate.queued == 1
        gate.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2]


def test_cancelled_waiter_leaves_no_trace() -> None:
    async def scenario() -> tuple[int, int]:
        gate = CapacityGate(1)
        await gate.acquire()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gate.acquire(), timeout=0.01)
        gate.release()
        return gate.busy, gate.queued

    assert asyncio.run(scenario()) == (0, 0)
