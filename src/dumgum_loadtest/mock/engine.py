"""The asynchronous pipeline DumGum runs after a 204 (dumgum-api.md §5), one state per live pair.

Per (project, userProfileId, personaProfileId): fetch chat history (every enqueue) and profiles
(first sight, version change); buffer for ``bufferSeconds`` after the latest enqueue, merging
what arrives meanwhile; wait for a generation slot of the chat model; send answer.processing,
generate, and send answer.created (one to three messages) or conversation.dropped.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from dumgum_loadtest.clock import now_ns
from dumgum_loadtest.mock.capacity import CapacityGate
from dumgum_loadtest.mock.config import InflightPolicy, MergedTags, MockConfig
from dumgum_loadtest.mock.customer_calls import (
    CustomerClient,
    HistorySummary,
    ProfileCache,
    ProfileInfo,
)
from dumgum_loadtest.mock.delivery import WebhookSender
from dumgum_loadtest.mock.ledger import Ledger
from dumgum_loadtest.mock.replies import ReplyPlan, plan_reply
from dumgum_loadtest.schema.enums import ChatModel
from dumgum_loadtest.schema.request import EnqueueRequest

PairKey = tuple[str, str, str]
SWEEP_INTERVAL_S = 30.0


@dataclass(slots=True)
class Pending:
    """One accepted enqueue waiting in a pair's buffer."""

    request: EnqueueRequest
    received_ns: int
    fetch: asyncio.Task[HistorySummary]


@dataclass(slots=True)
class Pair:
    project_id: str
    user_id: str
    persona_id: str
    pending: list[Pending] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    job: asyncio.Task[None] | None = None
    due: int = 0  # buffers that expired while a reply was in progress
    newest_message_ns: int | None = None
    has_history: bool = False
    ban_level: int = 0
    stopped_until: float = 0.0  # loop time; infinity for a permanent stop
    paused_until: float = 0.0
    memories: int = 0
    last_touch: float = 0.0

    def idle(self) -> bool:
        return not self.pending and self.job is None and self.timer is None and not self.due


class Engine:
    """Owns every pair, the capacity gates and the ledger; runs inside the mock's event loop."""

    def __init__(
        self,
        config: MockConfig,
        ledger: Ledger,
        sender: WebhookSender,
        customer: CustomerClient,
        rng: random.Random,
    ) -> None:
        self.config = config
        self.ledger = ledger
        self._sender = sender
        self._customer = customer
        self._rng = rng
        self._pairs: dict[PairKey, Pair] = {}
        self._profiles = ProfileCache(config.behaviour.profile_cache_size)
        self._gates = {
            model: CapacityGate(config.model_profile(model).concurrency) for model in ChatModel
        }
        self._tasks: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    # -- configuration -------------------------------------------------------------------

    def reconfigure(self, config: MockConfig) -> None:
        """Swap the model while running; gates resize, queued work keeps its place."""
        self.config = config
        self._profiles.capacity = config.behaviour.profile_cache_size
        for model, gate in self._gates.items():
            gate.resize(config.model_profile(model).concurrency)

    def gauges(self) -> dict[str, object]:
        return {
            "pairs": len(self._pairs),
            "replies_in_progress": sum(1 for p in self._pairs.values() if p.job is not None),
            "buffered_enqueues": sum(len(p.pending) for p in self._pairs.values()),
            "profiles_cached": len(self._profiles),
            "generating": {m.value: g.busy for m, g in self._gates.items()},
            "waiting_for_capacity": {m.value: g.queued for m, g in self._gates.items()},
        }

    # -- life cycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def stop(self) -> None:
        tasks = list(self._tasks)
        if self._sweeper is not None:
            tasks.append(self._sweeper)
        for pair in self._pairs.values():
            if pair.timer is not None:
                pair.timer.cancel()
            if pair.job is not None:
                tasks.append(pair.job)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_INTERVAL_S)
            self.sweep()

    def sweep(self) -> int:
        """Forget idle pairs that hold no ban or pause: memory follows live pairs, not history."""
        loop_now = asyncio.get_running_loop().time()
        ttl_s = self.config.behaviour.pair_idle_ttl_s
        stale = [
            key
            for key, pair in self._pairs.items()
            if pair.idle()
            and loop_now - pair.last_touch > ttl_s
            and pair.stopped_until <= loop_now
            and pair.paused_until <= loop_now
        ]
        for key in stale:
            del self._pairs[key]
        return len(stale)

    # -- the enqueue path (called by the HTTP handler; never awaits the network) ---------

    def submit(self, project_id: str, request: EnqueueRequest) -> None:
        loop = asyncio.get_running_loop()
        key = (project_id, request.userProfileId, request.personaProfileId)
        pair = self._pairs.get(key)
        if pair is None:
            pair = Pair(project_id, request.userProfileId, request.personaProfileId)
            self._pairs[key] = pair
        loop_now = loop.time()
        pair.last_touch = loop_now
        # DumGum calls chat history on every enqueue, whatever becomes of it.
        fetch = loop.create_task(self._fetch(pair, request))
        if pair.stopped_until > loop_now:
            self.ledger.suppressed_banned += 1
            return
        if pair.paused_until > loop_now:
            self.ledger.suppressed_paused += 1
            return
        if pair.job is not None and not pair.pending:
            policy = self.config.buffer.inflight_policy
            if policy is InflightPolicy.IGNORE:
                self.ledger.ignored_while_inflight += 1
                return
            if policy is InflightPolicy.COALESCE:
                self.ledger.coalesced_into_inflight += 1
                self.ledger.merged += 1
                return
        pair.pending.append(Pending(request, now_ns(), fetch))
        delay_s = request.params.buffer_s * self.config.time_scale
        if self.config.buffer.merge:
            # Debounce: the window restarts with every enqueue of the pair.
            if pair.timer is not None:
                pair.timer.cancel()
            pair.due = 0
            pair.timer = loop.call_later(delay_s, self._buffer_expired, pair)
        else:
            loop.call_later(delay_s, self._buffer_expired, pair)

    def _buffer_expired(self, pair: Pair) -> None:
        pair.timer = None
        pair.due += 1
        self._start_next(pair)

    def _start_next(self, pair: Pair) -> None:
        if pair.job is not None or pair.due == 0 or not pair.pending:
            return
        pair.due -= 1
        if self.config.buffer.merge:
            batch, pair.pending = pair.pending, []
        else:
            batch = [pair.pending.pop(0)]
        pair.job = asyncio.get_running_loop().create_task(self._reply(pair, batch))

    def _job_done(self, pair: Pair) -> None:
        pair.job = None
        pair.last_touch = asyncio.get_running_loop().time()
        self._start_next(pair)

    # -- customer calls -------------------------------------------------------------------

    async def _fetch(self, pair: Pair, request: EnqueueRequest) -> HistorySummary:
        endpoints = self.config.endpoints
        loop = asyncio.get_running_loop()
        profile_calls: list[asyncio.Task[None]] = []
        for profile_id, version in (
            (request.userProfileId, request.userProfileVersion),
            (request.personaProfileId, request.personaProfileVersion),
        ):
            if self._profiles.needs_fetch(profile_id, version):
                # Hold the requested version at once so concurrent enqueues fetch only once.
                self._profiles.put(profile_id, ProfileInfo(version))
                profile_calls.append(loop.create_task(self._fetch_profile(profile_id, version)))
        # Chat history runs in this task, concurrently with the profile tasks: no gather and
        # no task of its own (each costs the event loop a few callbacks per enqueue).
        summary = await self._customer.chat_history(
            endpoints.chat_history_url,
            pair.user_id,
            pair.persona_id,
            pair.newest_message_ns if pair.has_history else None,
        )
        for profile_call in profile_calls:
            await profile_call
        if summary.newest_ns is not None:
            pair.has_history = True
            if pair.newest_message_ns is None or summary.newest_ns > pair.newest_message_ns:
                pair.newest_message_ns = summary.newest_ns
        return summary

    async def _fetch_profile(self, profile_id: str, requested_version: str | None) -> None:
        profile = await self._customer.profile(self.config.endpoints.profile_url, profile_id)
        if profile is None:
            return
        version = requested_version or _str_or_none(profile.get("version"))
        self._profiles.put(
            profile_id, ProfileInfo(version, _str_or_none(profile.get("mainPictureUrl")))
        )

    # -- one reply -------------------------------------------------------------------------

    async def _reply(self, pair: Pair, batch: list[Pending]) -> None:
        try:
            await self._run_reply(pair, batch)
        finally:
            self._job_done(pair)

    async def _run_reply(self, pair: Pair, batch: list[Pending]) -> None:
        cfg = self.config
        ledger = self.ledger
        loop = asyncio.get_running_loop()
        latest = batch[-1]
        echoed = batch[0] if cfg.buffer.merged_tags is MergedTags.FIRST else latest
        request = latest.request
        params = request.params
        shared_urls: list[str] = []
        for pending in batch:
            try:
                summary = await pending.fetch
            except Exception:  # a failed fetch only means no shared pictures
                continue
            shared_urls.extend(summary.shared_picture_urls)
        loop_now = loop.time()
        if pair.stopped_until > loop_now or pair.paused_until > loop_now:
            # A stop or pause that began while this burst was buffered.
            if pair.stopped_until > loop_now:
                ledger.suppressed_banned += len(batch)
            else:
                ledger.suppressed_paused += len(batch)
            return
        # Merged: answered (or dropped) together with the batch's one reply, never suppressed.
        ledger.merged += len(batch) - 1
        deadline = loop_now + params.max_processing_time_s * cfg.time_scale
        tags = echoed.request.tags or {}
        model = params.chat_model
        profile = cfg.model_profile(model)
        gate = self._gates[model]
        if (
            profile.queue_limit is not None
            and gate.busy >= gate.slots
            and gate.queued >= profile.queue_limit
        ):
            ledger.dropped["overload"] += 1
            await self._send(pair, "conversation.dropped", tags)
            return
        wait_s = deadline - loop.time()
        # The common case, a free slot, costs no task and no timer (wait_for makes both).
        if wait_s <= 0 or not gate.try_acquire():
            try:
                await asyncio.wait_for(gate.acquire(), timeout=max(wait_s, 0.0))
            except TimeoutError:
                ledger.dropped["timeout_queued"] += 1
                await self._send(pair, "conversation.dropped", tags)
                return
        out_of_order = (
            bool(cfg.faults.out_of_order_rate) and self._rng.random() < cfg.faults.out_of_order_rate
        )
        processing: asyncio.Task[bool] | None = None
        try:
            if not out_of_order:
                processing = loop.create_task(self._send(pair, "answer.processing", tags))
            generation_s = profile.generation_s.sample_s(self._rng) * cfg.time_scale
            remaining_s = max(deadline - loop.time(), 0.0)
            failure = (
                cfg.faults.generation_failure_rate
                and self._rng.random() < cfg.faults.generation_failure_rate
            )
            if failure:
                await asyncio.sleep(min(self._rng.uniform(0, generation_s), remaining_s))
            else:
                await asyncio.sleep(min(generation_s, remaining_s))
        finally:
            gate.release()
        if processing is not None:
            await processing
        if failure or generation_s > remaining_s:
            ledger.dropped["generation_failure" if failure else "timeout_generating"] += 1
            if out_of_order:
                await self._send(pair, "answer.processing", tags)
            await self._send(pair, "conversation.dropped", tags)
            return
        plan = plan_reply(
            cfg, self._rng, pair, request, shared_urls, self._profiles, self.ledger, loop.time()
        )
        await self._deliver_reply(pair, plan, tags, latest.received_ns, out_of_order)

    async def _deliver_reply(
        self,
        pair: Pair,
        plan: ReplyPlan,
        tags: dict[str, Any],
        received_ns: int,
        out_of_order: bool,
    ) -> None:
        """Messages in order, each only after the previous one was delivered (§5.2)."""
        cfg = self.config
        ledger = self.ledger
        url = cfg.endpoints.incoming_content_url
        parent_id: str | None = None
        total = len(plan.messages)
        for index, message in enumerate(plan.messages):
            typing = index > 0 and plan.typing_pause_s is not None
            if typing and not await self._send(pair, "answer.processing", tags):
                ledger.split_messages_abandoned += total - index
                return
            if plan.typing_pause_s is not None:
                await asyncio.sleep(plan.typing_pause_s.sample_s(self._rng) * cfg.time_scale)
            answer = message.answer(pair, tags, parent_id, index, received_ns, cfg.time_scale)
            parent_id = parent_id or message.answer_id
            body = orjson.dumps(
                {
                    "event": "answer.created",
                    "data": {"projectId": pair.project_id, "answer": answer},
                }
            )
            ledger.messages += 1
            delivered = await self._sender.deliver(url, body)
            if index == 0 and out_of_order:
                ledger.out_of_order_replies += 1
                await self._send(pair, "answer.processing", tags)
            if not delivered:
                ledger.split_messages_abandoned += total - index - 1
                return
        for event in plan.side_events:
            target = cfg.endpoints.memory_webhook_url if event.target == "memory" else url
            await self._sender.deliver(target, event.body)

    async def _send(self, pair: Pair, event: str, tags: dict[str, Any]) -> bool:
        data = {
            "projectId": pair.project_id,
            "userProfileId": pair.user_id,
            "personaProfileId": pair.persona_id,
            "replyMode": "AI",
            "tags": tags,
        }
        body = orjson.dumps({"event": event, "data": data})
        return await self._sender.deliver(self.config.endpoints.incoming_content_url, body)


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


__all__ = ["Engine", "Pair"]
