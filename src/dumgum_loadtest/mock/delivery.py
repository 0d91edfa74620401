"""Webhook delivery from the mock to the customer: aiohttp, bounded retries, injected faults.

aiohttp, not httpx: measured here, httpx's pool delivers 0.3-1.6 k POSTs/s under concurrency
against aiohttp's 11-14 k (perf-baseline §3b), and the mock must not measure its own client.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import aiohttp
from yarl import URL

from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.mock.ledger import Ledger

_JSON_HEADERS = {"Content-Type": "application/json"}


class WebhookSender:
    """POSTs one event; any 2xx is delivered, anything else is retried with backoff."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        ledger: Ledger,
        config: Callable[[], MockConfig],
        rng: random.Random,
    ) -> None:
        self._session = session
        self._ledger = ledger
        self._config = config
        self._rng = rng
        # Parsed once per URL and per timeout value, not on every POST.
        self._urls: dict[str, URL] = {}
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    async def deliver(self, url: str | None, body: bytes) -> bool:
        """True once the customer answered 2xx; False when every attempt failed."""
        ledger = self._ledger
        if url is None:
            ledger.deliveries_undeliverable += 1
            return False
        cfg = self._config()
        faults = cfg.faults
        policy = cfg.delivery
        backoff_s = policy.backoff_initial_s
        for attempt in range(policy.max_attempts):
            if attempt:
                ledger.deliveries_retried += 1
                await asyncio.sleep(backoff_s)
                backoff_s = min(backoff_s * 2, policy.backoff_max_s)
            if faults.delivery_added_latency_s is not None:
                await asyncio.sleep(faults.delivery_added_latency_s.sample_s(self._rng))
            ledger.delivery_attempts += 1
            if faults.delivery_failure_rate and self._rng.random() < faults.delivery_failure_rate:
                ledger.delivery_attempts_failed += 1
                continue
            if await self._post(url, body, policy.timeout_s):
                ledger.deliveries += 1
                if (
                    faults.duplicate_delivery_rate
                    and self._rng.random() < faults.duplicate_delivery_rate
                ):
                    ledger.duplicates_sent += 1
                    await self._post(url, body, policy.timeout_s)
                return True
            ledger.delivery_attempts_failed += 1
        ledger.deliveries_given_up += 1
        return False

    async def _post(self, url: str, body: bytes, timeout_s: float) -> bool:
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = URL(url)
        timeout = self._timeouts.get(timeout_s)
        if timeout is None:
            timeout = self._timeouts[timeout_s] = aiohttp.ClientTimeout(total=timeout_s)
        try:
            async with self._session.post(
                target, data=body, headers=_JSON_HEADERS, timeout=timeout
            ) as response:
                await response.read()
                return 200 <= response.status < 300
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False
