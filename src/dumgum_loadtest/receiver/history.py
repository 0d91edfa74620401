"""Per-conversation chat history, as the customer would keep it, bounded in memory.

Persona messages come from ``answer.created`` events, user messages from the load generator
(through the receiver's control endpoint). DumGum reads them back on every enqueue.
"""

from __future__ import annotations

import bisect
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from dumgum_loadtest.clock import iso_from_ns, now_ns, ns_from_iso
from dumgum_loadtest.schema.customer import MessageType, Sender

_NS_PER_MS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Pair = tuple[str, str]
"""(userProfileId, personaProfileId): one conversation."""


class UserMessage(BaseModel):
    """A user message the load generator registers before it enqueues the conversation."""

    model_config = ConfigDict(extra="forbid")

    userProfileId: str = Field(min_length=1)
    personaProfileId: str = Field(min_length=1)
    text: str | None = None
    id: str | None = Field(default=None, min_length=1, description="Generated when absent.")
    date: datetime | None = Field(default=None, description="Receive time when absent.")
    type: MessageType = MessageType.TEXT
    pictureUrls: list[str] | None = None


def _to_ms_ns(epoch_ns: int) -> int:
    # Dates leave as milliseconds (DumGum's format) and come back as lastMessageDate: keeping
    # them at that precision makes "strictly newer" exact, so nothing is sent twice.
    return epoch_ns - epoch_ns % _NS_PER_MS


def _is_canonical_date(text: str) -> bool:
    """True for ``2023-11-07T05:31:56.123Z``, exactly what iso_from_ns writes: kept as sent.

    Formatting a date costs more than the rest of recording an answer, and the mock sends
    this form already.
    """
    return len(text) == 24 and text[19] == "." and text[23] == "Z" and text[10] == "T"


_PERSONA = Sender.PERSONA.value
_TEXT = MessageType.TEXT.value
_MAX_CACHED_SECONDS = 4096
_epoch_s_of_second: dict[str, int] = {}
"""``2023-11-07T05:31:56`` → its epoch second: answers arrive dated within a few seconds of
each other, so parsing each second once saves most of a date's cost."""


def _canonical_date_ns(text: str) -> int | None:
    """Epoch ns of a date in ``iso_from_ns``'s exact form (integer arithmetic, so exact to the
    millisecond); None for any other form."""
    if not _is_canonical_date(text):
        return None
    milliseconds = text[20:23]
    if not milliseconds.isdigit():
        return None
    second = text[:19]
    epoch_s = _epoch_s_of_second.get(second)
    if epoch_s is None:
        try:
            moment = datetime.fromisoformat(second).replace(tzinfo=UTC)
        except ValueError:
            return None
        epoch_s = (moment - _EPOCH) // timedelta(seconds=1)
        if len(_epoch_s_of_second) >= _MAX_CACHED_SECONDS:
            _epoch_s_of_second.clear()
        _epoch_s_of_second[second] = epoch_s
    return (epoch_s * 1000 + int(milliseconds)) * _NS_PER_MS


def _ns_from_datetime(value: datetime) -> int:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    # Integer arithmetic: a float timestamp could land a microsecond early.
    return (value - _EPOCH) // _MICROSECOND * 1000


class HistoryEntry(NamedTuple):
    """One chat message as every history store takes it: where, which, when, what to send."""

    pair: Pair
    message_id: str
    date_ns: int  # whole milliseconds, as sent
    payload: dict[str, Any]  # the ChatMessage JSON shape


def user_message_entry(message: UserMessage) -> HistoryEntry:
    """The entry of a registered user message; its id is generated when it has none."""
    message_id = message.id or f"msg_{uuid.uuid4().hex}"
    date_ns = _to_ms_ns(now_ns() if message.date is None else _ns_from_datetime(message.date))
    payload: dict[str, Any] = {
        "id": message_id,
        "sender": Sender.USER.value,
        "type": message.type.value,
        "date": iso_from_ns(date_ns),
        "text": message.text,
    }
    if message.pictureUrls:
        payload["pictureUrls"] = message.pictureUrls
    return HistoryEntry(
        (message.userProfileId, message.personaProfileId), message_id, date_ns, payload
    )


def answer_entry(answer: Mapping[str, Any], fallback_ns: int) -> HistoryEntry | None:
    """The persona message of an ``answer.created`` event's ``data.answer``.

    Tolerant on purpose: an answer without ids gives None (the event is recorded anyway),
    and one without a readable ``createdAt`` is dated ``fallback_ns`` (its receive time).
    """
    message_id = answer.get("id")
    user_id = answer.get("userProfileId")
    persona_id = answer.get("personaProfileId")
    if not (isinstance(message_id, str) and isinstance(user_id, str)):
        return None
    if not isinstance(persona_id, str):
        return None
    created_at = answer.get("createdAt")
    date_ns, date_text = fallback_ns, None
    if isinstance(created_at, str):
        canonical_ns = _canonical_date_ns(created_at)
        if canonical_ns is not None:  # the mock's form: kept as sent
            date_ns, date_text = canonical_ns, created_at
        else:
            with contextlib.suppress(ValueError):
                date_ns = ns_from_iso(created_at)
    date_ns = _to_ms_ns(date_ns)
    kind = answer.get("type")
    payload: dict[str, Any] = {
        "id": message_id,
        "sender": _PERSONA,
        "type": kind if isinstance(kind, str) else _TEXT,
        "date": date_text or iso_from_ns(date_ns),
        "text": answer.get("text"),
    }
    picture_url = answer.get("pictureUrl")
    if isinstance(picture_url, str):
        payload["pictureUrls"] = [picture_url]
    return HistoryEntry((user_id, persona_id), message_id, date_ns, payload)


class _Conversation:
    """Messages of one pair sorted by date (arrival order among equal dates), ids for dedupe.

    Dates sit in their own list so ``bisect`` compares plain ints, with no key function.
    """

    __slots__ = ("dates_ns", "ids", "payloads")

    def __init__(self) -> None:
        self.dates_ns: list[int] = []
        self.payloads: list[dict[str, Any]] = []  # the ChatMessage JSON shape, ready to send
        self.ids: set[str] = set()


class ChatHistoryStore:
    """Histories of at most ``max_pairs`` pairs, each holding its newest ``max_messages_per_pair``.

    The least recently used pair (read or written) is evicted first, as a customer's cache
    would; a message id already held is ignored, because webhooks may be delivered twice.
    """

    def __init__(self, max_messages_per_pair: int, max_pairs: int) -> None:
        if max_messages_per_pair < 1 or max_pairs < 1:
            raise ValueError(
                f"max_messages_per_pair={max_messages_per_pair} and max_pairs={max_pairs}"
                " must both be at least 1"
            )
        self.max_messages_per_pair = max_messages_per_pair
        self.max_pairs = max_pairs
        self._pairs: OrderedDict[Pair, _Conversation] = OrderedDict()
        self.duplicates = 0
        self.evicted_pairs = 0

    @property
    def pairs(self) -> int:
        return len(self._pairs)

    def add(self, pair: Pair, message_id: str, date_ns: int, payload: dict[str, Any]) -> bool:
        """Insert one message; False when the pair already holds ``message_id``."""
        conversation = self._pairs.get(pair)
        if conversation is None:
            conversation = self._pairs[pair] = _Conversation()
            if len(self._pairs) > self.max_pairs:
                self._pairs.popitem(last=False)
                self.evicted_pairs += 1
        else:
            self._pairs.move_to_end(pair)
            if message_id in conversation.ids:
                self.duplicates += 1
                return False
        conversation.ids.add(message_id)
        position = bisect.bisect_right(conversation.dates_ns, date_ns)
        conversation.dates_ns.insert(position, date_ns)
        conversation.payloads.insert(position, payload)
        if len(conversation.dates_ns) > self.max_messages_per_pair:
            del conversation.dates_ns[0]
            conversation.ids.discard(conversation.payloads.pop(0)["id"])
        return True

    def add_entry(self, entry: HistoryEntry) -> bool:
        return self.add(entry.pair, entry.message_id, entry.date_ns, entry.payload)

    def add_user_message(self, message: UserMessage) -> str:
        """Register a user message; returns its id (generated when the message has none)."""
        entry = user_message_entry(message)
        self.add_entry(entry)
        return entry.message_id

    def add_answer(self, answer: Mapping[str, Any], fallback_ns: int) -> bool:
        """Record the persona message of an answer (see ``answer_entry``); False if skipped."""
        entry = answer_entry(answer, fallback_ns)
        return entry is not None and self.add_entry(entry)

    def messages(self, pair: Pair, after_ns: int | None = None) -> list[dict[str, Any]]:
        """Messages of ``pair`` sorted by date; only those strictly newer than ``after_ns``."""
        conversation = self._pairs.get(pair)
        if conversation is None:
            return []
        self._pairs.move_to_end(pair)
        if after_ns is None:
            return list(conversation.payloads)
        return conversation.payloads[bisect.bisect_right(conversation.dates_ns, after_ns) :]
