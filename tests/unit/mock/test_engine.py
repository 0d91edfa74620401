"""The engine without sockets: buffering, pair state, and memory that follows live pairs."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.mock.customer_calls import HistorySummary
from dumgum_loadtest.mock.engine import Engine
from dumgum_loadtest.mock.ledger import Ledger
from dumgum_loadtest.schema.request import EnqueueRequest


class RecordingSender:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def deliver(self, url: str | None, body: bytes) -> bool:
        self.bodies.append(body)
        return True


class NoCustomer:
    async def chat_history(self, *args: Any) -> HistorySummary:
        return HistorySummary()

    async def profile(self, *args: Any) -> dict[str, Any] | None:
        return None


def _engine(**changes: Any) -> tuple[Engine, RecordingSender]:
    base: dict[str, Any] = {
        "time_scale": 0.001,
        "guardrails": {"stop_rates": {}},
        "behaviour": {"memory_update_rate": 0.0},
        "models": {"dating-smart-1": {"generation_s": {"kind": "constant", "value_s": 1.0}}},
    }
    config = MockConfig().patched({**base, **changes})
    sender = RecordingSender()
    engine = Engine(config, Ledger(), sender, NoCustomer(), random.Random(1))  # type: ignore[arg-type]
    return engine, sender


def _request(user: str, buffer_s: int = 0) -> EnqueueRequest:
    return EnqueueRequest.model_validate(
        {
            "userProfileId": user,
            "personaProfileId": "p",
            "language": "EN",
            "replyParameters": {"bufferSeconds": buffer_s},
        }
    )


async def _drain(engine: Engine) -> None:
    for _ in range(200):
        gauges = engine.gauges()
        if gauges["replies_in_progress"] == 0 and gauges["buffered_enqueues"] == 0:
            return
        await asyncio.sleep(0.005)


def test_memory_follows_live_pairs_not_past_requests() -> None:
    async def scenario() -> tuple[int, int, int]:
        engine, _ = _engine(behaviour={"pair_idle_ttl_s": 0.05, "memory_update_rate": 0.0})
        for index in range(300):
            engine.submit("proj", _request(f"u{index}"))
        await _drain(engine)
        before = int(engine.gauges()["pairs"])  # type: ignore[call-overload]
        await asyncio.sleep(0.06)
        forgotten = engine.sweep()
        after = int(engine.gauges()["pairs"])  # type: ignore[call-overload]
        await engine.stop()
        return before, forgotten, after

    before, forgotten, after = asyncio.run(scenario())
    assert before == 300
    assert forgotten == 300
    assert after == 0


def test_banned_pairs_are_kept_until_the_ban_ends() -> None:
    async def scenario() -> int:
        engine, _ = _engine(
            guardrails={"stop_rates": {"USER_UNDERAGE": 1.0}},
            behaviour={"pair_idle_ttl_s": 0.01, "memory_update_rate": 0.0},
        )
        engine.submit("proj", _request("minor"))
        await _drain(engine)
        await asyncio.sleep(0.02)
        engine.sweep()
        pairs = int(engine.gauges()["pairs"])  # type: ignore[call-overload]
        await engine.stop()
        return pairs

    assert asyncio.run(scenario()) == 1  # a permanent stop must not be forgotten


def test_merge_off_answers_every_enqueue() -> None:
    async def scenario() -> Ledger:
        engine, _ = _engine(buffer={"merge": False})
        for _ in range(3):
            engine.submit("proj", _request("u", buffer_s=5))
        await asyncio.sleep(0.02)
        await _drain(engine)
        await engine.stop()
        return engine.ledger

    ledger = asyncio.run(scenario())
    assert ledger.replies == 3 and ledger.merged == 0


def test_coalesce_policy_folds_enqueues_into_the_reply_in_progress() -> None:
    async def scenario() -> Ledger:
        engine, _ = _engine(
            buffer={"inflight_policy": "coalesce"},
            models={"dating-smart-1": {"generation_s": {"kind": "constant", "value_s": 50.0}}},
        )
        engine.submit("proj", _request("u"))
        await asyncio.sleep(0.01)  # the first reply is generating now
        engine.submit("proj", _request("u"))
        await _drain(engine)
        await engine.stop()
        return engine.ledger

    ledger = asyncio.run(scenario())
    assert ledger.replies == 1 and ledger.coalesced_into_inflight == 1
