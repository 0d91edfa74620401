"""Which pictures a run had analysed, from its request records (the rule is ``RUN_VISION_RULE``).

A record says only that some vision analysis was asked and how many shareable pictures were
offered. Every answered chat-2 request with vision on may touch three kinds of picture: its
user's main picture, its persona's main picture and the persona's first ``shareable_pictures``
pictures. Without the scenario each touched picture counts once (an upper bound); with it,
each touch counts with the probability that its analysis was asked, and a picture's expected
count is 1 - the product of (1 - that probability) over its touches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from dumgum_loadtest.cost.mix import ModelMix, model_mix
from dumgum_loadtest.scenarios.model import Scenario
from dumgum_loadtest.scenarios.population import ScenarioPopulation
from dumgum_loadtest.schema.enums import ChatModel

VISION_MODELS = frozenset(m.value for m in ChatModel if m.supports_vision)


@dataclass(frozen=True, slots=True)
class PictureCount:
    """Analysed pictures (an expected count when weighted) and their attribution to models."""

    pictures: float
    by_model: dict[str, float]
    weighted: bool


def _touches(
    requests: pd.DataFrame,
    mixes: dict[str, ModelMix] | None,
    population: ScenarioPopulation | None,
    origin_ns: int,
) -> pd.DataFrame:
    """One row per (request, picture it may analyse): key, probability, send time, model."""
    rows: list[tuple[str, float, int, str]] = []
    columns = zip(
        requests["chat_model"].astype(str).to_numpy(),
        requests["user_id"].astype(str).to_numpy(),
        requests["persona_id"].astype(str).to_numpy(),
        requests["sent_ns"].to_numpy(dtype="float64", na_value=0.0),
        requests["intended_ns"].to_numpy(dtype="float64", na_value=0.0),
        requests["shareable_pictures"].to_numpy(dtype="float64", na_value=0.0),
        strict=True,
    )
    for model, user, persona, sent, intended, offered_pictures in columns:
        mix = mixes.get(model) if mixes is not None else None
        sent_ns = int(sent)
        any_vision = mix.any_vision if mix is not None else 1.0
        if mix is not None and any_vision <= 0:
            continue
        user_p = mix.user_picture / any_vision if mix is not None else 1.0
        persona_p = mix.persona_picture / any_vision if mix is not None else 1.0
        rows.append((f"user/{user}", user_p, sent_ns, model))
        rows.append((f"persona/{persona}", persona_p, sent_ns, model))
        offered = int(offered_pictures)
        elapsed_s = (intended - origin_ns) / 1e9
        for picture in range(1, offered + 1):
            probability = 1.0
            if mix is not None:
                flag = mix.shareable_pictures / any_vision
                probability = flag * mix.uncaptioned_given_offered(picture, offered)
            turn = (
                population.picture_rotation(persona, picture, elapsed_s)
                if population is not None and population.spec.pictures_per_persona >= picture
                else 0
            )
            rows.append((f"shareable/{persona}/{picture}/r{turn}", probability, sent_ns, model))
    return pd.DataFrame.from_records(rows, columns=["key", "probability", "sent_ns", "model"])


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
    mixes = population = None
    if scenario is not None:
        # every model, drawn by the mix or not: the records say which one each request used
        mixes = {m.value: model_mix(scenario, m) for m in ChatModel}
        population = ScenarioPopulation(
            scenario.population, seed=scenario.seed, time_scale=time_scale
        )
    if origin_ns is None:
        origin_ns = int(answered["intended_ns"].min()) if len(answered) else 0
    touches = _touches(candidates, mixes, population, origin_ns)
    touches = touches[touches["probability"] > 0]
    if touches.empty:
        return PictureCount(0.0, {}, scenario is not None)
    touches = touches.sort_values("sent_ns", kind="stable")
    miss = np.log1p(-touches["probability"].clip(upper=1.0 - 1e-12))
    grouped = pd.DataFrame({"key": touches["key"], "miss": miss, "model": touches["model"]})
    per_key = grouped.groupby("key", sort=False).agg(miss=("miss", "sum"), model=("model", "first"))
    if scenario is None:
        expected = pd.Series(1.0, index=per_key.index)
    else:
        expected = 1.0 - np.exp(per_key["miss"])
    by_model = expected.groupby(per_key["model"]).sum()
    return PictureCount(
        float(expected.sum()),
        {str(model): float(value) for model, value in by_model.items()},
        scenario is not None,
    )
