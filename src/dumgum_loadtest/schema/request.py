"""The enqueue request (``POST /cs/v1/content_creation/conversations/enqueue``), per the reference.

Every field, enum, range, length limit and default comes from ``seed/enqueue-reference.txt``.
Numeric fields take numbers and numeric strings, because the reference's own example sends
``"bufferSeconds": "5"``. Unknown fields are rejected (an assumption: it catches typos, and a
generator that sends them on purpose can count on a 422).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictStr,
    WithJsonSchema,
)
from pydantic.config import JsonDict

from dumgum_loadtest.schema.enums import (
    ActionType,
    ChatModel,
    Emojis,
    Engage,
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

DEFAULT_CHAT_MODEL = ChatModel.DATING_SMART_1
DEFAULT_BUFFER_S = 5
DEFAULT_MAX_PROCESSING_TIME_S = 300

_INT_TEXT = re.compile(r"^\s*[+-]?\d+\s*$")
_NUMBER_TEXT = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def _int_from_text(value: Any) -> Any:
    """``"5"`` → 5; anything else goes to pydantic's strict int check unchanged."""
    if isinstance(value, str) and _INT_TEXT.match(value):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _number_from_text(value: Any) -> Any:
    if isinstance(value, str) and _NUMBER_TEXT.match(value):
        return float(value)
    return value


IntOrText = Annotated[
    int,
    Field(strict=True),
    BeforeValidator(_int_from_text),
    WithJsonSchema({"anyOf": [{"type": "integer"}, {"type": "string", "pattern": r"^-?[0-9]+$"}]}),
]
QuestionFrequency = Annotated[
    float,
    Field(strict=True, ge=0, le=1),
    BeforeValidator(_number_from_text),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": 1},
                {"type": "string", "pattern": r"^(0(\.[0-9]*)?|1(\.0*)?)$"},
            ]
        }
    ),
]


def _int_or_text_schema(low: int, high: int, default: int | None = None) -> WithJsonSchema:
    number: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    schema: dict[str, Any] = {"anyOf": [number, {"type": "string", "pattern": r"^[0-9]+$"}]}
    if default is not None:
        schema["default"] = default
    return WithJsonSchema(schema)


def _bounded(low: int, high: int) -> Any:
    return Field(strict=True, ge=low, le=high)


BufferSeconds = Annotated[
    int, _bounded(0, 180), BeforeValidator(_int_from_text), _int_or_text_schema(0, 180, 5)
]
MaxProcessingTimeSeconds = Annotated[
    int, _bounded(300, 86400), BeforeValidator(_int_from_text), _int_or_text_schema(300, 86400, 300)
]
PauseDurationSeconds = Annotated[
    int, _bounded(1, 43200), BeforeValidator(_int_from_text), _int_or_text_schema(1, 43200)
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


class ShareablePicture(_Model):
    """A photo the persona may send (Smart Share); chat-2 models only."""

    id: StrictStr = Field(min_length=1, max_length=128)
    url: StrictStr = Field(min_length=1, max_length=128)
    caption: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Overrides the AI caption; with a caption the picture is never analysed.",
    )


class GuardrailOptionSet(_Model):
    answer: StrictBool | None = None
    banDurations: list[IntOrText] | None = Field(
        default=None,
        description="Ban ladder; the unit is undocumented (the mock assumes seconds).",
    )


_DEPRECATED: JsonDict = {"deprecated": True}


class Guardrails(_Model):
    """Core Guardian switches; two are deprecated in the reference but still accepted."""

    maliciousContent: StrictBool | None = None
    maliciousContentOptionSet: GuardrailOptionSet | None = None
    aiSuspicion: StrictBool | None = None
    aiSuspicionOptionSet: GuardrailOptionSet | None = None
    underageDetection: StrictBool | None = None
    underageDetectionOptionSet: GuardrailOptionSet | None = None
    unknownLanguage: StrictBool | None = None
    unknownLanguageOptionSet: GuardrailOptionSet | None = None
    messageRepetition: StrictBool | None = None
    messageRepetitionOptionSet: GuardrailOptionSet | None = None
    prohibitedIllegalContent: StrictBool | None = Field(
        default=None,
        description="[Deprecated: Is not used and will be removed in the future]",
        json_schema_extra=_DEPRECATED,
    )
    prohibitedIllegalContentOptionSet: GuardrailOptionSet | None = Field(
        default=None, description="[Deprecated]", json_schema_extra=_DEPRECATED
    )
    dangerousDrugUse: StrictBool | None = Field(
        default=None,
        description="[Deprecated: Is not used and will be removed in the future]",
        json_schema_extra=_DEPRECATED,
    )
    dangerousDrugUseOptionSet: GuardrailOptionSet | None = Field(
        default=None, description="[Deprecated]", json_schema_extra=_DEPRECATED
    )

    DEPRECATED_FIELDS: ClassVar[tuple[str, ...]] = (
        "prohibitedIllegalContent",
        "prohibitedIllegalContentOptionSet",
        "dangerousDrugUse",
        "dangerousDrugUseOptionSet",
    )


class PersonaProfileOverrides(_Model):
    sexualDrive: SexualDrive | None = None


class Vision(_Model):
    """Vision Link analyses; chat-2 models only, billed once per unique picture URL."""

    userProfilePictureAnalysis: StrictBool | None = None
    personaProfilePictureAnalysis: StrictBool | None = None
    sharedPicturesAnalysis: StrictBool | None = None
    shareablePicturesAnalysis: StrictBool | None = None

    @property
    def any_enabled(self) -> bool:
        return bool(
            self.userProfilePictureAnalysis
            or self.personaProfilePictureAnalysis
            or self.sharedPicturesAnalysis
            or self.shareablePicturesAnalysis
        )


class PauseConversation(_Model):
    duration: PauseDurationSeconds | None = Field(
        default=None, description="Pause duration in seconds (at most 12 hours)."
    )


class Action(_Model):
    type: ActionType
    pauseConversation: PauseConversation | None = None


class PostProcessing(_Model):
    greekRewrite: StrictBool | None = None


class ReplyParameters(_Model):
    """Per-request generation settings; ``None`` means "DumGum's default"."""

    chatModel: ChatModel | None = Field(
        default=None, description=f"Defaults to {DEFAULT_CHAT_MODEL.value}."
    )
    bufferSeconds: BufferSeconds | None = Field(
        default=None, description="Wait this long for more user messages before generating."
    )
    maxProcessingTimeSeconds: MaxProcessingTimeSeconds | None = Field(
        default=None, description="Past this the conversation is dropped."
    )
    enableSexualTextContent: StrictBool | None = None
    fixedResponseLength: StrictBool | None = None
    sentenceLength: SentenceLength | None = None
    messageLength: MessageLength | None = None
    personaPersonality: PersonaPersonality | None = None
    generatePersonality: StrictBool | None = Field(
        default=None, description="SoulEngine: billed once per persona."
    )
    shareablePictures: list[ShareablePicture] | None = None
    profileDistance: IntOrText | None = Field(
        default=None, description="Distance between the profiles, in kilometres or miles."
    )
    emojis: Emojis | None = None
    fluencyDegradation: FluencyDegradation | None = None
    multipleMessagesPerReply: StrictBool | None = None
    multipleMessagesPerReplyFrequency: MultipleMessagesFrequency | None = None
    questionFrequency: QuestionFrequency | None = Field(
        default=None, description="Share of messages that are questions, 0..1."
    )
    replyTypingDelay: ReplyTypingDelay | None = None
    icebreakerType: IcebreakerType | None = Field(
        default=None, description="Only with engage AUTO or ICEBREAKER."
    )
    engage: Engage | None = None
    disableSafetyFeatures: StrictBool | None = None
    guardrails: Guardrails | None = None
    preventAggressiveTone: StrictBool | None = None
    personaProfileOverrides: PersonaProfileOverrides | None = None
    vision: Vision | None = None
    action: Action | None = None
    postProcessing: PostProcessing | None = None
    meetingPolicy: MeetingPolicy | None = None
    fictionalDisclosure: StrictBool | None = Field(
        default=None,
        description="Documented in the Fictional Disclosure guide, not in the enqueue reference.",
    )

    @property
    def chat_model(self) -> ChatModel:
        return self.chatModel or DEFAULT_CHAT_MODEL

    @property
    def buffer_s(self) -> int:
        return DEFAULT_BUFFER_S if self.bufferSeconds is None else int(self.bufferSeconds)

    @property
    def max_processing_time_s(self) -> int:
        if self.maxProcessingTimeSeconds is None:
            return DEFAULT_MAX_PROCESSING_TIME_S
        return int(self.maxProcessingTimeSeconds)


_DEFAULT_REPLY_PARAMETERS = ReplyParameters()


class EnqueueRequest(_Model):
    """Represents a request to enqueue a conversation."""

    userProfileId: StrictStr = Field(min_length=1, description="The profile receiving the reply.")
    personaProfileId: StrictStr = Field(min_length=1, description="The impersonated profile.")
    language: Language
    additionalLanguages: list[Language] | None = Field(
        default=None, max_length=1, description="Only one additional language is supported."
    )
    userProfileVersion: StrictStr | None = None
    personaProfileVersion: StrictStr | None = None
    tags: dict[str, JsonValue] | None = Field(
        default=None, description="Free metadata, echoed on every event."
    )
    testMode: StrictBool | None = Field(default=None, description="A dummy answer, not charged.")
    replyParameters: ReplyParameters | None = None

    @property
    def params(self) -> ReplyParameters:
        """The reply parameters, with DumGum's defaults where the request gave none."""
        return self.replyParameters or _DEFAULT_REPLY_PARAMETERS

    @property
    def is_test_mode(self) -> bool:
        return bool(self.testMode)

    def capability_violations(self) -> list[CapabilityViolation]:
        """Valid fields that the reference says do not go together (the schema cannot say it)."""
        params = self.params
        found: list[CapabilityViolation] = []
        if params.icebreakerType is not None and params.engage not in (
            Engage.AUTO,
            Engage.ICEBREAKER,
        ):
            found.append(
                CapabilityViolation(
                    "icebreaker_without_engage",
                    "replyParameters.icebreakerType",
                    f"{params.icebreakerType.value} needs engage AUTO or ICEBREAKER,"
                    f" got engage={params.engage.value if params.engage else None}",
                )
            )
        model = params.chat_model
        if not model.supports_vision:
            if params.vision is not None and params.vision.any_enabled:
                found.append(
                    CapabilityViolation(
                        "vision_unsupported_model",
                        "replyParameters.vision",
                        f"vision works on chat-2-smart and chat-2-pro only, not {model.value}",
                    )
                )
            if params.shareablePictures:
                found.append(
                    CapabilityViolation(
                        "pictures_unsupported_model",
                        "replyParameters.shareablePictures",
                        f"picture sharing works on chat-2-smart and chat-2-pro only,"
                        f" not {model.value}",
                    )
                )
        return found


@dataclass(frozen=True, slots=True)
class CapabilityViolation:
    """A combination the reference rules out; ``rule`` names it in the mock's config."""

    rule: str
    field: str
    problem: str
