"""Webhook delivery from the mock to the customer: bounded retries, injected faults.

The POSTs go through ``http_client`` (its lean client for ``http://``, aiohttp otherwise): the
mock must not measure its own client. Not httpx: its pool delivered 0.3-1.6 k POSTs/s under
concurrency against aiohttp's 11-14 k (measured on this project's 2-core machine before the
mock was written).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.mock.http_client import OutboundClient, OutboundError
from dumgum_loadtest.mock.ledger import Ledger

_JSON_HEADERS = {"Content-Type": "application/json"}


class WebhookSender:
    """POSTs one event; any 2xx is delivered, anything else is retried with backoff."""

    def __init__(
        self,
        http: OutboundClient,
        ledger: Ledger,
        config: Callable[[], MockConfig],
        rng: random.Random,
    ) -> None:
        self._http = http
        self._ledger = ledger
        self._config = config
        self._rng = rng

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
        try:
            response = await self._http.request(
                "POST", url, body=body, headers=_JSON_HEADERS, timeout_s=timeout_s
            )
        except (OutboundError, TimeoutError, OSError):
            return False
        return 200 <= response.status < 300
