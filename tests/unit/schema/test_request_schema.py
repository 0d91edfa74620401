"""The enqueue request model against the reference: every field, enum, range and default."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from dumgum_loadtest.examples import reference_example
from dumgum_loadtest.schema.enums import ChatModel, Language
from dumgum_loadtest.schema.request import EnqueueRequest, Guardrails

MINIMAL = {"userProfileId": "1234", "personaProfileId": "9876", "language": "EN"}


def _with(path: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(reference_example())
    target = body
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    return body


def _error_fields(body: dict[str, Any]) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        EnqueueRequest.model_validate(body)
    return [".".join(str(p) for p in err["loc"]) for err in caught.value.errors()]


def test_reference_full_example_validates() -> None:
    request = EnqueueRequest.model_validate(reference_example())
    params = request.params
    assert params.bufferSeconds == 5  # sent as the string "5"
    assert params.maxProcessingTimeSeconds == 300  # sent as "300"
    assert params.chat_model is ChatModel.DATING_SMART_1
    assert params.guardrails is not None and params.guardrails.dangerousDrugUse is False
    assert params.action is not None and params.action.pauseConversation is not None
    assert params.action.pauseConversation.duration == 21600
    assert request.is_test_mode


def test_minimal_request_takes_documented_defaults() -> None:
    params = EnqueueRequest.model_validate(MINIMAL).params
    assert params.chat_model is ChatModel.DATING_SMART_1
    assert params.buffer_s == 5
    assert params.max_processing_time_s == 300


def test_reference_lists_39_languages_and_4_models() -> None:
    assert len(Language) == 39
    assert {m.value for m in ChatModel} == {
        "dating-smart-1",
        "dating-pro-1",
        "chat-2-smart",
        "chat-2-pro",
    }


@pytest.mark.parametrize("missing", ["userProfileId", "personaProfileId", "language"])
def test_required_fields(missing: str) -> None:
    body = dict(MINIMAL)
    del body[missing]
    assert _error_fields(body) == [missing]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("language", "EN_UK"),  # the case study's typo, not in the enum
        ("replyParameters.chatModel", "dating-smart-2"),
        ("replyParameters.sentenceLength", "VERY_LONG"),
        ("replyParameters.messageLength", "HUGE"),
        ("replyParameters.personaPersonality", "PASSIONATE"),  # the reference spells PASSIONNATE
        ("replyParameters.emojis", "ALWAYS"),
        ("replyParameters.fluencyDegradation", "EXTREME"),
        ("replyParameters.multipleMessagesPerReplyFrequency", "ALWAYS"),
        ("replyParameters.replyTypingDelay", "SLOW"),
        ("replyParameters.icebreakerType", "FLIRTY"),
        ("replyParameters.engage", "PING"),
        ("replyParameters.meetingPolicy", "MEET"),
        ("replyParameters.personaProfileOverrides.sexualDrive", "EXTREME"),
        ("replyParameters.action.type", "STOP_CONVERSATION"),
    ],
)
def test_enum_values_outside_the_reference_are_rejected(path: str, value: str) -> None:
    assert path in _error_fields(_with(path, value))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("replyParameters.bufferSeconds", "181"),
        ("replyParameters.bufferSeconds", -1),
        ("replyParameters.bufferSeconds", "five"),
        ("replyParameters.maxProcessingTimeSeconds", "299"),
        ("replyParameters.maxProcessingTimeSeconds", 86401),
        ("replyParameters.questionFrequency", 1.5),
        ("replyParameters.questionFrequency", "-0.1"),
        ("replyParameters.action.pauseConversation.duration", 43201),
        ("replyParameters.action.pauseConversation.duration", 0),
    ],
)
def test_ranges_are_enforced(path: str, value: Any) -> None:
    assert path in _error_fields(_with(path, value))


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("replyParameters.bufferSeconds", "0", 0),
        ("replyParameters.bufferSeconds", 180, 180),
        ("replyParameters.maxProcessingTimeSeconds", "86400", 86400),
        ("replyParameters.questionFrequency", "0.25", 0.25),
        ("replyParameters.profileDistance", "12", 12),
    ],
)
def test_numeric_fields_take_numbers_and_numeric_strings(
    path: str, value: Any, expected: float
) -> None:
    request = EnqueueRequest.model_validate(_with(path, value))
    assert getattr(request.params, path.split(".")[-1]) == expected


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("additionalLanguages", ["FR", "DE"]),  # only one additional language is supported
        ("replyParameters.shareablePictures", [{"id": "", "url": "https://x"}]),
        ("replyParameters.shareablePictures", [{"id": "a", "url": "u" * 129}]),
        ("replyParameters.shareablePictures", [{"id": "a", "url": "u", "caption": "c" * 101}]),
    ],
)
def test_length_limits(path: str, value: Any) -> None:
    fields = _error_fields(_with(path, value))
    assert any(field.startswith(path) for field in fields)


def test_booleans_are_not_coerced_from_strings() -> None:
    assert _error_fields(_with("testMode", "yes")) == ["testMode"]


def test_unknown_fields_are_named() -> None:
    assert _error_fields(_with("replyParameters.bufferSecs", 5)) == ["replyParameters.bufferSecs"]


def test_every_offending_field_is_reported_at_once() -> None:
    body = _with("language", "XX")
    body["replyParameters"]["bufferSeconds"] = "999"
    assert set(_error_fields(body)) == {"language", "replyParameters.bufferSeconds"}


def test_deprecated_guardrails_are_accepted_and_marked() -> None:
    schema = EnqueueRequest.model_json_schema()["$defs"]["Guardrails"]["properties"]
    for name in Guardrails.DEPRECATED_FIELDS:
        assert schema[name].get("deprecated") is True
    assert schema["aiSuspicion"].get("deprecated") is None


@pytest.mark.parametrize(
    ("params", "rules"),
    [
        ({"icebreakerType": "NEARBY"}, ["icebreaker_without_engage"]),
        ({"icebreakerType": "NEARBY", "engage": "NUDGE"}, ["icebreaker_without_engage"]),
        ({"icebreakerType": "NEARBY", "engage": "ICEBREAKER"}, []),
        ({"icebreakerType": "AUTO", "engage": "AUTO"}, []),
        ({"vision": {"userProfilePictureAnalysis": True}}, ["vision_unsupported_model"]),
        ({"vision": {"userProfilePictureAnalysis": False}}, []),
        (
            {"chatModel": "chat-2-pro", "vision": {"sharedPicturesAnalysis": True}},
            [],
        ),
        (
            {"chatModel": "dating-pro-1", "shareablePictures": [{"id": "1", "url": "u"}]},
            ["pictures_unsupported_model"],
        ),
    ],
)
def test_capability_rules(params: dict[str, Any], rules: list[str]) -> None:
    request = EnqueueRequest.model_validate({**MINIMAL, "replyParameters": params})
    assert [v.rule for v in request.capability_violations()] == rules
