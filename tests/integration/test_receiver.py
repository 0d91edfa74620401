"""The receiver served by uvicorn on loopback, called over HTTP as DumGum would call it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from pydantic import TypeAdapter

from dumgum_loadtest.clock import iso_from_ns, now_ns
from dumgum_loadtest.processes import ManagedProcess, cli_command, wait_healthy
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.schema.customer import ChatHistoryResponse, ProfileResponse
from dumgum_loadtest.schema.events import WebhookEvent
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.integration

_EVENTS = TypeAdapter(WebhookEvent)
USER, PERSONA = "user_7", "persona_3"


def answer_created(answer_id: str, created_ns: int, text: str = "hey you") -> dict[str, Any]:
    event = {
        "event": "answer.created",
        "data": {
            "projectId": "proj_test",
            "answer": {
                "id": answer_id,
                "projectId": "proj_test",
                "userProfileId": USER,
                "personaProfileId": PERSONA,
                "type": "TEXT",
                "replyMode": "AI",
                "text": text,
                "pictureUrl": None,
                "tags": {"dumgum_loadtest": {"run": "r1", "request": answer_id}},
                "cost": "0.0250",
                "responseTime": 2,
                "sequenceNumber": 0,
                "parentAnswerId": None,
                "createdAt": iso_from_ns(created_ns),
                "conversationStopReason": None,
                "conversationStoppedUntil": None,
            },
        },
    }
    _EVENTS.validate_python(event)  # the test sends what the mock sends
    return event


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "receiver"


@pytest.fixture
def client(out_dir: Path) -> Iterator[httpx.Client]:
    app = create_receiver_app(ReceiverSettings(out_dir=out_dir))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as http:
        yield http


def records(out_dir: Path, stem: str) -> list[dict[str, Any]]:
    (path,) = out_dir.glob(f"{stem}-*.jsonl")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_every_event_is_recorded_before_its_2xx(client: httpx.Client, out_dir: Path) -> None:
    events: list[tuple[str, dict[str, Any]]] = [
        ("/incoming", {"event": "answer.processing", "data": {"projectId": "p", "tags": {}}}),
        ("/incoming", answer_created("answer_1", now_ns())),
        ("/incoming", {"event": "conversation.dropped", "data": {"projectId": "p", "tags": {}}}),
        ("/memory", {"event": "memory.changed", "data": {"added": [], "deleted": []}}),
    ]
    for n, (path, event) in enumerate(events, start=1):
        body = orjson.dumps(event)
        sent_ns = now_ns()
        response = client.post(path, content=body, headers={"content-type": "application/json"})
        answered_ns = now_ns()
        assert response.status_code == 204
        # Read right after the answer: the record must already be there.
        held = records(out_dir, "events")
        assert len(held) == n
        assert sent_ns <= held[-1]["recv_ns"] <= answered_ns
        assert held[-1]["endpoint"] == path.strip("/")
        assert held[-1]["status"] == 204
        assert held[-1]["body"] == event
    stats = client.get("/_receiver/stats").json()
    assert stats["events"] == {
        "answer.processing": 1,
        "answer.created": 1,
        "conversation.dropped": 1,
        "memory.changed": 1,
    }
    assert stats["bytes_written"]["events"] == sum(p.stat().st_size for p in out_dir.glob("ev*"))


@pytest.mark.parametrize("path", ["/incoming", "/memory"])
def test_invalid_json_is_answered_400_and_still_recorded(
    client: httpx.Client, out_dir: Path, path: str
) -> None:
    response = client.post(path, content=b'{"event": "answer.created", ')
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]
    (record,) = records(out_dir, "events")
    assert record["status"] == 400
    assert record["body"] == '{"event": "answer.created", '
    assert client.get("/_receiver/stats").json()["invalid_bodies"] == 1


def test_chat_history_follows_user_messages_and_answers(client: httpx.Client) -> None:
    base_ns = now_ns() - 60_000_000_000
    first_user = {"userProfileId": USER, "personaProfileId": PERSONA, "text": "hi", "id": "u1"}
    first_user["date"] = iso_from_ns(base_ns)
    assert client.post("/_receiver/messages", json=first_user).status_code == 204
    reply = answer_created("answer_1", base_ns + 5_000_000_000)
    for _ in range(2):  # delivered twice: at-least-once webhooks
        assert client.post("/incoming", json=reply).status_code == 204
    more_user = [
        {"userProfileId": USER, "personaProfileId": PERSONA, "text": "how are you?", "id": "u2"},
        {"userProfileId": "someone_else", "personaProfileId": PERSONA, "text": "other pair"},
    ]
    assert client.post("/_receiver/messages", json=more_user).status_code == 204

    params = {"userProfileId": USER, "personaProfileId": PERSONA}
    full = ChatHistoryResponse.model_validate_json(client.get("/chat-history", params=params).text)
    assert [(m.id, m.sender.value) for m in full.messages] == [
        ("u1", "USER"),
        ("answer_1", "PERSONA"),
        ("u2", "USER"),
    ]
    assert full.messages[1].text == "hey you"

    newest_known = client.get("/chat-history", params=params).json()["messages"][1]["date"]
    delta = client.get("/chat-history", params={**params, "lastMessageDate": newest_known})
    assert [m["id"] for m in delta.json()["messages"]] == ["u2"]
    empty = client.get("/chat-history", params={**params, "lastMessageDate": ""})
    assert len(empty.json()["messages"]) == 3  # empty means "I hold nothing yet"


def test_profile_is_stable_until_bumped(client: httpx.Client) -> None:
    first = client.get("/profile", params={"profileId": PERSONA})
    second = client.get("/profile", params={"profileId": PERSONA})
    assert first.status_code == 200
    assert first.content == second.content
    before = ProfileResponse.model_validate_json(first.content).profile
    assert before.id == PERSONA and before.version == "v1" and before.timeZone

    bumped = client.post(f"/_receiver/profiles/{PERSONA}/bump")
    assert bumped.json() == {"profileId": PERSONA, "version": "v2"}
    after = ProfileResponse.model_validate_json(
        client.get("/profile", params={"profileId": PERSONA}).content
    ).profile
    assert after.version == "v2"
    assert after.mainPictureUrl != before.mainPictureUrl
    assert after.firstName == before.firstName


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/profile", {}, "profileId"),
        ("/profile", {"profileId": ""}, "profileId"),
        ("/chat-history", {"personaProfileId": PERSONA}, "userProfileId"),
        ("/chat-history", {"userProfileId": USER}, "personaProfileId"),
        (
            "/chat-history",
            {"userProfileId": USER, "personaProfileId": PERSONA, "lastMessageDate": "soon"},
            "lastMessageDate",
        ),
    ],
)
def test_bad_parameters_are_answered_400_naming_them(
    client: httpx.Client, path: str, params: dict[str, str], parameter: str
) -> None:
    response = client.get(path, params=params)
    assert response.status_code == 400
    error = response.json()
    assert error["parameter"] == parameter
    assert parameter in error["error"]
    if parameter == "lastMessageDate":
        assert error["value"] == "soon" and "soon" in error["error"]


def test_every_call_served_is_recorded(client: httpx.Client, out_dir: Path) -> None:
    client.get("/profile", params={"profileId": USER})
    client.get("/chat-history", params={"userProfileId": USER, "personaProfileId": PERSONA})
    client.get("/chat-history", params={"userProfileId": USER})
    calls = records(out_dir, "calls")
    assert [(c["kind"], c["status"]) for c in calls] == [
        ("profile", 200),
        ("chat_history", 200),
        ("chat_history", 400),
    ]
    assert calls[0]["params"] == {"profileId": USER}
    assert all(c["duration_ns"] > 0 and c["response_bytes"] > 0 for c in calls)
    stats = client.get("/_receiver/stats").json()
    assert stats["calls"] == {"profile": 1, "chat_history": 2}


def test_control_endpoint_rejects_bad_messages(client: httpx.Client) -> None:
    response = client.post("/_receiver/messages", json={"userProfileId": USER, "text": "x"})
    assert response.status_code == 400
    assert response.json()["problems"][0]["field"] == "[0].personaProfileId"


def test_health(client: httpx.Client) -> None:
    assert client.get("/health").json() == {"status": "ok"}


def test_webhook_paths_take_only_posts(client: httpx.Client, out_dir: Path) -> None:
    assert client.get("/incoming").status_code == 405
    assert client.put("/memory", content=b"{}").status_code == 405
    assert records(out_dir, "events") == []


@pytest.mark.parametrize("stop_signal", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_no_acknowledged_event_is_lost_when_the_receiver_is_killed_under_load(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    # Many events in flight at once (so they share writes), then kill -9 (or SIGTERM, a
    # graceful stop) mid-stream: every event answered 204 must be whole in the shard,
    # whatever was in flight at the signal.
    port = free_port()
    out = tmp_path / "raw"
    process = ManagedProcess(
        "receiver",
        cli_command("receiver", "--port", str(port), "--out", str(out)),
        tmp_path / "receiver.log",
    ).start()
    url = f"http://127.0.0.1:{port}/incoming"
    acknowledged: set[str] = set()
    try:
        wait_healthy(process, f"http://127.0.0.1:{port}/health")

        async def post_until_killed(client: httpx.AsyncClient, worker: int) -> None:
            for n in itertools.count():
                answer_id = f"answer_{worker}_{n}"
                body = orjson.dumps(answer_created(answer_id, now_ns()))
                try:
                    response = await client.post(url, content=body)
                except httpx.TransportError:
                    return  # the receiver is gone
                if response.status_code == 204:
                    acknowledged.add(answer_id)

        async def load_then_kill() -> None:
            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(timeout=10, limits=limits) as client:
                workers = [
                    asyncio.create_task(post_until_killed(client, worker)) for worker in range(32)
                ]
                await asyncio.sleep(1.5)
                assert process.pid is not None
                os.kill(process.pid, stop_signal)
                await asyncio.wait_for(asyncio.gather(*workers), timeout=30)

        asyncio.run(load_then_kill())
        if stop_signal == signal.SIGTERM:
            # A graceful stop ends by itself; uvicorn re-raises the signal once it has shut
            # down, so the exit status names it.
            assert process.wait(15) == -signal.SIGTERM
    finally:
        process.stop()
    recorded: set[str] = set()
    cut_short = 0
    for line in next(out.glob("events-*.jsonl")).read_bytes().splitlines():
        with contextlib.suppress(orjson.JSONDecodeError):  # a line torn by the kill
            record = orjson.loads(line)
            if record["status"] == 204:
                recorded.add(record["body"]["data"]["answer"]["id"])
            else:
                cut_short += 1
    assert len(acknowledged) > 100  # the load did run
    assert acknowledged <= recorded
    if stop_signal == signal.SIGTERM:
        assert cut_short == 0  # a graceful stop lets every request it started finish
