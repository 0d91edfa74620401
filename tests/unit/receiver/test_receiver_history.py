"""Chat history: sorted, deduplicated, bounded, and delta-served after lastMessageDate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dumgum_loadtest.clock import now_ns, ns_from_iso
from dumgum_loadtest.receiver.history import ChatHistoryStore, UserMessage, answer_entry
from dumgum_loadtest.schema.customer import ChatHistoryResponse

PAIR = ("user_1", "persona_1")


def answer(answer_id: str, created_at: str | None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": answer_id,
        "userProfileId": PAIR[0],
        "personaProfileId": PAIR[1],
        "type": "TEXT",
        "text": f"text of {answer_id}",
        **extra,
    }
    if created_at is not None:
        body["createdAt"] = created_at
    return body


def user_message(text: str, date: str, **extra: Any) -> UserMessage:
    return UserMessage.model_validate(
        {"userProfileId": PAIR[0], "personaProfileId": PAIR[1], "text": text, "date": date, **extra}
    )


@pytest.fixture
def store() -> ChatHistoryStore:
    return ChatHistoryStore(max_messages_per_pair=50, max_pairs=100)


def test_messages_are_sorted_by_date_whatever_the_arrival_order(store: ChatHistoryStore) -> None:
    store.add_answer(answer("answer_b", "2025-01-01T00:00:02.000Z"), fallback_ns=0)
    store.add_user_message(user_message("hi", "2025-01-01T00:00:01Z", id="msg_a"))
    store.add_answer(answer("answer_c", "2025-01-01T00:00:03.500Z"), fallback_ns=0)
    messages = store.messages(PAIR)
    assert [m["id"] for m in messages] == ["msg_a", "answer_b", "answer_c"]
    assert [m["sender"] for m in messages] == ["USER", "PERSONA", "PERSONA"]
    assert messages[2]["date"] == "2025-01-01T00:00:03.500Z"
    ChatHistoryResponse.model_validate({"messages": messages})


def test_last_message_date_returns_only_strictly_newer(store: ChatHistoryStore) -> None:
    for n in range(1, 4):
        store.add_answer(answer(f"answer_{n}", f"2025-01-01T00:00:0{n}.250Z"), fallback_ns=0)
    after = ns_from_iso("2025-01-01T00:00:02.250Z")
    assert [m["id"] for m in store.messages(PAIR, after)] == ["answer_3"]
    assert store.messages(PAIR, ns_from_iso("2025-01-01T00:00:03.250Z")) == []
    assert len(store.messages(PAIR, ns_from_iso("2024-12-31T23:59:59Z"))) == 3


def test_sub_millisecond_dates_are_not_served_twice(store: ChatHistoryStore) -> None:
    # The date goes out with millisecond precision; reading it back must exclude the message.
    date = datetime(2025, 1, 1, 0, 0, 1, 123_456, tzinfo=UTC)
    store.add_user_message(user_message("hi", date.isoformat()))
    (sent,) = store.messages(PAIR)
    assert sent["date"] == "2025-01-01T00:00:01.123Z"
    assert store.messages(PAIR, ns_from_iso(sent["date"])) == []


def test_duplicate_deliveries_are_ignored(store: ChatHistoryStore) -> None:
    first = answer("answer_1", "2025-01-01T00:00:01Z")
    assert store.add_answer(first, fallback_ns=0)
    assert not store.add_answer(first, fallback_ns=0)
    assert not store.add_answer({**first, "text": "redelivered"}, fallback_ns=0)
    assert [m["text"] for m in store.messages(PAIR)] == ["text of answer_1"]
    assert store.duplicates == 2


def test_each_pair_keeps_its_newest_messages() -> None:
    store = ChatHistoryStore(max_messages_per_pair=3, max_pairs=10)
    for n in range(6):
        store.add_answer(answer(f"answer_{n}", f"2025-01-01T00:00:0{n}Z"), fallback_ns=0)
    assert [m["id"] for m in store.messages(PAIR)] == ["answer_3", "answer_4", "answer_5"]
    # An old message arriving late does not push out newer ones.
    store.add_answer(answer("answer_old", "2024-01-01T00:00:00Z"), fallback_ns=0)
    assert [m["id"] for m in store.messages(PAIR)] == ["answer_3", "answer_4", "answer_5"]


def test_least_recently_used_pair_is_evicted() -> None:
    store = ChatHistoryStore(max_messages_per_pair=5, max_pairs=2)
    for user in ("a", "b"):
        store.add_user_message(
            UserMessage(userProfileId=user, personaProfileId="p", text=f"from {user}")
        )
    assert store.messages(("a", "p"))  # reading "a" makes "b" the least recently used
    store.add_user_message(UserMessage(userProfileId="c", personaProfileId="p", text="from c"))
    assert store.pairs == 2
    assert store.evicted_pairs == 1
    assert store.messages(("b", "p")) == []
    assert [m["text"] for m in store.messages(("a", "p"))] == ["from a"]


def test_answer_dates_are_sent_in_dumgum_format(store: ChatHistoryStore) -> None:
    store.add_answer(answer("answer_1", "2025-01-01T01:00:00.5+01:00"), fallback_ns=0)
    store.add_answer(answer("answer_2", "2025-01-01T00:00:01Z"), fallback_ns=0)
    store.add_answer(answer("answer_3", "2025-01-01T00:00:02.999Z"), fallback_ns=0)
    assert [m["date"] for m in store.messages(PAIR)] == [
        "2025-01-01T00:00:00.500Z",
        "2025-01-01T00:00:01.000Z",
        "2025-01-01T00:00:02.999Z",
    ]


def test_answer_fields_become_a_chat_message(store: ChatHistoryStore) -> None:
    store.add_answer(
        answer("answer_poke", "2025-01-01T00:00:01Z", type="ACTION_POKE", text=None),
        fallback_ns=0,
    )
    store.add_answer(
        answer("answer_pic", "2025-01-01T00:00:02Z", pictureUrl="https://x.invalid/1.jpg"),
        fallback_ns=0,
    )
    poke, picture = store.messages(PAIR)
    assert poke == {
        "id": "answer_poke",
        "sender": "PERSONA",
        "type": "ACTION_POKE",
        "date": "2025-01-01T00:00:01.000Z",
        "text": None,
    }
    assert picture["pictureUrls"] == ["https://x.invalid/1.jpg"]


def test_answer_without_a_readable_date_is_dated_on_receipt(store: ChatHistoryStore) -> None:
    received_ns = ns_from_iso("2025-06-01T12:00:00.042Z")
    store.add_answer(answer("answer_1", None), fallback_ns=received_ns)
    store.add_answer(answer("answer_2", "yesterday"), fallback_ns=received_ns)
    store.add_answer(answer("answer_3", "2025-13-01T00:00:00.000Z"), fallback_ns=received_ns)
    assert {m["date"] for m in store.messages(PAIR)} == {"2025-06-01T12:00:00.042Z"}


@pytest.mark.parametrize("missing", ["id", "userProfileId", "personaProfileId"])
def test_answer_without_ids_is_skipped(store: ChatHistoryStore, missing: str) -> None:
    body = answer("answer_1", "2025-01-01T00:00:01Z")
    del body[missing]
    assert not store.add_answer(body, fallback_ns=0)
    assert store.pairs == 0


def test_user_message_defaults(store: ChatHistoryStore) -> None:
    before_ns = now_ns()
    message_id = store.add_user_message(
        UserMessage(userProfileId=PAIR[0], personaProfileId=PAIR[1], text="hello")
    )
    (message,) = store.messages(PAIR)
    assert message_id.startswith("msg_")
    assert message["id"] == message_id
    assert message["type"] == "TEXT"
    assert before_ns - 1_000_000 < ns_from_iso(message["date"]) <= now_ns()


def test_unknown_pair_has_no_messages(store: ChatHistoryStore) -> None:
    assert store.messages(("nobody", "nothing")) == []
    assert store.pairs == 0


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pairs=0"):
        ChatHistoryStore(max_messages_per_pair=1, max_pairs=0)


@pytest.mark.parametrize(
    "created_at",
    ["2025-01-01T00:00:02.999Z", "2024-02-29T23:59:59.000Z", "1999-12-31T23:59:59.001Z"],
)
def test_the_mocks_date_form_is_read_exactly_and_kept_as_sent(created_at: str) -> None:
    entry = answer_entry(answer("answer_1", created_at), fallback_ns=0)
    assert entry is not None
    exact = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    assert entry.date_ns == int(exact.timestamp()) * 10**9 + exact.microsecond * 1000
    assert entry.payload["date"] == created_at
