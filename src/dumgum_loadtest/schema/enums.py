"""Every enumeration of the enqueue reference and the webhook events, as DumGum spells it."""

from __future__ import annotations

from enum import StrEnum


class Language(StrEnum):
    """The 39 reply languages of the enqueue reference, in its order."""

    EN = "EN"
    EN_GB = "EN_GB"
    FR = "FR"
    FR_BE = "FR_BE"
    RO = "RO"
    NL = "NL"
    ES = "ES"
    DE = "DE"
    DE_CH = "DE_CH"
    DE_AT = "DE_AT"
    IT = "IT"
    ES_LATAM = "ES_LATAM"
    BG = "BG"
    HE = "HE"
    JA = "JA"
    NL_BE = "NL_BE"
    EN_AU = "EN_AU"
    PT_PT = "PT_PT"
    PT_BR = "PT_BR"
    SV_SE = "SV_SE"
    DA_DK = "DA_DK"
    FI_FI = "FI_FI"
    PL_PL = "PL_PL"
    LT_LT = "LT_LT"
    NB_NO = "NB_NO"
    NN_NO = "NN_NO"
    SL_SI = "SL_SI"
    HU = "HU"
    HU_HU = "HU_HU"
    CS_CZ = "CS_CZ"
    EL_GR = "EL_GR"
    HR_HR = "HR_HR"
    TR_TR = "TR_TR"
    EN_IE = "EN_IE"
    AF_ZA = "AF_ZA"
    ZU_ZA = "ZU_ZA"
    LV_LV = "LV_LV"
    SK_SK = "SK_SK"
    GA_IE = "GA_IE"


class ChatModel(StrEnum):
    DATING_SMART_1 = "dating-smart-1"
    DATING_PRO_1 = "dating-pro-1"
    CHAT_2_SMART = "chat-2-smart"
    CHAT_2_PRO = "chat-2-pro"

    @property
    def supports_vision(self) -> bool:
        """Vision and picture sharing: chat-2 models only (reference capability tables)."""
        return self in (ChatModel.CHAT_2_SMART, ChatModel.CHAT_2_PRO)


class SentenceLength(StrEnum):
    SHORT = "SHORT"
    REGULAR = "REGULAR"
    LONG = "LONG"


class MessageLength(StrEnum):
    SHORT = "SHORT"
    REGULAR = "REGULAR"
    LONG = "LONG"
    VERY_LONG = "VERY_LONG"


class PersonaPersonality(StrEnum):
    SUPPORTIVE = "SUPPORTIVE"
    TEASING = "TEASING"
    CONFIDENT = "CONFIDENT"
    GEEKY = "GEEKY"
    POETIC = "POETIC"
    HIGH_ENERGY = "HIGH_ENERGY"
    INTELLECTUAL = "INTELLECTUAL"
    ROMANTIC = "ROMANTIC"
    SARCASTIC = "SARCASTIC"
    POSSESSIVE = "POSSESSIVE"
    NATURAL = "NATURAL"
    APPRECIATIVE = "APPRECIATIVE"
    PASSIONNATE = "PASSIONNATE"  # sic: the reference's spelling


class Emojis(StrEnum):
    FREQUENT = "FREQUENT"
    SOMETIMES = "SOMETIMES"
    RARELY = "RARELY"
    NEVER = "NEVER"


class FluencyDegradation(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    NONE = "NONE"


class MultipleMessagesFrequency(StrEnum):
    VERY_FREQUENT = "VERY_FREQUENT"
    FREQUENT = "FREQUENT"
    OCCASIONAL = "OCCASIONAL"
    RARE = "RARE"


class ReplyTypingDelay(StrEnum):
    INSTANT = "INSTANT"
    FAST = "FAST"
    NORMAL = "NORMAL"


class IcebreakerType(StrEnum):
    AUTO = "AUTO"
    NO_PHOTO = "NO_PHOTO"
    MISSING_DETAIL = "MISSING_DETAIL"
    MUCH_YOUNGER = "MUCH_YOUNGER"
    MUCH_OLDER = "MUCH_OLDER"
    NEARBY = "NEARBY"
    GENERIC = "GENERIC"
    USER_ONLINE = "USER_ONLINE"
    USER_OFFLINE = "USER_OFFLINE"
    JUST_JOINED = "JUST_JOINED"
    EROTIC = "EROTIC"
    PHOTO_COMMENT = "PHOTO_COMMENT"


class Engage(StrEnum):
    AUTO = "AUTO"
    ICEBREAKER = "ICEBREAKER"
    NUDGE = "NUDGE"
    REVIVE = "REVIVE"


class SexualDrive(StrEnum):
    VERY_HIGH = "VERY_HIGH"
    HIGH = "HIGH"
    NORMAL = "NORMAL"
    LOW = "LOW"
    NONE = "NONE"


class ActionType(StrEnum):
    PAUSE_CONVERSATION = "PAUSE_CONVERSATION"


class MeetingPolicy(StrEnum):
    DEFAULT_MODE = "DEFAULT_MODE"
    DEFERRED_MEETING = "DEFERRED_MEETING"
    CHAT_ONLY = "CHAT_ONLY"


class EventType(StrEnum):
    ANSWER_PROCESSING = "answer.processing"
    ANSWER_CREATED = "answer.created"
    CONVERSATION_DROPPED = "conversation.dropped"
    CHAT_IMAGE_REJECTED = "chat.image.rejected"
    MEMORY_UPDATED = "memory.updated"
    MEMORY_CHANGED = "memory.changed"


class AnswerType(StrEnum):
    TEXT = "TEXT"
    ACTION_POKE = "ACTION_POKE"


class ReplyMode(StrEnum):
    AI = "AI"
    HUMAN = "HUMAN"


class StopReason(StrEnum):
    """``conversationStopReason``; both spellings of the AI-suspicion reason are documented."""

    USER_UNDERAGE = "USER_UNDERAGE"
    USER_SUSPICIOUS = "USER_SUSPICIOUS"
    MALICIOUS_CONTENT = "MALICIOUS_CONTENT"
    USER_MESSAGE_REPETITION = "USER_MESSAGE_REPETITION"
    UNKNOWN_LANGUAGE = "UNKNOWN_LANGUAGE"
    USER_HOSTILE = "USER_HOSTILE"
    AI_SUSPICION = "AI_SUSPICION"
    AI_SUSPICIOUS = "AI_SUSPICIOUS"

    @property
    def is_permanent(self) -> bool:
        """Underage, hijack attempts and malicious content end a conversation for good."""
        return self in PERMANENT_STOP_REASONS


PERMANENT_STOP_REASONS = frozenset(
    {StopReason.USER_UNDERAGE, StopReason.USER_SUSPICIOUS, StopReason.MALICIOUS_CONTENT}
)


class ImageRejectionReason(StrEnum):
    VIOLENT_CONTENT = "VIOLENT_CONTENT"
    SELF_HARM = "SELF_HARM"
    ILLEGAL_CONTENT = "ILLEGAL_CONTENT"


class MemoryTarget(StrEnum):
    USER = "USER"
    PERSONA = "PERSONA"
