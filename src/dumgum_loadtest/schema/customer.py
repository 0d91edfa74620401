"""Payloads of the endpoints the customer hosts and DumGum calls: profile and chat history.

Field names are spelled exactly as DumGum spells them (dumgum-api.md §4.2, §4.3), so
``model_dump(mode="json")`` is the wire format with no alias mapping.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Gender(StrEnum):
    WOMAN = "WOMAN"
    MAN = "MAN"
    TRANS_MAN = "TRANS_MAN"
    TRANSMASCULINE = "TRANSMASCULINE"
    TRANS_WOMAN = "TRANS_WOMAN"
    TRANSFEMININE = "TRANSFEMININE"


class Sender(StrEnum):
    USER = "USER"
    PERSONA = "PERSONA"


class MessageType(StrEnum):
    """Chat-history message types; ``PICTURE`` is assumed (the docs name none for pictures)."""

    TEXT = "TEXT"
    ACTION_POKE = "ACTION_POKE"
    PICTURE = "PICTURE"


class ProfileFeatures(BaseModel):
    """Optional descriptive features; open because DumGum's full enum lists are unknown (§4.2)."""

    model_config = ConfigDict(extra="allow")

    ethnicity: str | None = None
    height: int | None = Field(default=None, description="Centimetres (METRIC) or inches.")
    weight: int | None = Field(default=None, description="Kilograms (METRIC) or pounds.")
    eyesColor: str | None = None
    hairColor: str | None = None
    hairLength: str | None = None
    maritalStatus: str | None = None
    job: str | None = None
    working: bool | None = None
    sexualOrientation: str | None = None
    childrenCount: int | None = None
    wantsChildren: str | None = None
    surgeryStatus: str | None = None
    unitSystem: str | None = None
    livingWith: str | None = None
    education: str | None = None
    religion: str | None = None
    smoking: str | None = None
    bodyShape: str | None = None
    interests: list[str] | None = None
    bdsmInterests: list[str] | None = None
    sexualInterests: list[str] | None = None
    lookingFor: list[str] | None = None
    sports: list[str] | None = None
    musicGenres: list[str] | None = None


class Child(BaseModel):
    name: str | None = None
    gender: str | None = None
    age: int | None = None


class Pet(BaseModel):
    name: str | None = None
    sex: str | None = None
    age: int | None = None
    breed: str | None = None
    type: str | None = None


class Profile(BaseModel):
    """DumGum's ``Profile``: the union of the documented snapshots (§4.2)."""

    id: str = Field(min_length=1, description="Must equal the profileId requested.")
    gender: Gender
    version: str = Field(description="Compared with DumGum's copy; any change means refresh.")
    firstName: str | None = None
    nickname: str | None = None
    description: str | None = None
    birthdate: date | None = Field(default=None, description="YYYY-MM-DD")
    countryCode: str | None = Field(default=None, description="ISO 3166-1 alpha-2, e.g. FR.")
    city: str | None = None
    postalCode: str | None = None
    timeZone: str | None = Field(
        default=None, description="IANA name; without it DumGum assumes UTC for the persona."
    )
    features: ProfileFeatures | None = None
    personality: str | None = None
    mainPictureUrl: str | None = None
    mainPictureChecksum: str | None = None
    pictures: list[str] | None = None
    privatePictures: list[str] | None = None
    expiresAt: datetime | None = None
    children: list[Child] | None = None
    pets: list[Pet] | None = None

    @model_validator(mode="after")
    def _has_a_name(self) -> Profile:
        # The docs' sentence is cut off, but it requires a firstName or a nickname.
        if not self.firstName and not self.nickname:
            raise ValueError(f"profile {self.id!r} needs a firstName or a nickname")
        return self


class ProfileResponse(BaseModel):
    """Body of ``GET <profile endpoint>?profileId=…``."""

    profile: Profile


class ChatMessage(BaseModel):
    """One chat-history message, the newer documented shape (``type`` instead of ``poke``)."""

    id: str
    sender: Sender
    type: MessageType
    date: datetime
    text: str | None = Field(default=None, description="null for pokes.")
    pictureUrls: list[str] | None = None


class ChatHistoryResponse(BaseModel):
    """Body of ``GET <chat-history endpoint>?userProfileId=…&personaProfileId=…``."""

    messages: list[ChatMessage]


__all__ = [
    "ChatHistoryResponse",
    "ChatMessage",
    "Child",
    "Gender",
    "MessageType",
    "Pet",
    "Profile",
    "ProfileFeatures",
    "ProfileResponse",
    "Sender",
]
