"""The mix's field specs agree with the request schema, so a loadable mix draws valid bodies."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from dumgum_loadtest.scenarios.fields import FIELD_SPECS, OMIT, coerce_value, json_key
from dumgum_loadtest.scenarios.model import MIX_FIELDS
from dumgum_loadtest.schema.request import EnqueueRequest

# Fields the draw turns into something else than "this value at this path".
DERIVED = {
    "additionalLanguage",
    "replyParameters.shareablePictures",
    "replyParameters.shareablePictureCaptioned",
}


def test_every_mix_field_has_a_spec() -> None:
    assert set(MIX_FIELDS) == set(FIELD_SPECS)


def _body(field: str, value: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"userProfileId": "u1", "personaProfileId": "p1", "language": "EN"}
    if field == "replyParameters.action.pauseConversation.duration":
        pause = {"duration": value}
        body["replyParameters"] = {
            "action": {"type": "PAUSE_CONVERSATION", "pauseConversation": pause}
        }
        return body
    node = body
    *parents, last = field.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return body


def _valid(field: str, value: Any) -> bool:
    try:
        EnqueueRequest.model_validate(_body(field, value))
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("field", sorted(set(FIELD_SPECS) - DERIVED))
def test_spec_accepts_exactly_what_the_schema_accepts(field: str) -> None:
    spec = FIELD_SPECS[field]
    if spec.kind == "enum":
        for choice in spec.choices:
            assert _valid(field, coerce_value(field, choice))
        return
    if spec.kind == "bool":
        assert _valid(field, coerce_value(field, "true")) and _valid(field, False)
        return
    assert spec.low is not None
    edges = [spec.low] if spec.high is None else [spec.low, spec.high]
    for edge in edges:
        assert _valid(field, coerce_value(field, edge))
        assert _valid(field, coerce_value(field, str(edge)))
    step = 1 if spec.kind in ("int", "pause") else 0.01
    outside = [spec.low - step] if spec.high is None else [spec.low - step, spec.high + step]
    for value in outside:
        # The reference gives profileDistance no range; the mix keeps it realistic (>= 0).
        assert not _valid(field, value) or field == "replyParameters.profileDistance"
        with pytest.raises(ValueError, match=field):
            coerce_value(field, value)


@pytest.mark.parametrize(
    ("field", "value", "sent"),
    [
        ("replyParameters.bufferSeconds", "5", "5"),
        ("replyParameters.bufferSeconds", 5.0, 5),
        ("replyParameters.generatePersonality", "TRUE", True),
        ("replyParameters.chatModel", None, None),
        ("replyParameters.chatModel", "null", None),
        ("replyParameters.questionFrequency", "0.5", "0.5"),
        ("replyParameters.shareablePictures", "3", 3),
        ("testMode", OMIT, OMIT),
    ],
)
def test_coercion_keeps_the_wire_form(field: str, value: Any, sent: Any) -> None:
    coerced = coerce_value(field, value)
    assert coerced == sent and type(coerced) is type(sent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("language", None),
        ("language", OMIT),
        ("replyParameters.bufferSeconds", True),
        ("replyParameters.bufferSeconds", 2.5),
        ("replyParameters.generatePersonality", 1),
        ("replyParameters.emojis", "OFTEN"),
    ],
)
def test_coercion_refuses(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match="valid"):
        coerce_value(field, value)


@pytest.mark.parametrize("value", [None, True, False, 5, "5", 0.5, "EN", OMIT])
def test_json_keys_read_back_as_the_same_value(value: Any) -> None:
    field = {
        bool: "testMode",
        int: "replyParameters.bufferSeconds",
        float: "replyParameters.questionFrequency",
        str: "replyParameters.bufferSeconds" if value == "5" else "additionalLanguage",
    }.get(type(value), "replyParameters.chatModel")
    if value == OMIT:
        field = "testMode"
    again = coerce_value(field, json_key(value))
    original = coerce_value(field, value)
    assert again == original or float(again) == float(original)
