"""The lean client's connection slots: FIFO, a deadline, nothing leaked by a timeout or a
cancellation (a leaked slot would stall every later customer call once the limit is used)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from dumgum_loadtest.mock.http_client import _Slots


def test_slots_pass_in_arrival_order() -> None:
    async def scenario() -> list[int]:
        loop = asyncio.get_running_loop()
        slots = _Slots(1)
        await slots.acquire(loop, loop.time() + 5)
        order: list[int] = []

        async def worker(index: int) -> None:
            await slots.acquire(loop, loop.time() + 5)
            order.append(index)
            slots.release()

        tasks = [asyncio.create_task(worker(i)) for i in range(4)]
        await asyncio.sleep(0)
        assert order == []
        slots.release()
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(scenario()) == [0, 1, 2, 3]


def test_a_wait_past_its_deadline_times_out_and_leaks_nothing() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        slots = _Slots(1)
        await slots.acquire(loop, loop.time() + 5)
        started = loop.time()
        with pytest.raises(TimeoutError):
            await slots.acquire(loop, loop.time() + 0.05)
        assert loop.time() - started >= 0.04
        slots.release()
        # The one slot is free again: two sequential acquisitions succeed at once.
        await asyncio.wait_for(slots.acquire(loop, loop.time() + 5), 1)
        slots.release()
        await asyncio.wait_for(slots.acquire(loop, loop.time() + 5), 1)

    asyncio.run(scenario())


def test_a_cancelled_wait_leaks_nothing_even_when_granted_as_it_ends() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        slots = _Slots(1)
        await slots.acquire(loop, loop.time() + 5)
        waiting = asyncio.create_task(slots.acquire(loop, loop.time() + 5))
        await asyncio.sleep(0)
        slots.release()  # granted to the waiter ...
        waiting.cancel()  # ... which is cancelled before it runs: the slot must come back
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        await asyncio.wait_for(slots.acquire(loop, loop.time() + 5), 1)

    asyncio.run(scenario())
