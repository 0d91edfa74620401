"""Webhook events DumGum pushes to the customer (incoming content and memory endpoints).

``projectId`` sits both in ``data`` and inside ``answer`` because the docs disagree on where
it lives (dumgum-api.md §7.2); consumers tolerant of either variant then work.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from dumgum_loadtest.schema.enums import (
    AnswerType,
    ImageRejectionReason,
    MemoryTarget,
    ReplyMode,
    StopReason,
)

COST_PATTERN = r"^[0-9]+\.[0-9]{1,4}$"


class _Event(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ContentCreationAnswer(_Event):
    id: str = Field(pattern=r"^answer_")
    projectId: str | None = None
    userProfileId: str
    personaProfileId: str
    type: AnswerType
    replyMode: ReplyMode | None = None
    text: str | None = None
    pictureUrl: str | None = None
    tags: dict[str, JsonValue]
    cost: str = Field(pattern=COST_PATTERN, description="Decimal string, e.g. 0.0250 (EUR).")
    responseTime: int = Field(ge=0, description="Seconds.")
    sequenceNumber: int = Field(default=0, ge=0, description="> 0 for follow-up messages.")
    parentAnswerId: str | None = None
    createdAt: str
    conversationStopReason: StopReason | None = None
    conversationStoppedUntil: str | None = None


class AnswerProcessingData(_Event):
    projectId: str
    userProfileId: str
    personaProfileId: str
    replyMode: ReplyMode | None = None
    tags: dict[str, JsonValue] | None = None


class AnswerCreatedData(_Event):
    projectId: str
    answer: ContentCreationAnswer


class ConversationDroppedData(_Event):
    projectId: str
    userProfileId: str
    personaProfileId: str
    tags: dict[str, JsonValue]
    replyMode: ReplyMode | None = None


class ChatImageRejectedData(_Event):
    projectId: str
    sourceProfileId: str
    pictureUrl: str
    reason: ImageRejectionReason


class Memory(_Event):
    uniqueIdentifier: str
    target: MemoryTarget
    category: str
    description: str
    eventStartDate: str | None = None
    eventEndDate: str | None = None
    sourceText: str | None = None
    timestamp: str
    tags: list[str] = Field(default_factory=list, max_length=10)


class DeletedMemory(_Event):
    uniqueIdentifier: str
    reason: str


class MemoryUpdatedData(_Event):
    userProfileId: str
    personaProfileId: str
    memories: list[Memory]


class MemoryChangedData(_Event):
    userProfileId: str
    personaProfileId: str
    added: list[Memory]
    deleted: list[DeletedMemory]


class AnswerProcessingEvent(_Event):
    event: Literal["answer.processing"]
    data: AnswerProcessingData


class AnswerCreatedEvent(_Event):
    event: Literal["answer.created"]
    data: AnswerCreatedData


class ConversationDroppedEvent(_Event):
    event: Literal["conversation.dropped"]
    data: ConversationDroppedData


class ChatImageRejectedEvent(_Event):
    event: Literal["chat.image.rejected"]
    data: ChatImageRejectedData


class MemoryUpdatedEvent(_Event):
    event: Literal["memory.updated"]
    data: MemoryUpdatedData


class MemoryChangedEvent(_Event):
    event: Literal["memory.changed"]
    data: MemoryChangedData


WebhookEvent = Annotated[
    AnswerProcessingEvent
    | AnswerCreatedEvent
    | ConversationDroppedEvent
    | ChatImageRejectedEvent
    | MemoryUpdatedEvent
    | MemoryChangedEvent,
    Field(discriminator="event"),
]
