"""What one reply is: its messages, cost, stop reason, and what DumGum bills and does for it.

Decided once the generation has succeeded; the engine then delivers the plan in order.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import orjson

from dumgum_loadtest.clock import iso_from_ns, now_ns
from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.mock.customer_calls import ProfileCache
from dumgum_loadtest.mock.distributions import Constant, Lognormal, Uniform
from dumgum_loadtest.mock.ledger import Ledger, money
from dumgum_loadtest.schema.enums import Engage, ReplyTypingDelay, StopReason
from dumgum_loadtest.schema.request import EnqueueRequest, GuardrailOptionSet, Guardrails

if TYPE_CHECKING:
    from dumgum_loadtest.mock.engine import Pair

FREE = "0.0000"
TEST_TEXT = "This is a test answer from the DumGum mock (testMode): no content was generated."
PAUSE_TEXT = "I have to step away for a little while. Talk soon!"
MAX_MEMORIES = 20

# Which request switch governs each stop reason; None: always on unless safety is disabled.
_SWITCH: dict[StopReason, str | None] = {
    StopReason.MALICIOUS_CONTENT: "maliciousContent",
    StopReason.AI_SUSPICION: "aiSuspicion",
    StopReason.AI_SUSPICIOUS: "aiSuspicion",
    StopReason.USER_UNDERAGE: "underageDetection",
    StopReason.UNKNOWN_LANGUAGE: "unknownLanguage",
    StopReason.USER_MESSAGE_REPETITION: "messageRepetition",
    StopReason.USER_HOSTILE: None,
    StopReason.USER_SUSPICIOUS: None,
}


@dataclass(slots=True)
class PlannedMessage:
    answer_id: str
    text: str | None
    cost: str
    picture_url: str | None = None
    stop_reason: StopReason | None = None
    stopped_until: str | None = None

    def answer(
        self,
        pair: Pair,
        tags: dict[str, Any],
        parent_id: str | None,
        sequence_number: int,
        received_ns: int,
        time_scale: float,
    ) -> dict[str, Any]:
        """The ContentCreationAnswer, projectId included (dumgum-api.md §4.1.3)."""
        created_ns = now_ns()
        return {
            "id": self.answer_id,
            "projectId": pair.project_id,
            "userProfileId": pair.user_id,
            "personaProfileId": pair.persona_id,
            "type": "TEXT",
            "replyMode": "AI",
            "text": self.text,
            "pictureUrl": self.picture_url,
            "tags": tags,
            "cost": self.cost,
            # Simulated seconds, so it matches the configured distributions at any time scale.
            "responseTime": max(0, round((created_ns - received_ns) / 1e9 / time_scale)),
            "sequenceNumber": sequence_number,
            "parentAnswerId": parent_id,
            "createdAt": iso_from_ns(created_ns),
            "conversationStopReason": self.stop_reason.value if self.stop_reason else None,
            "conversationStoppedUntil": self.stopped_until,
        }


@dataclass(slots=True)
class SideEvent:
    target: Literal["incoming", "memory"]
    body: bytes


@dataclass(slots=True)
class ReplyPlan:
    messages: list[PlannedMessage]
    typing_pause_s: Constant | Uniform | Lognormal | None
    side_events: list[SideEvent] = field(default_factory=list)


def plan_reply(
    cfg: MockConfig,
    rng: random.Random,
    pair: Pair,
    request: EnqueueRequest,
    shared_picture_urls: list[str],
    profiles: ProfileCache,
    ledger: Ledger,
    loop_now: float,
) -> ReplyPlan:
    params = request.params
    model = params.chat_model
    test_mode = request.is_test_mode
    side_events = _bill_features(cfg, rng, pair, request, shared_picture_urls, profiles, ledger)

    stop: StopReason | None = None
    stopped_until: str | None = None
    if not test_mode or cfg.guardrails.run_in_test_mode:
        stop = _roll_stop(cfg, rng, request)
        if stop is not None:
            stopped_until = _apply_ban(cfg, pair, request, stop, loop_now)
            ledger.record_stop(stop)

    pausing = params.action is not None
    if pausing:
        ledger.pauses += 1
        pause = params.action.pauseConversation if params.action else None
        if pause is not None and pause.duration is not None:
            pair.paused_until = loop_now + pause.duration * cfg.time_scale

    count = 1
    if params.multipleMessagesPerReply and stop is None and not pausing:
        frequency = params.multipleMessagesPerReplyFrequency
        chance = (
            cfg.split.probability_by_frequency.get(frequency, cfg.split.default_probability)
            if frequency is not None
            else cfg.split.default_probability
        )
        if rng.random() < chance:
            count = 3 if rng.random() < cfg.split.three_message_share else 2

    ledger.replies += 1
    if test_mode:
        ledger.test_mode_replies += 1
    else:
        ledger.record_billed_reply(model)
    if count > 1:
        ledger.split_replies += 1
        ledger.followup_messages += count - 1
    engage = _resolve_engage(cfg, pair, params.engage)
    if engage is not None:
        ledger.engage_replies[engage.value] += 1

    price = FREE if test_mode else money(cfg.model_profile(model).price_eur)
    picture = None
    if (
        model.supports_vision
        and params.shareablePictures
        and rng.random() < cfg.behaviour.picture_share_rate
    ):
        picture = rng.choice(params.shareablePictures).url
    messages = []
    for index in range(count):
        text: str | None = _text(request, engage, pausing, index, count)
        if stop is not None and not _answers_on_stop(request.params.guardrails, stop):
            text = None
        messages.append(
            PlannedMessage(
                answer_id=f"answer_{rng.getrandbits(80):020x}",
                text=text,
                cost=price if index == 0 else FREE,  # only a split reply's first message is billed
                picture_url=picture if index == count - 1 else None,
                stop_reason=stop if index == 0 else None,
                stopped_until=stopped_until if index == 0 else None,
            )
        )
    typing = params.replyTypingDelay
    pause_dist = (
        cfg.typing.fast_s
        if typing is ReplyTypingDelay.FAST
        else cfg.typing.normal_s
        if typing is ReplyTypingDelay.NORMAL
        else None
    )
    if cfg.endpoints.memory_webhook_url and rng.random() < cfg.behaviour.memory_update_rate:
        side_events.append(SideEvent("memory", _memory_event(cfg, pair)))
        ledger.memory_events += 1
    return ReplyPlan(messages, pause_dist, side_events)


def _text(
    request: EnqueueRequest, engage: Engage | None, pausing: bool, index: int, count: int
) -> str:
    if request.is_test_mode:
        return TEST_TEXT
    if pausing:
        return PAUSE_TEXT
    part = f" (part {index + 1} of {count})" if count > 1 else ""
    kind = f"{engage.value.lower()} message" if engage else "reply"
    return f"Mock {kind} in {request.language.value}{part}."


def _bill_features(
    cfg: MockConfig,
    rng: random.Random,
    pair: Pair,
    request: EnqueueRequest,
    shared_picture_urls: list[str],
    profiles: ProfileCache,
    ledger: Ledger,
) -> list[SideEvent]:
    """Vision once per unique URL (chat-2 only), SoulEngine once per persona; test mode free."""
    params = request.params
    vision = params.vision
    events: list[SideEvent] = []
    if vision is not None and vision.any_enabled and not params.chat_model.supports_vision:
        ledger.vision_ignored_requests += 1
    elif vision is not None and vision.any_enabled and not request.is_test_mode:
        urls: list[str] = []
        if vision.userProfilePictureAnalysis:
            urls.extend(_main_picture(profiles, pair.user_id))
        if vision.personaProfilePictureAnalysis:
            urls.extend(_main_picture(profiles, pair.persona_id))
        if vision.shareablePicturesAnalysis and params.shareablePictures:
            urls.extend(p.url for p in params.shareablePictures if p.caption is None)
        for url in urls:
            ledger.vision_analysed_urls.add(url)
        if vision.sharedPicturesAnalysis:
            for url in shared_picture_urls:
                if url in ledger.vision_analysed_urls:
                    continue
                ledger.vision_analysed_urls.add(url)
                if rng.random() < cfg.behaviour.image_rejection_rate:
                    ledger.images_rejected += 1
                    events.append(SideEvent("incoming", _image_rejected(pair, url, rng)))
    if params.generatePersonality and not request.is_test_mode:
        ledger.soulengine_personas.add(f"{pair.project_id}/{pair.persona_id}")
    return events


def _main_picture(profiles: ProfileCache, profile_id: str) -> list[str]:
    info = profiles.get(profile_id)
    return [info.main_picture_url] if info is not None and info.main_picture_url else []


def _guardrail_on(guardrails: Guardrails | None, switch: str | None) -> bool:
    if switch is None or guardrails is None:
        return True  # project defaults: Core Guardian on (assumption)
    value = getattr(guardrails, switch)
    return value is None or bool(value)


def _option_set(guardrails: Guardrails | None, stop: StopReason) -> GuardrailOptionSet | None:
    switch = _SWITCH.get(stop)
    if guardrails is None or switch is None:
        return None
    option_set: GuardrailOptionSet | None = getattr(guardrails, f"{switch}OptionSet")
    return option_set


def _answers_on_stop(guardrails: Guardrails | None, stop: StopReason) -> bool:
    option_set = _option_set(guardrails, stop)
    return option_set is None or option_set.answer is not False


def _roll_stop(cfg: MockConfig, rng: random.Random, request: EnqueueRequest) -> StopReason | None:
    params = request.params
    if params.disableSafetyFeatures:
        return None
    for reason, rate in cfg.guardrails.stop_rates.items():
        if rate and _guardrail_on(params.guardrails, _SWITCH.get(reason)) and rng.random() < rate:
            return reason
    return None


def _apply_ban(
    cfg: MockConfig, pair: Pair, request: EnqueueRequest, stop: StopReason, loop_now: float
) -> str | None:
    """Escalate the pair's ban; returns ``conversationStoppedUntil`` (None when permanent)."""
    if stop.is_permanent:
        pair.stopped_until = math.inf
        return None
    option_set = _option_set(request.params.guardrails, stop)
    ladder: list[float | None]
    if option_set is not None and option_set.banDurations:
        ladder = [d * cfg.guardrails.ban_durations_unit_s for d in option_set.banDurations]
    else:
        ladder = list(cfg.guardrails.ban_ladder_s)
    duration_s = ladder[min(pair.ban_level, len(ladder) - 1)]
    pair.ban_level += 1
    if duration_s is None:
        pair.stopped_until = math.inf
        return None
    real_s = duration_s * cfg.time_scale
    pair.stopped_until = loop_now + real_s
    return iso_from_ns(now_ns() + int(real_s * 1e9))


def _resolve_engage(cfg: MockConfig, pair: Pair, engage: Engage | None) -> Engage | None:
    """AUTO: ICEBREAKER without history, NUDGE after a short silence, REVIVE after a long one."""
    if engage is not Engage.AUTO:
        return engage
    if pair.newest_message_ns is None:
        return Engage.ICEBREAKER
    silence_s = (now_ns() - pair.newest_message_ns) / 1e9 / cfg.time_scale
    return Engage.NUDGE if silence_s < cfg.behaviour.engage_nudge_below_s else Engage.REVIVE


def _image_rejected(pair: Pair, url: str, rng: random.Random) -> bytes:
    reason = rng.choice(["VIOLENT_CONTENT", "SELF_HARM", "ILLEGAL_CONTENT"])
    data = {
        "projectId": pair.project_id,
        "sourceProfileId": pair.user_id,
        "pictureUrl": url,
        "reason": reason,
    }
    return orjson.dumps({"event": "chat.image.rejected", "data": data})


def _memory_event(cfg: MockConfig, pair: Pair) -> bytes:
    pair.memories = min(pair.memories + 1, MAX_MEMORIES)
    stamp = iso_from_ns(now_ns())

    def memory(index: int) -> dict[str, Any]:
        return {
            "uniqueIdentifier": f"user_fact_{index}",
            "target": "USER",
            "category": "EVENT" if index % 5 == 0 else "PERSONALITY",
            "description": f"Synthetic memory {index} of this conversation.",
            "sourceText": None,
            "timestamp": stamp,
            "tags": ["mock"],
        }

    base = {"userProfileId": pair.user_id, "personaProfileId": pair.persona_id}
    if cfg.behaviour.memory_mode == "CHANGES_ONLY":
        data = {**base, "added": [memory(pair.memories)], "deleted": []}
        return orjson.dumps({"event": "memory.changed", "data": data})
    data = {**base, "memories": [memory(i) for i in range(1, pair.memories + 1)]}
    return orjson.dumps({"event": "memory.updated", "data": data})
