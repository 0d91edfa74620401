"""A seeded Monte-Carlo month: draw every request with ``RequestFactory`` and bill it as DumGum.

The check on ``project_cost``: the same scenario, volume and sheet, but counted request by
request (conversations at random times over the month, turns, bursts split where a gap
misses the buffer window, the reply taking the last request's fields, pictures and personas
billed once). One simulated month from a cold start equals the projection's first month.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from dumgum_loadtest.cost.rules import DAYS_PER_MONTH, REPLIES, SOULENGINE, VISION
from dumgum_loadtest.cost.sheet import PriceSheet
from dumgum_loadtest.scenarios.draw import RequestFactory
from dumgum_loadtest.scenarios.model import Scenario
from dumgum_loadtest.scenarios.population import SECONDS_PER_DAY, ScenarioPopulation
from dumgum_loadtest.schema.enums import ChatModel, Engage
from dumgum_loadtest.schema.request import DEFAULT_BUFFER_S, DEFAULT_CHAT_MODEL


@dataclass
class SimulatedMonth:
    """What one simulated period billed; ``*_live`` leaves testMode replies out."""

    requests: int = 0
    conversations: int = 0
    replies_by_model: Counter[str] = field(default_factory=Counter)
    live_replies_by_model: Counter[str] = field(default_factory=Counter)
    pictures: set[str] = field(default_factory=set)
    live_pictures: set[str] = field(default_factory=set)
    personas: set[str] = field(default_factory=set)
    live_personas: set[str] = field(default_factory=set)

    @property
    def replies(self) -> int:
        return sum(self.replies_by_model.values())

    def group_eur(self, sheet: PriceSheet, *, live_only: bool = False) -> dict[str, Decimal]:
        """Cost by group (replies, vision, soulengine), as if live unless ``live_only``."""
        replies = self.live_replies_by_model if live_only else self.replies_by_model
        pictures = self.live_pictures if live_only else self.pictures
        personas = self.live_personas if live_only else self.personas
        return {
            REPLIES: sum((sheet.reply_price(m) * n for m, n in replies.items()), Decimal(0)),
            VISION: sheet.vision_per_picture * len(pictures),
            SOULENGINE: sheet.soulengine_per_persona * len(personas),
        }


def _users_with_picture(people: ScenarioPopulation, rng: random.Random) -> set[str]:
    """Exactly ``user_picture_share`` of the users, picked at random, have a main picture."""
    users = [people.user_id(index) for index in range(people.user_count)]
    return set(rng.sample(users, round(people.spec.user_picture_share * len(users))))


T = TypeVar("T")


def _draw(weights: dict[T, float], rng: random.Random) -> T:
    values = [value for value, weight in weights.items() if weight > 0]
    return rng.choices(values, [weights[value] for value in values])[0]


def _turns(scenario: Scenario, rng: random.Random) -> list[list[tuple[Engage | None, float]]]:
    """One conversation: per turn, its requests as (engage, gap to the next one in seconds)."""
    conversation = scenario.conversation
    out: list[list[tuple[Engage | None, float]]] = []
    for _ in range(_draw(conversation.turns, rng)):
        if conversation.engage_share and rng.random() < conversation.engage_share:
            out.append([(_draw(conversation.engage_types, rng), 0.0)])
            continue
        size = _draw(conversation.burst_size, rng)
        burst: list[tuple[Engage | None, float]] = [
            (None, conversation.burst_gap_s.sample_s(rng)) for _ in range(size)
        ]
        out.append(burst)
    return out


def simulate_cost(
    scenario: Scenario,
    requests_per_day: float,
    *,
    days: int = DAYS_PER_MONTH,
    seed: int = 0,
) -> SimulatedMonth:
    """Bill ``requests_per_day x days`` drawn requests; deterministic for a seed."""
    rng = random.Random(f"{seed}:cost-simulation")
    # Requests made invalid on purpose are rejected and never billed: the month counts valid ones.
    valid = scenario.model_copy(
        update={"mix": scenario.mix.model_copy(update={"invalid_share": 0})}
    )
    factory = RequestFactory(valid, random.Random(f"{seed}:draws"), time_scale=1.0)
    people = ScenarioPopulation(scenario.population, seed=scenario.seed, time_scale=1.0)
    target = round(requests_per_day * days)
    plans: list[list[list[tuple[Engage | None, float]]]] = []
    planned = 0
    while planned < target:
        turns = _turns(scenario, rng)
        plans.append(turns)
        planned += sum(len(turn) for turn in turns)
    starts_s = sorted(rng.random() * days * SECONDS_PER_DAY for _ in plans)
    month = SimulatedMonth(conversations=len(plans))
    with_picture = _users_with_picture(people, rng)
    for turns, start_s in zip(plans, starts_s, strict=True):
        user = people.pick_user(rng)
        persona = people.pick_persona(rng, start_s)
        has_picture = user in with_picture
        for turn in turns:
            group: list[dict[str, Any]] = []
            for index, (engage, gap_s) in enumerate(turn):
                if month.requests >= target:
                    break
                month.requests += 1
                body = factory.draw(user, persona, engage=engage, elapsed_s=start_s).body
                group.append(body)
                params = body.get("replyParameters") or {}
                buffer_s = float(params.get("bufferSeconds", DEFAULT_BUFFER_S) or 0)
                last = index == len(turn) - 1
                if last or gap_s > buffer_s:  # the buffer window closes: one reply
                    _bill(month, group[-1], has_picture)
                    group = []
            if group:  # the month ended inside a burst: its last sent request is answered
                _bill(month, group[-1], has_picture)
    return month


def _bill(month: SimulatedMonth, body: dict[str, Any], user_has_picture: bool) -> None:
    """One reply, billed from the fields of the request it answers (the burst's latest)."""
    params = body.get("replyParameters") or {}
    model = ChatModel(params.get("chatModel") or DEFAULT_CHAT_MODEL)
    live = body.get("testMode") is not True
    user, persona = body["userProfileId"], body["personaProfileId"]
    month.replies_by_model[model.value] += 1
    if live:
        month.live_replies_by_model[model.value] += 1
    if params.get("generatePersonality") is True:
        month.personas.add(persona)
        if live:
            month.live_personas.add(persona)
    vision = params.get("vision") or {}
    if not model.supports_vision or not vision:
        return
    urls = []
    if vision.get("userProfilePictureAnalysis") is True and user_has_picture:
        urls.append(f"user/{user}/{body.get('userProfileVersion')}")
    if vision.get("personaProfilePictureAnalysis") is True:
        urls.append(f"persona/{persona}/{body.get('personaProfileVersion')}")
    if vision.get("shareablePicturesAnalysis") is True:
        pictures = params.get("shareablePictures") or []
        urls.extend(p["url"] for p in pictures if not p.get("caption"))
    month.pictures.update(urls)
    if live:
        month.live_pictures.update(urls)
