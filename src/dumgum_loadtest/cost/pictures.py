"""Which pictures a run had analysed, from its request records (the rule is ``RUN_VISION_RULE``).

A record says only that some vision analysis was asked and how many shareable pictures were
offered. Every answered chat-2 request with vision on may touch three kinds of picture: its
user's main picture, its persona's main picture and the persona's first ``shareable_pictures``
pictures. Without the scenario each touched picture counts once (an upper bound); with it,
each touch counts with the probability that its analysis was asked, and a picture's expected
count is 1 - the product of (1 - that probability) over its touches.

The touches are built as arrays (a picture is an integer key, its URL text is made once per
distinct picture), in send order: user, persona, then shareable pictures 1, 2, ...
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dumgum_loadtest.analysis.columns import Encoded, encode
from dumgum_loadtest.cost.mix import ModelMix, model_mix
from dumgum_loadtest.scenarios.model import Scenario
from dumgum_loadtest.scenarios.population import ScenarioPopulation
from dumgum_loadtest.schema.enums import ChatModel

VISION_MODELS = frozenset(m.value for m in ChatModel if m.supports_vision)
PICTURE_COLUMNS = (
    "chat_model",
    "user_id",
    "persona_id",
    "sent_ns",
    "intended_ns",
    "shareable_pictures",
    "vision",
)


@dataclass(frozen=True, slots=True)
class PictureCount:
    """Analysed pictures (an expected count when weighted) and their attribution to models."""

    pictures: float
    by_model: dict[str, float]
    weighted: bool


@dataclass(frozen=True, slots=True)
class PictureRules:
    """What the count takes from the scenario: each model's mix and the URL rotation."""

    mixes: dict[str, ModelMix] | None
    population: ScenarioPopulation | None

    @classmethod
    def of(cls, scenario: Scenario | None, time_scale: float = 1.0) -> PictureRules:
        if scenario is None:
            return cls(None, None)
        # every model, drawn by the mix or not: the records say which one each request used
        mixes = {m.value: model_mix(scenario, m) for m in ChatModel}
        population = ScenarioPopulation(
            scenario.population, seed=scenario.seed, time_scale=time_scale
        )
        return cls(mixes, population)

    @property
    def weighted(self) -> bool:
        return self.mixes is not None


def _labels(column: pd.Series, encoded: Encoded) -> list[str]:
    """Each code's value as text, as ``astype(str)`` writes it; then the text of missing."""
    texts = pd.Series(encoded.values, dtype=object).astype(str).tolist()
    missing = np.flatnonzero(encoded.codes < 0)
    if len(missing):
        texts += column.take(missing[:1]).astype(str).tolist()
    else:
        texts.append("")  # no row is missing: never read
    return [str(text) for text in texts]


def _text_ids(texts: list[str]) -> np.ndarray:
    """Per code: a number shared by the codes whose texts are equal (0, 1, ...)."""
    ids: np.ndarray = pd.factorize(np.array(texts, dtype=object))[0].astype("int64")
    return ids


def _shareable_probability(
    mixes: dict[str, ModelMix] | None,
    models: list[str],
    model: np.ndarray,
    offered: np.ndarray,
    picture: np.ndarray,
) -> np.ndarray:
    """P(picture k of ``offered`` is analysed) per shareable touch, given some vision was asked."""
    if mixes is None:
        return np.ones(len(model))
    width = int(max(offered.max(initial=0), picture.max(initial=0))) + 1
    combined = (model * width + offered) * width + picture
    where, distinct = pd.factorize(combined)
    values = []
    for value in distinct.tolist():
        rest, k = divmod(value, width)
        code, count = divmod(rest, width)
        mix = mixes.get(models[code])
        if mix is None:
            values.append(1.0)
            continue
        flag = mix.shareable_pictures / mix.any_vision
        values.append(flag * mix.uncaptioned_given_offered(k, count))
    out: np.ndarray = np.array(values, dtype="float64")[where]
    return out


def _rotations(
    population: ScenarioPopulation | None,
    personas: list[str],
    persona: np.ndarray,
    picture: np.ndarray,
    elapsed_s: np.ndarray,
) -> np.ndarray:
    """``population.picture_rotation`` per shareable touch (0 past the persona's pictures)."""
    turns = np.zeros(len(persona), dtype="int64")
    if population is None or population.spec.picture_url_changes_per_day == 0:
        return turns
    count = population.spec.pictures_per_persona
    rotating = picture <= count
    if not rotating.any():
        return turns
    used = pd.unique(persona[rotating])
    phases = np.zeros((len(personas), count), dtype="float64")
    for code in used.tolist():
        # the same phases ScenarioPopulation.picture_rotation reads
        phases[code] = population._phases(personas[code])
    rate = population.spec.picture_url_changes_per_day
    days = elapsed_s[rotating] * population.simulated_days(1.0)
    phase = phases[persona[rotating], picture[rotating] - 1]
    turns[rotating] = np.floor(rate * days + phase).astype("int64")
    return turns


def _shareable_keys(persona: np.ndarray, picture: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """A number per distinct (persona text, picture, rotation): the URL key
    ``shareable/{persona}/{picture}/r{rotation}`` (distinct texts, distinct keys)."""
    if not len(persona):
        return np.zeros(0, dtype="int64")
    low = int(turn.min())
    span = int(turn.max()) - low + 1
    width = int(picture.max()) + 1
    if (int(persona.max()) + 1) * width * span < 2**62:
        combined = (persona * width + picture) * span + (turn - low)
        codes: np.ndarray = pd.factorize(combined)[0]
    else:
        frame = pd.DataFrame({"persona": persona, "picture": picture, "turn": turn})
        codes = frame.groupby(["persona", "picture", "turn"], sort=False).ngroup().to_numpy()
    return codes.astype("int64")


def picture_count(candidates: pd.DataFrame, rules: PictureRules, origin_ns: int) -> PictureCount:
    """Pictures analysed for ``candidates``: answered chat-2 requests with vision on."""
    mixes, population = rules.mixes, rules.population
    if candidates.empty:
        return PictureCount(0.0, {}, rules.weighted)
    model_codes = encode(candidates["chat_model"])
    models = _labels(candidates["chat_model"], model_codes)
    model = np.where(model_codes.codes < 0, len(models) - 1, model_codes.codes)
    user_p = np.ones(len(models))
    persona_p = np.ones(len(models))
    skipped = np.zeros(len(models), dtype=bool)
    if mixes is not None:
        for code, name in enumerate(models):
            mix = mixes.get(name)
            if mix is None:
                continue
            any_vision = mix.any_vision
            if any_vision <= 0:
                skipped[code] = True
                continue
            user_p[code] = mix.user_picture / any_vision
            persona_p[code] = mix.persona_picture / any_vision
    kept = np.flatnonzero(~skipped[model])
    sent = candidates["sent_ns"].to_numpy(dtype="float64", na_value=0.0)[kept]
    # touches sorted by send time (stable): the requests in that order, each touch in turn
    rows = kept[np.argsort(sent, kind="stable")]
    offered_all = candidates["shareable_pictures"].to_numpy(dtype="float64", na_value=0.0)
    offered = np.maximum(np.trunc(offered_all[rows]), 0).astype("int64")
    touches = 2 + offered
    request = np.repeat(rows, touches)
    starts = np.cumsum(touches) - touches
    slot = np.arange(len(request)) - np.repeat(starts, touches)

    # A picture is a URL key: user/{user}, persona/{persona} or shareable/{persona}/{k}/r{turn}
    # (the text of missing included, as the key text would write it). The three kinds never
    # share a text, and a kind's texts are equal when their parts are: numbers stand for them.
    user_codes = encode(candidates["user_id"])
    persona_codes = encode(candidates["persona_id"])
    personas = _labels(candidates["persona_id"], persona_codes)
    user_key = _text_ids(_labels(candidates["user_id"], user_codes))
    persona_text = _text_ids(personas)
    persona_key = persona_text + len(user_key)
    persona = persona_codes.codes[request]
    model_of = model[request]

    key = np.empty(len(request), dtype="int64")
    probability = np.empty(len(request), dtype="float64")
    is_user, is_persona, shareable = slot == 0, slot == 1, slot >= 2
    key[is_user] = user_key[user_codes.codes[request[is_user]]]
    probability[is_user] = user_p[model_of[is_user]]
    key[is_persona] = persona_key[persona[is_persona]]
    probability[is_persona] = persona_p[model_of[is_persona]]
    share = request[shareable]
    picture = slot[shareable] - 1
    share_persona = np.where(persona[shareable] < 0, len(personas) - 1, persona[shareable])
    intended = candidates["intended_ns"].to_numpy(dtype="float64", na_value=0.0)[share]
    elapsed_s = (intended - origin_ns) / 1e9
    turn = _rotations(population, personas, share_persona, picture, elapsed_s)
    shareable_key = _shareable_keys(persona_text[share_persona], picture, turn)
    key[shareable] = shareable_key + len(user_key) + len(persona_key)
    probability[shareable] = _shareable_probability(
        mixes, models, model_of[shareable], np.repeat(offered, touches)[shareable], picture
    )

    positive = probability > 0
    if not positive.any():
        return PictureCount(0.0, {}, rules.weighted)
    miss = np.log1p(-np.minimum(probability[positive], 1.0 - 1e-12))
    grouped = pd.DataFrame({"key": key[positive], "miss": miss, "model": model_of[positive]})
    per_key = grouped.groupby("key", sort=False).agg(miss=("miss", "sum"), model=("model", "first"))
    if mixes is None:
        expected = pd.Series(1.0, index=per_key.index)
    else:
        expected = 1.0 - np.exp(per_key["miss"])
    by_code = expected.groupby(per_key["model"].to_numpy()).sum()
    by_model = {
        models[code]: float(value)
        for code, value in zip(by_code.index.tolist(), by_code.tolist(), strict=True)
    }
    return PictureCount(float(expected.sum()), dict(sorted(by_model.items())), rules.weighted)


def count_pictures(
    answered: pd.DataFrame,
    scenario: Scenario | None = None,
    time_scale: float = 1.0,
    origin_ns: int | None = None,
) -> PictureCount:
    """Pictures analysed for ``answered`` requests (filter testMode out before, for billing).

    ``origin_ns``: the run's start (its earliest intended send), from which picture URLs rotate.
    """
    candidates = answered[
        answered["vision"].astype(bool) & answered["chat_model"].isin(VISION_MODELS)
    ]
    if origin_ns is None:
        origin_ns = int(answered["intended_ns"].min()) if len(answered) else 0
    return picture_count(candidates, PictureRules.of(scenario, time_scale), origin_ns)
