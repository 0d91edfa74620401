"""Drawn requests follow the mix (chi-square), obey the capability rules, and flag invalid ones."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.scenarios.scenario_helpers import SHIPPED, make_scenario

from dumgum_loadtest.records import RequestRecord
from dumgum_loadtest.scenarios.draw import DrawnRequest, RequestFactory
from dumgum_loadtest.scenarios.model import Scenario, load_scenario
from dumgum_loadtest.scenarios.stats import chi_square_critical, fits
from dumgum_loadtest.schema.enums import Engage
from dumgum_loadtest.schema.request import EnqueueRequest

SAMPLE = 40_000
_FIRST_FEATURE = "chat_model"
FEATURES = [f.name for f in dataclasses.fields(RequestRecord)]
FEATURES = FEATURES[FEATURES.index(_FIRST_FEATURE) :]

MIX: dict[str, Any] = {
    "language": {"EN": 5, "FR": 3, "DE": 1.5, "JA": 0.5},
    "additionalLanguage": {None: 6, "EN": 2, "FR": 2},
    "replyParameters.chatModel": {"dating-smart-1": 0.5, "chat-2-pro": 0.3, "omit": 0.2},
    "replyParameters.bufferSeconds": {"5": 0.4, 5: 0.2, 15: 0.3, "omit": 0.1},
    "replyParameters.replyTypingDelay": {"INSTANT": 0.6, "FAST": 0.25, "NORMAL": 0.15},
    "replyParameters.shareablePictures": {0: 1, 2: 1},
    "replyParameters.vision.userProfilePictureAnalysis": {True: 0.5, False: 0.5},
    "replyParameters.icebreakerType": {"AUTO": 0.5, "GENERIC": 0.5},
}
BY_MODEL: dict[str, Any] = {
    "chat-2-pro": {
        "replyParameters.shareablePictures": {1: 0.2, 3: 0.5, 5: 0.3},
        "replyParameters.replyTypingDelay": {"NORMAL": 0.9, "FAST": 0.1},
    }
}


def _draws(scenario: Scenario, count: int, seed: int = 1, **kwargs: Any) -> list[DrawnRequest]:
    rng = random.Random(seed)
    factory = RequestFactory(scenario, rng, **kwargs)
    population = factory.population
    engages = [None, None, None, *Engage]
    return [
        factory.draw(
            population.pick_user(rng),
            population.pick_persona(rng, 0.0),
            engage=engages[i % len(engages)],
        )
        for i in range(count)
    ]


def _assert_fits(counts: Counter[Any], weights: dict[Any, float], what: str) -> None:
    keys = list(weights)
    observed = [counts.get(key, 0) for key in keys]
    assert sum(counts.values()) == sum(observed), f"{what}: values outside the mix: {counts}"
    assert fits(observed, [weights[k] for k in keys]), f"{what}: {counts} vs {weights}"


def _typed(value: Any) -> tuple[str, Any]:
    return type(value).__name__, value


@pytest.fixture(scope="module")
def mixed() -> list[DrawnRequest]:
    scenario = make_scenario(MIX, BY_MODEL, population={"pictures_per_persona": 6})
    return _draws(scenario, SAMPLE)


def test_language_follows_its_weights(mixed: list[DrawnRequest]) -> None:
    counts = Counter(d.body["language"] for d in mixed)
    _assert_fits(counts, MIX["language"], "language")


def test_chat_model_is_drawn_and_omitted_as_weighted(mixed: list[DrawnRequest]) -> None:
    counts = Counter(d.body.get("replyParameters", {}).get("chatModel", "omit") for d in mixed)
    _assert_fits(counts, MIX["replyParameters.chatModel"], "chatModel")


def test_buffer_seconds_keeps_string_and_number_forms(mixed: list[DrawnRequest]) -> None:
    counts = Counter(
        _typed(d.body.get("replyParameters", {}).get("bufferSeconds", "omit")) for d in mixed
    )
    weights = {_typed(k): w for k, w in MIX["replyParameters.bufferSeconds"].items()}
    _assert_fits(counts, weights, "bufferSeconds")


def test_typing_delay_is_conditional_on_the_model(mixed: list[DrawnRequest]) -> None:
    for model, weights in (
        ("chat-2-pro", BY_MODEL["chat-2-pro"]["replyParameters.replyTypingDelay"]),
        ("dating-smart-1", MIX["replyParameters.replyTypingDelay"]),
    ):
        counts = Counter(
            d.body["replyParameters"]["replyTypingDelay"]
            for d in mixed
            if d.features["chat_model"] == model and not d.features["invalid"]
        )
        _assert_fits(counts, weights, f"replyTypingDelay | {model}")


def test_shareable_picture_count_is_conditional_on_the_model(mixed: list[DrawnRequest]) -> None:
    chat_2 = [d for d in mixed if d.features["chat_model"] == "chat-2-pro"]
    counts = Counter(len(d.body["replyParameters"]["shareablePictures"]) for d in chat_2)
    _assert_fits(counts, BY_MODEL["chat-2-pro"]["replyParameters.shareablePictures"], "pictures")
    others = [d for d in mixed if d.features["chat_model"] != "chat-2-pro"]
    assert all(d.features["shareable_pictures"] == 0 for d in others)


def test_additional_language_never_repeats_the_language(mixed: list[DrawnRequest]) -> None:
    extra: Counter[str | None] = Counter()
    for drawn in mixed:
        languages = drawn.body.get("additionalLanguages")
        if languages is not None:
            assert languages != [drawn.body["language"]]
        if drawn.body["language"] == "JA":  # neither EN nor FR excluded: the plain weights
            extra[languages[0] if languages else None] += 1
    _assert_fits(extra, MIX["additionalLanguage"], "additionalLanguage | JA")


def test_icebreaker_only_with_engage_auto_or_icebreaker(mixed: list[DrawnRequest]) -> None:
    with_type: Counter[str] = Counter()
    for drawn in mixed:
        params = drawn.body.get("replyParameters", {})
        if "icebreakerType" in params:
            assert params["engage"] in ("AUTO", "ICEBREAKER")
            with_type[params["icebreakerType"]] += 1
        elif params.get("engage") in ("AUTO", "ICEBREAKER"):
            pytest.fail(f"engage {params['engage']} without icebreakerType: {params}")
    _assert_fits(with_type, MIX["replyParameters.icebreakerType"], "icebreakerType")


def test_chi_square_critical_values_match_the_tables() -> None:
    # (degrees of freedom, alpha, table value)
    for df, alpha, table in ((1, 0.05, 3.841), (2, 0.01, 9.210), (5, 0.001, 20.515),
                             (10, 0.05, 18.307), (38, 0.001, 70.703)):  # fmt: skip
        assert chi_square_critical(df, alpha) == pytest.approx(table, rel=0.02)


def test_features_are_the_record_fields_with_defaults() -> None:
    scenario = make_scenario({"language": {"FR": 1}})
    drawn = _draws(scenario, 1)[0]
    assert list(drawn.features) == FEATURES
    assert drawn.body == {
        "userProfileId": drawn.body["userProfileId"],
        "personaProfileId": drawn.body["personaProfileId"],
        "language": "FR",
        "userProfileVersion": "v1",
        "personaProfileVersion": "v1",
        **({"replyParameters": drawn.body["replyParameters"]} if drawn.features["engage"] else {}),
    }
    assert drawn.features == {
        "chat_model": "dating-smart-1",
        "language": "FR",
        "test_mode": False,
        "buffer_s": 5,
        "max_processing_s": 300,
        "generate_personality": False,
        "vision": False,
        "shareable_pictures": 0,
        "multiple_messages": False,
        "typing_delay": "INSTANT",
        "engage": None,
        "pause": False,
        "invalid": False,
    }


def test_features_follow_the_body() -> None:
    scenario = make_scenario(
        {
            "replyParameters.chatModel": {"chat-2-smart": 1},
            "replyParameters.bufferSeconds": {"15": 1},
            "replyParameters.maxProcessingTimeSeconds": {600: 1},
            "replyParameters.generatePersonality": {True: 1},
            "replyParameters.vision.sharedPicturesAnalysis": {True: 1},
            "replyParameters.shareablePictures": {10: 1},
            "replyParameters.shareablePictureCaptioned": {0.5: 1},
            "replyParameters.multipleMessagesPerReply": {"true": 1},
            "replyParameters.replyTypingDelay": {"NORMAL": 1},
            "replyParameters.action.pauseConversation.duration": {"600": 1},
            "testMode": {True: 1},
        },
        population={"pictures_per_persona": 4},
    )
    factory = RequestFactory(scenario, random.Random(3))
    drawn = factory.draw("u1", "p2", engage=Engage.NUDGE)
    params = drawn.body["replyParameters"]
    assert params["bufferSeconds"] == "15"
    assert params["multipleMessagesPerReply"] is True
    assert params["action"] == {
        "type": "PAUSE_CONVERSATION",
        "pauseConversation": {"duration": "600"},
    }
    pictures = params["shareablePictures"]
    assert len(pictures) == 4  # clamped to the persona's pictures
    assert sum("caption" in p for p in pictures) == 2
    assert all(
        p["url"].startswith("https://pictures.example.invalid/persona/p2/") for p in pictures
    )
    assert drawn.features == {
        "chat_model": "chat-2-smart",
        "language": "EN",
        "test_mode": True,
        "buffer_s": 15,
        "max_processing_s": 600,
        "generate_personality": True,
        "vision": True,
        "shareable_pictures": 4,
        "multiple_messages": True,
        "typing_delay": "NORMAL",
        "engage": "NUDGE",
        "pause": True,
        "invalid": False,
    }
    RequestRecord(**_record_ids(), **drawn.features)  # the features fill a record as they are
    assert not EnqueueRequest.model_validate(drawn.body).capability_violations()


def _record_ids() -> dict[str, Any]:
    return {
        "run_id": "r",
        "request_id": "q",
        "worker": "w",
        "conversation_id": "c",
        "turn": 0,
        "burst_index": 0,
        "burst_size": 1,
        "stage": None,
        "user_id": "u1",
        "persona_id": "p2",
        "intended_ns": 0,
        "sent_ns": None,
        "response_ns": None,
        "status": None,
        "send_state": "not_sent",
        "error": None,
    }


def test_vision_and_pictures_are_dropped_on_dating_models() -> None:
    scenario = make_scenario(
        {
            "replyParameters.chatModel": {"dating-smart-1": 1, "dating-pro-1": 1, None: 1},
            "replyParameters.shareablePictures": {3: 1},
            "replyParameters.vision.userProfilePictureAnalysis": {True: 1},
        }
    )
    for drawn in _draws(scenario, 300):
        params = drawn.body.get("replyParameters", {})
        assert "shareablePictures" not in params and "vision" not in params
        assert drawn.features["vision"] is False and drawn.features["shareable_pictures"] == 0


def test_force_test_mode_overrides_the_mix() -> None:
    scenario = make_scenario({"testMode": {False: 1, "omit": 1}}, invalid_share=0.2)
    draws = _draws(scenario, 2000, force_test_mode=True)
    assert all(d.body["testMode"] is True and d.features["test_mode"] for d in draws)


def test_same_seed_same_draws() -> None:
    scenario = load_scenario(SHIPPED[0])
    first = [d.body for d in _draws(scenario, 200, seed=9)]
    assert first == [d.body for d in _draws(scenario, 200, seed=9)]
    assert first != [d.body for d in _draws(scenario, 200, seed=10)]


def _check_request(drawn: DrawnRequest) -> None:
    """Valid bodies pass the schema and the capability rules; invalid ones fail one of them."""
    try:
        request = EnqueueRequest.model_validate(drawn.body)
    except ValidationError as exc:
        assert drawn.features["invalid"], f"{exc}\n{drawn.body}"
        return
    violations = request.capability_violations()
    if drawn.features["invalid"]:
        assert violations, f"flagged invalid but accepted: {drawn.body}"
    else:
        assert not violations, f"{violations}\n{drawn.body}"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_drawn_request_of_a_shipped_scenario_is_consistent(path: Path) -> None:
    scenario = load_scenario(path)
    rng = random.Random(scenario.seed)
    factory = RequestFactory(scenario, rng, time_scale=scenario.mock_time_scale)
    engage_types = scenario.conversation.engage_types
    count = 5000
    for i in range(count):
        elapsed_s = scenario.run_duration_s * i / count
        engage = None
        if rng.random() < max(scenario.conversation.engage_share, 0.2):
            engage = rng.choices(list(engage_types), list(engage_types.values()))[0]
        user = factory.population.pick_user(rng)
        persona = factory.population.pick_persona(rng, elapsed_s)
        _check_request(factory.draw(user, persona, engage=engage, elapsed_s=elapsed_s))


def test_invalid_share_gives_that_share_of_rejected_bodies() -> None:
    share = 0.15
    scenario = make_scenario(
        {"replyParameters.chatModel": {"chat-2-smart": 1, "dating-smart-1": 1}},
        invalid_share=share,
    )
    draws = _draws(scenario, 20_000)
    for drawn in draws:
        _check_request(drawn)
    invalid = sum(d.features["invalid"] for d in draws)
    expected = share * len(draws)
    assert abs(invalid - expected) < 4 * (expected * (1 - share)) ** 0.5


def test_every_mutation_is_used() -> None:
    from dumgum_loadtest.scenarios.invalid import MUTATIONS

    scenario = make_scenario({"language": {"FR": 1}}, invalid_share=1.0)
    draws = _draws(scenario, 500)
    assert all(d.features["invalid"] for d in draws)
    for drawn in draws:
        _check_request(drawn)
    kinds = {_mutation_kind(d.body) for d in draws}
    assert len(kinds) == len(MUTATIONS), kinds


def _mutation_kind(body: dict[str, Any]) -> str:
    params = body.get("replyParameters", {})
    checks = [
        ("language", body["language"] != "FR"),
        ("persona", "personaProfileId" not in body),
        ("languages", len(body.get("additionalLanguages", [])) > 1),
        ("buffer", int(params.get("bufferSeconds", 5)) not in range(181)),
        ("processing", int(params.get("maxProcessingTimeSeconds", 300)) < 300),
        ("icebreaker", "icebreakerType" in params),
        ("model", "chatModel" in params),
        ("pause", "action" in params),
        ("misspelt", bool(set(params) & {"bufferSecond", "chat_model", "typingDelay"})),
    ]
    found = [name for name, hit in checks if hit]
    assert len(found) == 1, (found, body)
    return found[0]
