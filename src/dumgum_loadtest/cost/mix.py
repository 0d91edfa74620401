"""What a scenario's mix and conversation model imply for the bill, per request and per reply.

The shares are exact expectations of what ``RequestFactory`` draws (the same per-model
overrides and the same capability rule: vision and Smart Share only on chat-2 models); the
turn model is the generator's (a turn is one engage request or a burst of user messages).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from dumgum_loadtest.mock.distributions import Constant, Lognormal, Uniform
from dumgum_loadtest.scenarios.fields import OMIT, coerce_value
from dumgum_loadtest.scenarios.model import Categorical, Scenario
from dumgum_loadtest.schema.enums import ChatModel
from dumgum_loadtest.schema.request import DEFAULT_BUFFER_S, DEFAULT_CHAT_MODEL

_RP = "replyParameters."
_VISION = _RP + "vision."
_VISION_ONLY = (_RP + "shareablePictures", _RP + "shareablePictureCaptioned")
USER_PICTURE_FLAG = _VISION + "userProfilePictureAnalysis"
PERSONA_PICTURE_FLAG = _VISION + "personaProfilePictureAnalysis"
SHAREABLE_FLAG = _VISION + "shareablePicturesAnalysis"
SHARED_FLAG = _VISION + "sharedPicturesAnalysis"
VISION_FLAGS = (USER_PICTURE_FLAG, PERSONA_PICTURE_FLAG, SHAREABLE_FLAG, SHARED_FLAG)


def distribution(fields: dict[str, Categorical], name: str) -> dict[Any, float]:
    """The field's drawn values -> probability (``OMIT`` for "not sent"); {} when not in the mix."""
    weights = fields.get(name)
    if not weights:
        return {}
    out: dict[Any, float] = {}
    for raw, weight in weights.items():
        if weight > 0:
            value = coerce_value(name, raw)
            out[value] = out.get(value, 0.0) + float(weight)
    total = sum(out.values())
    return {value: weight / total for value, weight in out.items()}


def share_true(fields: dict[str, Categorical], name: str) -> float:
    """P(the field is sent as ``true``)."""
    return float(sum(p for value, p in distribution(fields, name).items() if value is True))


def gap_exceeds(gap_s: Constant | Uniform | Lognormal, buffer_s: float) -> float:
    """P(a burst gap is longer than ``buffer_s``): the next message misses the buffer window."""
    if isinstance(gap_s, Constant):
        return 1.0 if gap_s.value_s > buffer_s else 0.0
    if isinstance(gap_s, Uniform):
        if gap_s.high_s <= gap_s.low_s:
            return 1.0 if gap_s.low_s > buffer_s else 0.0
        inside = (buffer_s - gap_s.low_s) / (gap_s.high_s - gap_s.low_s)
        return 1.0 - min(1.0, max(0.0, inside))
    if buffer_s <= 0:
        return 1.0
    z = (math.log(buffer_s) - math.log(gap_s.median_s)) / max(gap_s.sigma, 1e-12)
    return 1.0 - NormalDist().cdf(z)


@dataclass(frozen=True, slots=True)
class ModelMix:
    """One chat model's share of the requests and the billing-relevant shares of its mix."""

    model: ChatModel
    request_share: float
    test_mode: float
    generate_personality: float
    user_picture: float  # P(userProfilePictureAnalysis), 0 off chat-2
    persona_picture: float
    shared_pictures: float
    shareable_pictures: float  # P(shareablePicturesAnalysis)
    shareable_uncaptioned: tuple[float, ...]  # P(picture k offered without caption, flag on)
    captioned: tuple[tuple[float, float], ...]  # (share of offered pictures captioned, P)
    split_after: float  # P(the next message of a burst misses this request's buffer window)

    def uncaptioned_given_offered(self, picture: int, offered: int) -> float:
        """P(picture ``picture`` (1-based) of ``offered`` has no caption)."""
        if picture > offered:
            return 0.0
        return sum(p for share, p in self.captioned if round(share * offered) < picture)

    @property
    def any_vision(self) -> float:
        """P(at least one vision analysis asked for): the flags are drawn independently."""
        miss = 1.0
        for share in (
            self.user_picture,
            self.persona_picture,
            self.shared_pictures,
            self.shareable_pictures,
        ):
            miss *= 1.0 - share
        return 1.0 - miss


def _model_shares(scenario: Scenario) -> dict[ChatModel, float]:
    drawn = distribution(scenario.mix.fields, _RP + "chatModel")
    if not drawn:
        return {DEFAULT_CHAT_MODEL: 1.0}
    shares: dict[ChatModel, float] = {}
    for value, share in drawn.items():
        model = DEFAULT_CHAT_MODEL if value is None or value == OMIT else ChatModel(value)
        shares[model] = shares.get(model, 0.0) + share
    return shares


def _captioned(fields: dict[str, Categorical]) -> tuple[tuple[float, float], ...]:
    drawn = distribution(fields, _RP + "shareablePictureCaptioned") or {0.0: 1.0}
    out: dict[float, float] = {}
    for share, p in drawn.items():
        fraction = 0.0 if share is None or share == OMIT else float(share)
        out[fraction] = out.get(fraction, 0.0) + p
    return tuple(out.items())


def _uncaptioned(
    fields: dict[str, Categorical], captioned: tuple[tuple[float, float], ...], pictures: int
) -> tuple[float, ...]:
    """P(picture k, 1-based, is offered without a caption), as ``RequestFactory`` builds them:
    ``round(share x offered)`` captions go to the first pictures."""
    out = [0.0] * pictures
    for count, p_count in distribution(fields, _RP + "shareablePictures").items():
        if count is None or count == OMIT:
            continue
        offered = min(int(count), pictures)
        for share, p_share in captioned:
            for k in range(round(share * offered) + 1, offered + 1):
                out[k - 1] += p_count * p_share
    return tuple(out)


def _buffer_split(fields: dict[str, Categorical], gap_s: Constant | Uniform | Lognormal) -> float:
    buffers = distribution(fields, _RP + "bufferSeconds") or {DEFAULT_BUFFER_S: 1.0}
    split = 0.0
    for value, share in buffers.items():
        buffer_s = DEFAULT_BUFFER_S if value is None or value == OMIT else float(value)
        split += share * gap_exceeds(gap_s, buffer_s)
    return split


def model_mix(scenario: Scenario, model: ChatModel, request_share: float = 0.0) -> ModelMix:
    """One chat model's billing-relevant shares, after its ``by_model`` overrides."""
    fields = {**scenario.mix.fields, **scenario.mix.by_model.get(model, {})}
    if not model.supports_vision:  # RequestFactory drops these fields off chat-2
        fields = {k: v for k, v in fields.items() if k not in _VISION_ONLY and _VISION not in k}
    shareable_flag = share_true(fields, SHAREABLE_FLAG)
    captioned = _captioned(fields)
    uncaptioned = _uncaptioned(fields, captioned, scenario.population.pictures_per_persona)
    return ModelMix(
        model=model,
        request_share=request_share,
        test_mode=share_true(fields, "testMode"),
        generate_personality=share_true(fields, _RP + "generatePersonality"),
        user_picture=share_true(fields, USER_PICTURE_FLAG),
        persona_picture=share_true(fields, PERSONA_PICTURE_FLAG),
        shared_pictures=share_true(fields, SHARED_FLAG),
        shareable_pictures=shareable_flag,
        shareable_uncaptioned=tuple(shareable_flag * p for p in uncaptioned),
        captioned=captioned,
        split_after=_buffer_split(fields, scenario.conversation.burst_gap_s),
    )


def model_mixes(scenario: Scenario) -> tuple[ModelMix, ...]:
    """Per chat model the scenario can draw: its request share and billing-relevant shares."""
    return tuple(
        model_mix(scenario, model, share) for model, share in _model_shares(scenario).items()
    )


def _normalised(weights: dict[int, float]) -> dict[int, float]:
    total = sum(weights.values())
    return {k: w / total for k, w in weights.items() if w > 0}


@dataclass(frozen=True, slots=True)
class TurnModel:
    """Turns per conversation; a turn is an engage request or a burst that may split."""

    engage_share: float
    burst_size: dict[int, float]  # normalised
    turns: dict[int, float]  # normalised
    split_after: float  # mean over requests of ModelMix.split_after

    @classmethod
    def of(cls, scenario: Scenario, mixes: tuple[ModelMix, ...]) -> TurnModel:
        conversation = scenario.conversation
        return cls(
            engage_share=conversation.engage_share,
            burst_size=_normalised(conversation.burst_size),
            turns=_normalised(conversation.turns),
            split_after=sum(m.request_share * m.split_after for m in mixes),
        )

    @property
    def requests_per_turn(self) -> float:
        mean_burst = sum(size * p for size, p in self.burst_size.items())
        return self.engage_share + (1.0 - self.engage_share) * mean_burst

    @property
    def turns_per_conversation(self) -> float:
        return sum(count * p for count, p in self.turns.items())

    @property
    def last_in_turn(self) -> float:
        """P(a request is the last of its turn): turns per request."""
        return 1.0 / self.requests_per_turn

    def turn_outcomes(self) -> list[tuple[float, int, int]]:
        """(probability, requests, replies) of every way a turn can go."""
        out: list[tuple[float, int, int]] = []
        if self.engage_share > 0:
            out.append((self.engage_share, 1, 1))
        s = self.split_after
        for size, p_size in self.burst_size.items():
            for splits in range(size):
                p_splits = math.comb(size - 1, splits) * s**splits * (1 - s) ** (size - 1 - splits)
                if p_splits > 0:
                    out.append(((1 - self.engage_share) * p_size * p_splits, size, 1 + splits))
        return out

    def conversation_miss(self, hit_per_reply: float) -> float:
        """P(no reply of a conversation does something with per-reply chance ``hit_per_reply``).

        The generating function of replies per conversation at 1 - hit: turns are independent.
        """
        z = 1.0 - hit_per_reply
        per_turn = sum(p * z**replies for p, _, replies in self.turn_outcomes())
        return sum(p * per_turn**count for count, p in self.turns.items())


@dataclass(frozen=True, slots=True)
class ReplyShape:
    """The volume-free part: replies per request, per model, and the turn structure."""

    mixes: tuple[ModelMix, ...]
    turn: TurnModel
    ends_turn: dict[str, float]  # per model: P(a request of this model ends a reply)

    @property
    def replies_per_request(self) -> float:
        return sum(m.request_share * self.ends_turn[m.model.value] for m in self.mixes)

    def reply_share(self, mix: ModelMix) -> float:
        return mix.request_share * self.ends_turn[mix.model.value] / self.replies_per_request


def reply_shape(scenario: Scenario) -> ReplyShape:
    """Replies per request for the scenario: a request ends a reply when it is the last of its
    turn, or when the next message of its burst misses its buffer window."""
    mixes = model_mixes(scenario)
    turn = TurnModel.of(scenario, mixes)
    last = turn.last_in_turn
    ends = {m.model.value: last + (1.0 - last) * m.split_after for m in mixes}
    return ReplyShape(mixes, turn, ends)
