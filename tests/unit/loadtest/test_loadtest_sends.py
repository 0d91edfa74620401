"""A request record is exactly a RequestRecord (the contract with the analysis)."""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import orjson

from dumgum_loadtest.loadtest.sends import PreparedSend, request_record
from dumgum_loadtest.records import NOT_SENT, SENT, TAG_REQUEST, TAG_RUN, RequestRecord
from dumgum_loadtest.scenarios.draw import RequestFactory
from dumgum_loadtest.scenarios.model import parse_scenario
from dumgum_loadtest.scenarios.schedule import PlannedSend
from dumgum_loadtest.schema.enums import Engage

FIELDS = [f.name for f in dataclasses.fields(RequestRecord)]


def context() -> Any:
    sc = parse_scenario({"name": "s", "arrival": {"model": "open", "rate_rps": 1}}, "test")
    factory = RequestFactory(sc, random.Random(1))
    ids = iter(range(100))

    def body_bytes(drawn: Any, request_id: str) -> bytes:
        return orjson.dumps({**drawn.body, "tags": {TAG_RUN: "run-1", TAG_REQUEST: request_id}})

    return SimpleNamespace(
        options=SimpleNamespace(run_id="run-1", run_dir=Path()),
        label="2",
        start_ns=1_000_000_000_000,
        factory=factory,
        next_request_id=lambda: f"2-{next(ids)}",
        body_bytes=body_bytes,
    )


def planned(engage: Engage | None = None) -> PlannedSend:
    return PlannedSend(1.5, "2-c7", 3, 1, 2, "u5", "p9", engage, "high")


def test_a_record_has_exactly_the_request_record_fields_in_order() -> None:
    ctx = context()
    send = PreparedSend.prepare(cast(Any, ctx), planned())
    send.sent_ns = send.intended_ns + 2_000
    record = request_record(ctx, send, SENT, status=204, response_ns=send.sent_ns + 500)
    assert list(record) == FIELDS
    typed = RequestRecord(**record)
    assert typed.to_json() == record
    assert (typed.request_id, typed.worker, typed.conversation_id) == ("2-0", "2", "2-c7")
    assert (typed.turn, typed.burst_index, typed.burst_size, typed.stage) == (3, 1, 2, "high")
    assert typed.intended_ns == 1_000_000_000_000 + 1_500_000_000
    assert (typed.status, typed.send_state, typed.error) == (204, SENT, None)


def test_the_body_carries_the_ids_and_the_pair() -> None:
    ctx = context()
    send = PreparedSend.prepare(cast(Any, ctx), planned(Engage.NUDGE))
    body = orjson.loads(send.body)
    assert body["tags"] == {TAG_RUN: "run-1", TAG_REQUEST: send.request_id}
    assert (body["userProfileId"], body["personaProfileId"]) == ("u5", "p9")
    assert body["replyParameters"]["engage"] == "NUDGE"
    assert send.features["engage"] == "NUDGE"


def test_a_not_sent_record_has_no_send_time() -> None:
    ctx = context()
    send = PreparedSend.prepare(cast(Any, ctx), planned())
    record = request_record(ctx, send, NOT_SENT, error="behind schedule")
    assert (record["sent_ns"], record["response_ns"], record["status"]) == (None, None, None)
    assert record["send_state"] == NOT_SENT


def test_a_user_message_for_the_receiver() -> None:
    send = PreparedSend.prepare(cast(Any, context()), planned())
    message = send.user_message()
    assert (message["userProfileId"], message["personaProfileId"]) == ("u5", "p9")
    assert message["id"] == f"msg-{send.request_id}"
