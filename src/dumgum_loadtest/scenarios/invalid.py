"""Realistic ways a customer's enqueue goes wrong, for the mix's share of invalid requests.

Each mutation turns a valid drawn body into one the API must refuse (a 422 from the mock by
default): rejected by the request schema, or by the capability rules the mock enforces.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

Mutation = Callable[[dict[str, Any], random.Random], None]


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("replyParameters")
    if not isinstance(params, dict):
        params = body["replyParameters"] = {}
    return params


def unknown_language(body: dict[str, Any], rng: random.Random) -> None:
    # EN_UK is the docs' own typo for EN_GB; the others are common client mistakes.
    body["language"] = rng.choice(("EN_UK", "en", "PT", "DE_DE", "XX"))


def buffer_out_of_range(body: dict[str, Any], rng: random.Random) -> None:
    _params(body)["bufferSeconds"] = rng.choice((181, 600, -1, "900"))


def processing_time_too_short(body: dict[str, Any], rng: random.Random) -> None:
    _params(body)["maxProcessingTimeSeconds"] = rng.choice((0, 60, "120"))


def icebreaker_without_engage(body: dict[str, Any], rng: random.Random) -> None:
    params = _params(body)
    if params.get("engage") in ("AUTO", "ICEBREAKER"):
        params["engage"] = "NUDGE"
    params["icebreakerType"] = rng.choice(("AUTO", "GENERIC", "NEARBY", "JUST_JOINED"))


def missing_persona(body: dict[str, Any], rng: random.Random) -> None:
    body.pop("personaProfileId", None)


def unknown_chat_model(body: dict[str, Any], rng: random.Random) -> None:
    _params(body)["chatModel"] = rng.choice(("dating-smart-2", "chat-3-pro", "gpt-4o"))


def two_additional_languages(body: dict[str, Any], rng: random.Random) -> None:
    others = [code for code in ("EN", "FR", "DE", "ES") if code != body.get("language")]
    body["additionalLanguages"] = rng.sample(others, 2)


def pause_too_long(body: dict[str, Any], rng: random.Random) -> None:
    _params(body)["action"] = {
        "type": "PAUSE_CONVERSATION",
        "pauseConversation": {"duration": rng.choice((43201, 86400))},
    }


def misspelt_field(body: dict[str, Any], rng: random.Random) -> None:
    params = _params(body)
    params[rng.choice(("bufferSecond", "chat_model", "typingDelay"))] = params.pop(
        "bufferSeconds", 5
    )


MUTATIONS: tuple[Mutation, ...] = (
    unknown_language,
    buffer_out_of_range,
    processing_time_too_short,
    icebreaker_without_engage,
    missing_persona,
    unknown_chat_model,
    two_additional_languages,
    pause_too_long,
    misspelt_field,
)
