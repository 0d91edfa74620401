"""GET /_receiver/wait over HTTP: a closed-model user's long-poll for the end of its turn."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.serving import BackgroundServer

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[httpx.Client]:
    app = create_receiver_app(ReceiverSettings(out_dir=tmp_path / "receiver"))
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def answer_created(user: str, persona: str, sequence: int = 0) -> dict[str, Any]:
    return {
        "event": "answer.created",
        "data": {
            "projectId": "proj_test",
            "answer": {
                "id": "answer_1",
                "userProfileId": user,
                "personaProfileId": persona,
                "type": "TEXT",
                "text": "hi",
                "tags": {},
                "cost": "0.0250",
                "responseTime": 1,
                "sequenceNumber": sequence,
                "createdAt": "2026-01-01T00:00:00.000Z",
            },
        },
    }


def wait(client: httpx.Client, user: str, after_ns: int, timeout_s: float) -> httpx.Response:
    params = {
        "userProfileId": user,
        "personaProfileId": "p1",
        "after_ns": str(after_ns),
        "timeout_s": str(timeout_s),
    }
    return client.get("/_receiver/wait", params=params)


def test_a_wait_is_answered_as_soon_as_the_answer_arrives(receiver: httpx.Client) -> None:
    after_ns = time.time_ns()

    def deliver() -> None:
        time.sleep(0.3)
        with httpx.Client(base_url=str(receiver.base_url)) as other:
            other.post("/incoming", json=answer_created("u1", "p1", sequence=1))  # not the end
            other.post("/incoming", json=answer_created("u1", "p1"))

    thread = threading.Thread(target=deliver)
    started = time.monotonic()
    thread.start()
    response = wait(receiver, "u1", after_ns, timeout_s=5)
    elapsed_s = time.monotonic() - started
    thread.join()
    assert response.status_code == 200
    body = response.json()
    assert body["event"] == "answer.created"
    assert body["recv_ns"] > after_ns
    assert 0.25 < elapsed_s < 2.0  # woken by the event, not by the timeout


def test_an_answer_received_before_the_wait_counts(receiver: httpx.Client) -> None:
    after_ns = time.time_ns()
    assert receiver.post("/incoming", json=answer_created("u2", "p1")).status_code == 204
    response = wait(receiver, "u2", after_ns, timeout_s=5)
    assert response.status_code == 200
    # ...but not for a wait that starts after it
    assert wait(receiver, "u2", response.json()["recv_ns"], timeout_s=0.05).status_code == 204


def test_no_answer_gives_204_at_the_timeout(receiver: httpx.Client) -> None:
    started = time.monotonic()
    response = wait(receiver, "u3", time.time_ns(), timeout_s=0.2)
    assert response.status_code == 204
    assert time.monotonic() - started >= 0.2
    stats = receiver.get("/_receiver/stats").json()
    assert stats["waits"]["pending"] == 0


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"personaProfileId": "p1"}, "userProfileId"),
        ({"userProfileId": "u1"}, "personaProfileId"),
        ({"userProfileId": "u1", "personaProfileId": "p1", "after_ns": "soon"}, "after_ns"),
        ({"userProfileId": "u1", "personaProfileId": "p1", "timeout_s": "x"}, "timeout_s"),
        ({"userProfileId": "u1", "personaProfileId": "p1", "timeout_s": "9999"}, "timeout_s"),
    ],
)
def test_bad_parameters_are_named(
    receiver: httpx.Client, params: dict[str, str], parameter: str
) -> None:
    response = receiver.get("/_receiver/wait", params=params)
    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
