"""Builders for the cost tests: request records, webhook events and a price sheet per model."""

from __future__ import annotations

import datetime as dt
from dataclasses import fields
from decimal import Decimal
from typing import Any

import pandas as pd

from dumgum_loadtest.analysis.load import CALL_COLUMNS, EVENT_COLUMNS, RawRecords
from dumgum_loadtest.analysis.outcomes import classify
from dumgum_loadtest.cost import PriceSheet
from dumgum_loadtest.records import SENT, RequestRecord
from dumgum_loadtest.schema.enums import ChatModel

S = 1_000_000_000


def example_sheet() -> PriceSheet:
    """Distinct prices per model, so a wrong attribution changes the total."""
    prices = {
        ChatModel.DATING_SMART_1: Decimal("0.025"),
        ChatModel.DATING_PRO_1: Decimal("0.04"),
        ChatModel.CHAT_2_SMART: Decimal("0.05"),
        ChatModel.CHAT_2_PRO: Decimal("0.06"),
    }
    return PriceSheet(
        currency="EUR",
        valid_from=dt.date(2025, 1, 1),
        reply_per_model=prices,
        vision_per_picture=Decimal("0.015"),
        soulengine_per_persona=Decimal("0.10"),
        placeholders=(
            *(f"reply_per_model.{m.value}" for m in ChatModel),
            "soulengine_per_persona",
        ),
        source="example sheet",
    )


def request(
    request_id: str,
    sent_s: float,
    conversation: str,
    user: str,
    persona: str,
    model: str,
    **extra: Any,
) -> dict[str, Any]:
    """An accepted request record (204) with every feature off unless given."""
    record: dict[str, Any] = {f.name: None for f in fields(RequestRecord)}
    record.update(
        run_id="run",
        request_id=request_id,
        worker="0",
        conversation_id=conversation,
        turn=0,
        burst_index=0,
        burst_size=1,
        user_id=user,
        persona_id=persona,
        intended_ns=int(sent_s * S),
        sent_ns=int(sent_s * S),
        response_ns=int(sent_s * S) + 1000,
        status=204,
        send_state=SENT,
        chat_model=model,
        language="EN",
        test_mode=False,
        buffer_s=5,
        max_processing_s=300,
        generate_personality=False,
        vision=False,
        shareable_pictures=0,
        multiple_messages=False,
        typing_delay="INSTANT",
        engage=None,
        pause=False,
        invalid=False,
    )
    record.update(extra)
    return record


def event(kind: str, tag: str, recv_s: float, **extra: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    row.update(event=kind, tag_request=tag, tag_run="run", recv_ns=int(recv_s * S))
    row.update(extra)
    return row


def answer(
    answer_id: str,
    tag: str,
    recv_s: float,
    cost: str,
    sequence: int = 0,
    parent: str | None = None,
) -> dict[str, Any]:
    return event(
        "answer.created",
        tag,
        recv_s,
        answer_id=answer_id,
        cost=cost,
        sequence_number=sequence,
        parent_answer_id=parent,
    )


def raw_records(requests: list[dict[str, Any]], events: list[dict[str, Any]]) -> RawRecords:
    frame = pd.DataFrame(requests)
    for column in ("status", "sent_ns", "intended_ns", "response_ns"):
        frame[column] = frame[column].astype("Int64")
    events_frame = pd.DataFrame(events, columns=list(EVENT_COLUMNS))
    events_frame["recv_ns"] = events_frame["recv_ns"].astype("Int64")
    calls = pd.DataFrame(columns=list(CALL_COLUMNS))
    return RawRecords(frame, events_frame, calls, 0)


def outcomes_of(raw: RawRecords, time_scale: float = 1.0) -> pd.Series:
    return classify(raw.requests, raw.events, time_scale)
