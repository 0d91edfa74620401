"""What each mix field takes: its kind, valid values and range, and how a YAML value becomes one.

The mix's categorical keys come from YAML as str, int, float, bool or null; ``coerce_value``
checks one against the field and returns it as it goes on the wire (``"5"`` stays a string,
``"true"`` becomes a boolean), or raises ValueError naming the value and the valid choices.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from dumgum_loadtest.schema.enums import (
    ChatModel,
    Emojis,
    FluencyDegradation,
    IcebreakerType,
    Language,
    MeetingPolicy,
    MessageLength,
    MultipleMessagesFrequency,
    PersonaPersonality,
    ReplyTypingDelay,
    SentenceLength,
    SexualDrive,
)

# The value key that means "leave the field out of the body" (null means "send null").
OMIT = "omit"
# JSON object keys are strings: a dumped scenario spells a null value key this way.
NULL_TEXT = "null"

_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_NUMBER_TEXT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One mix field: ``kind`` is enum, bool, int, number, count, share or pause."""

    kind: str
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    nullable: bool = True  # null is a valid value (sent as null, or "not sent" for specials)
    omittable: bool = True

    def describe(self) -> str:
        """The valid values, for error messages."""
        extra = [] if not self.nullable else ["null"]
        if self.omittable:
            extra.append(OMIT)
        if self.kind == "enum":
            valid = ", ".join([*self.choices, *extra])
        elif self.kind == "bool":
            valid = ", ".join(["true", "false", *extra])
        else:
            kind = {"int": "an integer", "pause": "an integer", "count": "an integer"}.get(
                self.kind, "a number"
            )
            high = "" if self.high is None else f" and <= {_fmt(self.high)}"
            valid = f"{kind} >= {_fmt(self.low or 0)}{high}"
            if self.kind in ("int", "number"):
                valid += " (or the same as a numeric string)"
            if extra:
                valid += f", or {', '.join(extra)}"
        return valid


def _fmt(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def _enum(enum: type[StrEnum], *, nullable: bool = True, omittable: bool = True) -> FieldSpec:
    return FieldSpec("enum", tuple(item.value for item in enum), None, None, nullable, omittable)


_BOOL = FieldSpec("bool")

FIELD_SPECS: dict[str, FieldSpec] = {
    "language": _enum(Language, nullable=False, omittable=False),
    "additionalLanguage": _enum(Language),  # null or omit: no additional language
    "testMode": _BOOL,
    "replyParameters.chatModel": _enum(ChatModel),
    "replyParameters.bufferSeconds": FieldSpec("int", low=0, high=180),
    "replyParameters.maxProcessingTimeSeconds": FieldSpec("int", low=300, high=86400),
    "replyParameters.enableSexualTextContent": _BOOL,
    "replyParameters.fixedResponseLength": _BOOL,
    "replyParameters.sentenceLength": _enum(SentenceLength),
    "replyParameters.messageLength": _enum(MessageLength),
    "replyParameters.personaPersonality": _enum(PersonaPersonality),
    "replyParameters.generatePersonality": _BOOL,
    "replyParameters.shareablePictures": FieldSpec("count", low=0, high=128),
    "replyParameters.shareablePictureCaptioned": FieldSpec("share", low=0, high=1),
    "replyParameters.profileDistance": FieldSpec("int", low=0),
    "replyParameters.emojis": _enum(Emojis),
    "replyParameters.fluencyDegradation": _enum(FluencyDegradation),
    "replyParameters.multipleMessagesPerReply": _BOOL,
    "replyParameters.multipleMessagesPerReplyFrequency": _enum(MultipleMessagesFrequency),
    "replyParameters.questionFrequency": FieldSpec("number", low=0, high=1),
    "replyParameters.replyTypingDelay": _enum(ReplyTypingDelay),
    "replyParameters.icebreakerType": _enum(IcebreakerType),
    "replyParameters.disableSafetyFeatures": _BOOL,
    "replyParameters.guardrails.maliciousContent": _BOOL,
    "replyParameters.guardrails.aiSuspicion": _BOOL,
    "replyParameters.guardrails.underageDetection": _BOOL,
    "replyParameters.guardrails.unknownLanguage": _BOOL,
    "replyParameters.guardrails.messageRepetition": _BOOL,
    "replyParameters.guardrails.prohibitedIllegalContent": _BOOL,
    "replyParameters.guardrails.dangerousDrugUse": _BOOL,
    "replyParameters.preventAggressiveTone": _BOOL,
    "replyParameters.personaProfileOverrides.sexualDrive": _enum(SexualDrive),
    "replyParameters.vision.userProfilePictureAnalysis": _BOOL,
    "replyParameters.vision.personaProfilePictureAnalysis": _BOOL,
    "replyParameters.vision.sharedPicturesAnalysis": _BOOL,
    "replyParameters.vision.shareablePicturesAnalysis": _BOOL,
    "replyParameters.action.pauseConversation.duration": FieldSpec("pause", low=1, high=43200),
    "replyParameters.postProcessing.greekRewrite": _BOOL,
    "replyParameters.meetingPolicy": _enum(MeetingPolicy),
    "replyParameters.fictionalDisclosure": _BOOL,
}


def json_key(value: Any) -> str:
    """A value key as a JSON object key that ``coerce_value`` reads back as the same value.

    Numbers become their text, which the API accepts in place of the number.
    """
    if value is None:
        return NULL_TEXT
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def coerce_value(field: str, value: Any) -> Any:
    """``value`` as the body carries it (OMIT: not sent); ValueError if the field refuses it."""
    spec = FIELD_SPECS[field]
    if value == OMIT and isinstance(value, str) and spec.omittable:
        return OMIT
    if (value is None or value == NULL_TEXT) and spec.nullable:
        return None
    coerced = _coerce(spec, value)
    if coerced is _INVALID:
        raise ValueError(f"{field}: {value!r} is not valid; valid: {spec.describe()}")
    return coerced


_INVALID = object()


def _coerce(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "enum":
        return value if isinstance(value, str) and value in spec.choices else _INVALID
    if spec.kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return _INVALID
    if isinstance(value, bool):  # bool is an int subclass: never a number here
        return _INVALID
    number: float
    if isinstance(value, int | float) or (isinstance(value, str) and _NUMBER_TEXT.match(value)):
        number = float(value)
    else:
        return _INVALID
    if math.isnan(number) or (spec.low is not None and number < spec.low):
        return _INVALID
    if spec.high is not None and number > spec.high:
        return _INVALID
    if spec.kind in ("int", "pause"):
        if isinstance(value, str):  # the API takes numeric strings; keep the string form
            return value if _INT_TEXT.match(value) else _INVALID
        return int(number) if number.is_integer() else _INVALID
    if spec.kind == "count":
        return int(number) if number.is_integer() else _INVALID
    if spec.kind == "share":
        return number
    return value if isinstance(value, str) else number  # number: keep a numeric string as sent
