"""Draw enqueue bodies from a scenario's mix: seeded, fast, and consistent with the capabilities.

``RequestFactory.draw`` runs thousands of times per second per core, so the mix is compiled
once into cumulative-weight tables per chat model; no pydantic on the hot path. Bodies carry no
``tags``: the generator adds its correlation ids.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

from dumgum_loadtest.scenarios.fields import OMIT, coerce_value
from dumgum_loadtest.scenarios.invalid import MUTATIONS
from dumgum_loadtest.scenarios.model import Categorical, Scenario
from dumgum_loadtest.scenarios.population import ScenarioPopulation
from dumgum_loadtest.schema.enums import ChatModel, Engage, Language
from dumgum_loadtest.schema.request import (
    DEFAULT_BUFFER_S,
    DEFAULT_CHAT_MODEL,
    DEFAULT_MAX_PROCESSING_TIME_S,
)

# Used when the mix gives no language: the field is required.
DEFAULT_LANGUAGE = Language.EN.value

_SKIP: Any = object()  # a compiled ``omit``: leave the field out
_ICEBREAKER_ENGAGES = frozenset({Engage.AUTO, Engage.ICEBREAKER})
_RP = "replyParameters."
_GROUPS = ("guardrails", "vision", "personaProfileOverrides", "postProcessing")
_SPECIAL = frozenset(
    {
        "language",
        "additionalLanguage",
        "testMode",
        "replyParameters.chatModel",
        "replyParameters.shareablePictures",
        "replyParameters.shareablePictureCaptioned",
        "replyParameters.icebreakerType",
        "replyParameters.action.pauseConversation.duration",
    }
)
_VISION_ONLY = ("replyParameters.shareablePictures", "replyParameters.shareablePictureCaptioned")

# values, cumulative weights (the last one infinite, so a draw never runs off the end), total
Table = tuple[tuple[Any, ...], tuple[float, ...], float]


@dataclass(frozen=True, slots=True)
class DrawnRequest:
    """One drawn enqueue: the JSON body (without tags) and its flat features for the record.

    For a request made invalid on purpose, the features describe it as drawn, before the
    mutation, with ``invalid`` true.
    """

    body: dict[str, Any]
    features: dict[str, Any]


def compile_table(field_name: str, weights: Categorical) -> Table | None:
    """The categorical as a table to draw from; None when every weight is 0."""
    pairs = [(coerce_value(field_name, value), float(w)) for value, w in weights.items() if w > 0]
    if not pairs:
        return None
    values = tuple(_SKIP if value is OMIT else value for value, _ in pairs)
    cumulative: list[float] = []
    total = 0.0
    for _, weight in pairs:
        total += weight
        cumulative.append(total)
    cumulative[-1] = math.inf
    return values, tuple(cumulative), total


# One field to draw: its key in the body, then its table, flat for the hot loop.
Entry = tuple[str, tuple[Any, ...], tuple[float, ...], float]


@dataclass(slots=True)
class _Plan:
    """The mix for one chat model, after its ``by_model`` overrides and capability drops."""

    language: Table
    additional: Categorical | None  # compiled per reply language, without that language
    test_mode: Table | None
    constants: dict[str, Any]  # replyParameters fields with a single value: no draw needed
    params: tuple[Entry, ...]
    groups: tuple[tuple[str, tuple[Entry, ...]], ...]
    pictures: Table | None
    captioned: Table | None
    pause: Table | None
    icebreaker: Table | None
    additional_by_language: dict[str, Table | None] = field(default_factory=dict)


def _plan(fields: dict[str, Categorical], model: ChatModel) -> _Plan:
    if not model.supports_vision:  # vision and Smart Share: chat-2 models only
        fields = {k: v for k, v in fields.items() if k not in _VISION_ONLY and ".vision." not in k}
    tables = {name: compile_table(name, weights) for name, weights in fields.items()}
    constants: dict[str, Any] = {}
    params: list[Entry] = []
    groups: dict[str, list[Entry]] = {}
    for name, table in tables.items():
        if name in _SPECIAL or table is None:
            continue
        parts = name.removeprefix(_RP).split(".")
        values, cumulative, total = table
        if len(parts) == 1 and len(values) == 1:
            if values[0] is not _SKIP:
                constants[parts[0]] = values[0]
        elif len(parts) == 1:
            params.append((parts[0], values, cumulative, total))
        else:
            groups.setdefault(parts[0], []).append((parts[1], values, cumulative, total))
    language = tables.get("language") or ((DEFAULT_LANGUAGE,), (math.inf,), 1.0)
    return _Plan(
        language=language,
        additional=fields.get("additionalLanguage") if tables.get("additionalLanguage") else None,
        test_mode=tables.get("testMode"),
        constants=constants,
        params=tuple(params),
        groups=tuple((g, tuple(groups[g])) for g in _GROUPS if g in groups),
        pictures=tables.get("replyParameters.shareablePictures"),
        captioned=tables.get("replyParameters.shareablePictureCaptioned"),
        pause=tables.get("replyParameters.action.pauseConversation.duration"),
        icebreaker=tables.get("replyParameters.icebreakerType"),
    )


class RequestFactory:
    """Draws enqueue bodies for a scenario; one per generator process, with its own ``rng``."""

    def __init__(
        self,
        scenario: Scenario,
        rng: random.Random,
        *,
        force_test_mode: bool = False,
        time_scale: float = 1.0,
    ) -> None:
        self.scenario = scenario
        self.force_test_mode = force_test_mode
        self.population = ScenarioPopulation(
            scenario.population, seed=scenario.seed, time_scale=time_scale
        )
        self._rng = rng
        self._random = rng.random
        mix = scenario.mix
        self._invalid_share = mix.invalid_share
        models = mix.fields.get("replyParameters.chatModel")
        self._chat_model = compile_table("replyParameters.chatModel", models) if models else None
        self._plans: dict[str, _Plan] = {
            model.value: _plan({**mix.fields, **mix.by_model.get(model, {})}, model)
            for model in ChatModel
        }

    def draw(
        self,
        user_id: str,
        persona_id: str,
        *,
        engage: Engage | None = None,
        elapsed_s: float = 0.0,
    ) -> DrawnRequest:
        """A body for one enqueue of (user, persona), ``elapsed_s`` real seconds into the run."""
        rnd = self._random
        model_value: Any = _SKIP
        if self._chat_model is not None:
            values, cum, total = self._chat_model
            model_value = values[bisect_right(cum, rnd() * total)]
        model = (
            DEFAULT_CHAT_MODEL.value if model_value is _SKIP or model_value is None else model_value
        )
        plan = self._plans[model]

        values, cum, total = plan.language
        language = values[bisect_right(cum, rnd() * total)]
        body: dict[str, Any] = {
            "userProfileId": user_id,
            "personaProfileId": persona_id,
            "language": language,
        }
        if plan.additional is not None:
            self._draw_additional(plan, body, language)
        population = self.population
        body["userProfileVersion"] = population.user_profile_version(user_id, elapsed_s)
        body["personaProfileVersion"] = population.persona_profile_version(persona_id, elapsed_s)
        if self.force_test_mode:
            body["testMode"] = True
        elif plan.test_mode is not None:
            values, cum, total = plan.test_mode
            value = values[bisect_right(cum, rnd() * total)]
            if value is not _SKIP:
                body["testMode"] = value

        params: dict[str, Any] = {}
        if model_value is not _SKIP:
            params["chatModel"] = model_value
        if plan.constants:
            params.update(plan.constants)
        for key, values, cum, total in plan.params:
            value = values[bisect_right(cum, rnd() * total)]
            if value is not _SKIP:
                params[key] = value
        for group, entries in plan.groups:
            sub: dict[str, Any] = {}
            for key, values, cum, total in entries:
                value = values[bisect_right(cum, rnd() * total)]
                if value is not _SKIP:
                    sub[key] = value
            if sub:
                params[group] = sub
        shareable = 0
        if plan.pictures is not None:
            shareable = self._draw_pictures(plan, params, persona_id, elapsed_s)
        if plan.pause is not None:
            values, cum, total = plan.pause
            duration = values[bisect_right(cum, rnd() * total)]
            if duration is not None and duration is not _SKIP:
                params["action"] = {
                    "type": "PAUSE_CONVERSATION",
                    "pauseConversation": {"duration": duration},
                }
        if engage is not None:
            params["engage"] = engage.value
            if plan.icebreaker is not None and engage in _ICEBREAKER_ENGAGES:
                values, cum, total = plan.icebreaker
                value = values[bisect_right(cum, rnd() * total)]
                if value is not _SKIP:
                    params["icebreakerType"] = value
        if params:
            body["replyParameters"] = params

        invalid = bool(self._invalid_share) and rnd() < self._invalid_share
        features = _features(model, language, body, params, shareable, engage, invalid)
        if invalid:
            self._rng.choice(MUTATIONS)(body, self._rng)
        return DrawnRequest(body, features)

    def _draw_additional(self, plan: _Plan, body: dict[str, Any], language: str) -> None:
        # Never the reply language itself: draw from the mix without it, or send none.
        table = plan.additional_by_language.get(language, _SKIP)
        if table is _SKIP:
            assert plan.additional is not None
            others = {v: w for v, w in plan.additional.items() if v != language}
            table = compile_table("additionalLanguage", others) if others else None
            plan.additional_by_language[language] = table
        if table is None:
            return
        values, cum, total = table
        value = values[bisect_right(cum, self._random() * total)]
        if value is not None and value is not _SKIP:
            body["additionalLanguages"] = [value]

    def _draw_pictures(
        self, plan: _Plan, params: dict[str, Any], persona_id: str, elapsed_s: float
    ) -> int:
        assert plan.pictures is not None
        rnd = self._random
        values, cum, total = plan.pictures
        count = values[bisect_right(cum, rnd() * total)]
        if count is _SKIP:
            return 0
        if count is None:
            params["shareablePictures"] = None
            return 0
        pictures = self.population.persona_pictures(persona_id, elapsed_s, count)
        captioned_share = 0.0
        if plan.captioned is not None:
            values, cum, total = plan.captioned
            drawn = values[bisect_right(cum, rnd() * total)]
            captioned_share = 0.0 if drawn is None or drawn is _SKIP else drawn
        captioned = round(captioned_share * len(pictures))
        params["shareablePictures"] = [
            {"id": p.id, "url": p.url, "caption": f"Photo {k} of {persona_id}"}
            if k <= captioned
            else {"id": p.id, "url": p.url}
            for k, p in enumerate(pictures, start=1)
        ]
        return len(pictures)


def _features(
    model: str,
    language: str,
    body: dict[str, Any],
    params: dict[str, Any],
    shareable: int,
    engage: Engage | None,
    invalid: bool,
) -> dict[str, Any]:
    """The RequestRecord feature fields of a drawn body, DumGum's defaults where not sent."""
    buffer = params.get("bufferSeconds")
    processing = params.get("maxProcessingTimeSeconds")
    vision = params.get("vision")
    return {
        "chat_model": model,
        "language": language,
        "test_mode": body.get("testMode") is True,
        "buffer_s": DEFAULT_BUFFER_S if buffer is None else int(buffer),
        "max_processing_s": DEFAULT_MAX_PROCESSING_TIME_S
        if processing is None
        else int(processing),
        "generate_personality": params.get("generatePersonality") is True,
        "vision": vision is not None and True in vision.values(),
        "shareable_pictures": shareable,
        "multiple_messages": params.get("multipleMessagesPerReply") is True,
        "typing_delay": params.get("replyTypingDelay") or "INSTANT",
        "engage": engage.value if engage is not None else None,
        "pause": "action" in params,
        "invalid": invalid,
    }
