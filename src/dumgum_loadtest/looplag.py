"""Event-loop lag of a server: how late a timer fires tells how busy the loop is.

A server whose loop lags delays every request and event it handles, so a run whose mock or
receiver lagged measured the harness, not the target; the report says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import Any

import numpy as np

INTERVAL_S = 0.1
WINDOW = 36_000  # the last hour of samples at 10 per second


class LoopLagMonitor:
    """Sleeps ``INTERVAL_S`` in a loop and records how late each wake-up was."""

    def __init__(self) -> None:
        self._lags_s: deque[float] = deque(maxlen=WINDOW)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.sleep(INTERVAL_S)
            self._lags_s.append(max(0.0, time.monotonic() - started - INTERVAL_S))

    def snapshot_ms(self) -> dict[str, Any]:
        """p50, p99 and max lag in milliseconds over the window (None before any sample)."""
        if not self._lags_s:
            return {"p50": None, "p99": None, "max": None, "samples": 0}
        lags_ms = np.asarray(self._lags_s) * 1000.0
        return {
            "p50": round(float(np.percentile(lags_ms, 50)), 3),
            "p99": round(float(np.percentile(lags_ms, 99)), 3),
            "max": round(float(lags_ms.max()), 3),
            "samples": int(lags_ms.size),
        }
