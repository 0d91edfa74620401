"""The mock end to end on loopback: enqueue → customer calls → webhook events → ledger."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

import pytest
from pydantic import TypeAdapter
from tests.conftest import TOKEN, Stack, StackFactory, body

from dumgum_loadtest.examples import reference_example
from dumgum_loadtest.mock import project_id_for
from dumgum_loadtest.schema.events import WebhookEvent
from dumgum_loadtest.serving import BackgroundServer

pytestmark = pytest.mark.integration

EVENTS = TypeAdapter(WebhookEvent)


def _answers(stack: Stack) -> list[dict[str, Any]]:
    return [e["data"]["answer"] for e in stack.events("answer.created")]


def test_reference_example_is_answered_with_its_tags(make_stack: StackFactory) -> None:
    stack = make_stack()
    request = reference_example()
    request["tags"] = {"banana": "yellow", "run": "r1"}
    response = stack.enqueue(request)
    assert response.status_code == 204
    assert response.content == b""
    stack.wait_until(lambda: len(stack.events("answer.created")) == 1, what="the answer")
    events = stack.events()
    assert [e["event"] for e in events] == ["answer.processing", "answer.created"]
    for event in events:
        EVENTS.validate_python(event)  # every event matches the documented models
    processing, created = events
    project = project_id_for(TOKEN)
    assert processing["data"]["tags"] == {"banana": "yellow", "run": "r1"}
    answer = created["data"]["answer"]
    assert created["data"]["projectId"] == answer["projectId"] == project
    assert answer["id"].startswith("answer_")
    assert answer["tags"] == {"banana": "yellow", "run": "r1"}
    assert answer["cost"] == "0.0000"  # testMode is free
    assert "test answer" in answer["text"]
    assert answer["sequenceNumber"] == 0 and answer["parentAnswerId"] is None
    assert answer["createdAt"].endswith("Z")


def test_auth_and_body_errors(make_stack: StackFactory) -> None:
    stack = make_stack()
    path = "/cs/v1/content_creation/conversations/enqueue"
    assert stack.client.post(path, json=body(), headers={"Authorization": ""}).status_code == 401
    wrong = stack.client.post(path, json=body(), headers={"Authorization": "Bearer sk-proj-nope"})
    assert wrong.status_code == 401
    assert stack.client.post(path, content=b"{not json").status_code == 400
    assert stack.client.post(path, json=["a", "list"]).status_code == 400
    invalid = stack.enqueue(body(language="XX", params={"bufferSeconds": "999"}))
    assert invalid.status_code == 422
    fields = {e["field"] for e in invalid.json()["errors"]}
    assert fields == {"language", "replyParameters.bufferSeconds"}
    ledger = stack.ledger()
    assert ledger["enqueues_rejected"] == {"400": 2, "401": 2, "422": 1}
    assert ledger["enqueues_accepted"] == 0


def test_capability_rule_rejects_icebreaker_without_engage(make_stack: StackFactory) -> None:
    stack = make_stack()
    response = stack.enqueue(body(params={"icebreakerType": "NEARBY"}))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "replyParameters.icebreakerType"


def test_chat_history_every_enqueue_profiles_on_first_sight_and_version_change(
    make_stack: StackFactory,
) -> None:
    stack = make_stack()
    quick = {"bufferSeconds": 0}
    for _ in range(3):
        assert stack.enqueue(body("u1", "p1", params=quick)).status_code == 204
        stack.settle()
    assert stack.enqueue(body("u1", "p2", params=quick)).status_code == 204
    stack.settle()
    assert stack.enqueue(body("u1", "p1", params=quick, userProfileVersion="v9")).status_code == 204
    ledger = stack.settle()
    history = stack.calls("chat_history")
    assert len(history) == ledger["chat_history_calls"] == 5
    profile_ids = Counter(call["params"]["profileId"] for call in stack.calls("profile"))
    assert profile_ids == {"u1": 2, "p1": 1, "p2": 1}  # u1 again for its new version
    # Once the pair has history, DumGum asks only for what is newer.
    first_pair = [c for c in history if c["params"]["personaProfileId"] == "p1"]
    assert "lastMessageDate" not in first_pair[0]["params"]
    assert "lastMessageDate" in first_pair[-1]["params"]


def test_enqueues_inside_the_buffer_merge_into_one_reply(make_stack: StackFactory) -> None:
    stack = make_stack()
    for index in range(3):
        stack.enqueue(body(params={"bufferSeconds": 5}, tags={"i": index}))
    ledger = stack.settle()
    answers = _answers(stack)
    assert len(answers) == 1
    assert answers[0]["tags"] == {"i": 2}  # a merged reply echoes the latest enqueue's tags
    assert ledger["merged"] == 2 and ledger["replies"] == 1 and ledger["billed_replies"] == 1


def test_split_reply_in_order_only_first_billed(make_stack: StackFactory) -> None:
    stack = make_stack(split={"default_probability": 1.0, "three_message_share": 1.0})
    params = {"bufferSeconds": 0, "multipleMessagesPerReply": True, "replyTypingDelay": "FAST"}
    stack.enqueue(body(params=params))
    ledger = stack.settle()
    events = stack.events()
    assert [e["event"] for e in events] == ["answer.processing", "answer.created"] * 3
    answers = [e["data"]["answer"] for e in events if e["event"] == "answer.created"]
    assert [a["sequenceNumber"] for a in answers] == [0, 1, 2]
    assert answers[0]["parentAnswerId"] is None
    assert {a["parentAnswerId"] for a in answers[1:]} == {answers[0]["id"]}
    assert [a["cost"] for a in answers] == ["0.0250", "0.0000", "0.0000"]
    assert ledger["billed_replies"] == 1 and ledger["followup_messages"] == 2
    assert ledger["cost"]["replies_eur"] == "0.0250"


def test_overload_queues_then_drops(make_stack: StackFactory) -> None:
    # One slot, 1 s per reply (100 s scaled by 0.01), 3 s deadline (300 s scaled).
    model = {"generation_s": {"kind": "constant", "value_s": 100.0}, "concurrency": 1}
    stack = make_stack(models={"dating-smart-1": model})
    for index in range(8):
        stack.enqueue(body(f"u{index}", "p1", params={"bufferSeconds": 0}))
    ledger = stack.settle(timeout_s=20)
    answered = len(stack.events("answer.created"))
    dropped = stack.events("conversation.dropped")
    assert answered + len(dropped) == 8
    assert 2 <= answered <= 3
    assert sum(ledger["dropped"].values()) == len(dropped)
    assert ledger["billed_replies"] == answered


def test_enqueue_faults_at_configured_rates(make_stack: StackFactory) -> None:
    stack = make_stack(faults={"enqueue_429_rate": 0.2, "enqueue_5xx_rate": 0.1})
    statuses: Counter[int] = Counter()
    retry_after = set()
    for index in range(400):
        response = stack.enqueue(body(f"u{index}", "p", params={"bufferSeconds": 0}))
        statuses[response.status_code] += 1
        if response.status_code == 429:
            retry_after.add(response.headers["Retry-After"])
    # 429 drawn first at 0.2; 503 at 0.1 of the rest (0.08 overall). Bounds: about 4 sigma.
    assert 80 - 32 <= statuses[429] <= 80 + 32
    assert 32 - 22 <= statuses[503] <= 32 + 22
    assert statuses[204] == 400 - statuses[429] - statuses[503]
    assert retry_after == {"1"}
    stack.settle()


def test_duplicate_deliveries_at_configured_rate(make_stack: StackFactory) -> None:
    stack = make_stack(faults={"duplicate_delivery_rate": 0.5})
    for index in range(60):
        stack.enqueue(body(f"u{index}", "p", params={"bufferSeconds": 0}))
    ledger = stack.settle()
    ids = Counter(a["id"] for a in _answers(stack))
    assert len(ids) == 60
    duplicated_events = sum(count - 1 for count in ids.values())
    assert ledger["duplicates_sent"] >= duplicated_events
    assert 60 * 2 * 0.5 - 35 <= ledger["duplicates_sent"] <= 60 * 2 * 0.5 + 35


def test_receiver_restart_loses_nothing(make_stack: StackFactory) -> None:
    stack = make_stack()
    for index in range(5):
        stack.enqueue(body(f"u{index}", "p", params={"bufferSeconds": 0}, tags={"i": index}))
    stack.settle()
    stack.receiver.stop()
    for index in range(5, 10):
        stack.enqueue(body(f"u{index}", "p", params={"bufferSeconds": 0}, tags={"i": index}))
    time.sleep(0.5)  # deliveries fail and back off meanwhile
    from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app

    restarted = BackgroundServer(
        create_receiver_app(ReceiverSettings(out_dir=stack.out_dir)), port=stack.receiver.port
    )
    with restarted:
        ledger = stack.settle(timeout_s=30)
        tags = sorted(a["tags"]["i"] for a in _answers(stack))
    assert tags == list(range(10))
    assert ledger["deliveries_given_up"] == 0
    assert ledger["deliveries_retried"] > 0


def test_guardrail_stop_bans_the_pair_progressively(make_stack: StackFactory) -> None:
    stack = make_stack(
        guardrails={"stop_rates": {"USER_HOSTILE": 1.0}, "ban_ladder_s": [100.0, None]}
    )
    quick = {"bufferSeconds": 0}
    stack.enqueue(body(params=quick))
    stack.settle()
    first = _answers(stack)[0]
    assert first["conversationStopReason"] == "USER_HOSTILE"
    assert first["conversationStoppedUntil"] is not None  # 100 s scaled: 1 s from now
    stack.enqueue(body(params=quick))  # inside the ban: accepted, never answered
    ledger = stack.settle()
    assert ledger["suppressed_banned"] == 1 and len(_answers(stack)) == 1
    time.sleep(1.1)
    stack.enqueue(body(params=quick))
    stack.settle()
    second = _answers(stack)[1]
    assert second["conversationStopReason"] == "USER_HOSTILE"
    assert second["conversationStoppedUntil"] is None  # the ladder ends in a permanent stop
    other_pair = stack.enqueue(body("u1", "p-other", params=quick))
    assert other_pair.status_code == 204
    stack.settle()
    assert len(_answers(stack)) == 3  # a ban holds for its own conversation only


def test_pause_action_silences_the_pair_for_its_duration(make_stack: StackFactory) -> None:
    stack = make_stack()
    pause = {"type": "PAUSE_CONVERSATION", "pauseConversation": {"duration": 100}}
    stack.enqueue(body(params={"bufferSeconds": 0, "action": pause}))
    stack.settle()
    stack.enqueue(body(params={"bufferSeconds": 0}))
    ledger = stack.settle()
    assert ledger["pauses"] == 1 and ledger["suppressed_paused"] == 1
    assert len(_answers(stack)) == 1
    time.sleep(1.1)
    stack.enqueue(body(params={"bufferSeconds": 0}))
    stack.settle()
    assert len(_answers(stack)) == 2


def test_engage_auto_is_an_icebreaker_without_history(make_stack: StackFactory) -> None:
    stack = make_stack()
    stack.enqueue(body("fresh-user", "p", params={"bufferSeconds": 0, "engage": "AUTO"}))
    ledger = stack.settle()
    assert ledger["engage_replies"] == {"ICEBREAKER": 1}
    assert "icebreaker" in _answers(stack)[0]["text"]


def test_vision_once_per_picture_and_soulengine_once_per_persona(make_stack: StackFactory) -> None:
    stack = make_stack()
    vision = {"userProfilePictureAnalysis": True, "personaProfilePictureAnalysis": True}
    chat2 = {"bufferSeconds": 0, "chatModel": "chat-2-smart", "vision": vision}
    for persona in ("p1", "p1", "p2"):
        stack.enqueue(body("u1", persona, params={**chat2, "generatePersonality": True}))
        stack.settle()
    stack.enqueue(body("u2", "p3", params={"bufferSeconds": 0, "vision": vision}))  # dating model
    ledger = stack.settle()
    assert ledger["vision_analyses"] == 3  # u1, p1, p2 main pictures, each once
    assert ledger["vision_ignored_requests"] == 1
    assert ledger["soulengine_activations"] == 2
    assert ledger["cost"]["vision_eur"] == "0.0450"


def test_control_api_changes_the_model_while_running(make_stack: StackFactory) -> None:
    stack = make_stack()
    assert stack.patch_config({"faults": {"enqueue_5xx_rate": 1.0}}).status_code == 200
    assert stack.enqueue(body()).status_code == 503
    bad = stack.patch_config({"faults": {"enqueue_5xx_rate": 2}})
    assert bad.status_code == 422
    assert "faults.enqueue_5xx_rate" in bad.json()["detail"]
    assert stack.client.get("/_mock/config").json()["faults"]["enqueue_5xx_rate"] == 1.0
    anonymous = stack.client.get("/_mock/ledger", headers={"Authorization": ""})
    assert anonymous.status_code == 401
