"""Customer-endpoint payload models accept DumGum's documented shapes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from dumgum_loadtest.schema.customer import (
    ChatHistoryResponse,
    Gender,
    MessageType,
    ProfileResponse,
    Sender,
)


def test_documented_profile_shape() -> None:
    body = {
        "profile": {
            "id": "user_1",
            "gender": "TRANSFEMININE",
            "version": "2025-01-01T00:00:00Z",
            "nickname": "kiki",
            "birthdate": "1990-05-17",
            "countryCode": "FR",
            "timeZone": "Europe/Paris",
            "features": {"ethnicity": "ASIAN", "interests": ["TAILORING"], "newThing": 1},
            "expiresAt": "2025-02-01T00:00:00Z",
            "children": [{"name": "Zoé", "gender": "WOMAN", "age": 4}],
            "pets": [{"name": "Max", "sex": "MALE", "type": "DOG"}],
        }
    }
    profile = ProfileResponse.model_validate(body).profile
    assert profile.gender is Gender.TRANSFEMININE
    assert profile.birthdate == date(1990, 5, 17)
    assert profile.features is not None
    assert profile.features.model_extra == {"newThing": 1}  # unknown features are kept
    dumped = profile.model_dump(mode="json", exclude_none=True)
    assert dumped["birthdate"] == "1990-05-17"
    assert dumped["features"]["newThing"] == 1


def test_unknown_gender_is_rejected() -> None:
    with pytest.raises(ValidationError, match="gender"):
        ProfileResponse.model_validate(
            {"profile": {"id": "u", "gender": "FEMALE", "version": "1", "firstName": "A"}}
        )


def test_chat_history_shape() -> None:
    history = ChatHistoryResponse.model_validate(
        {
            "messages": [
                {
                    "id": "m1",
                    "sender": "USER",
                    "type": "TEXT",
                    "date": "2025-01-01T00:00:00Z",
                    "text": "hi",
                },
                {
                    "id": "m2",
                    "sender": "PERSONA",
                    "type": "ACTION_POKE",
                    "date": "2025-01-01T00:01:00Z",
                },
            ]
        }
    )
    first, poke = history.messages
    assert first.sender is Sender.USER
    assert first.date == datetime(2025, 1, 1, tzinfo=UTC)
    assert poke.type is MessageType.ACTION_POKE and poke.text is None
