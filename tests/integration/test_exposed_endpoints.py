"""Who may talk to the receiver and to the mock's control API (issue 10, exposed endpoints)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import ASGIApp

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.run import RunOptions, receiver_secret_path
from dumgum_loadtest.serving import BackgroundServer

SECRET = "s3cr3t-path-0123456789abcdef"
EVENT = {"event": "answer.processing", "data": {"projectId": "proj_1", "answer": {}}}
OUTSIDER = ("203.0.113.7", 51000)  # a client off loopback (TEST-NET-3)


def call(
    app: ASGIApp, method: str, path: str, client: tuple[str, int] = ("127.0.0.1", 50000), **kw: Any
) -> httpx.Response:
    """One request to ``app`` in process, as if from ``client`` (no lifespan needed here)."""

    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, client=client)
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as session:
            return await session.request(method, path, **kw)

    return asyncio.run(send())


def recorded_events(out_dir: Path) -> list[dict[str, object]]:
    lines: list[dict[str, object]] = []
    for path in out_dir.glob("events-*.jsonl"):
        lines.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
    return lines


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[BackgroundServer]:
    settings = ReceiverSettings(out_dir=tmp_path, secret_path=SECRET)
    with BackgroundServer(create_receiver_app(settings)) as server:
        yield server


def test_receiver_with_a_secret_path_refuses_counts_and_never_records_strangers(
    guarded: BackgroundServer, tmp_path: Path
) -> None:
    with httpx.Client(base_url=guarded.url, timeout=10) as client:
        for path in ("/incoming", "/memory", f"/{SECRET[:-1]}/incoming", f"/x{SECRET}/incoming"):
            assert client.post(path, json=EVENT).status_code == 404
        assert client.get("/profile", params={"profileId": "u1"}).status_code == 404
        assert client.get("/_receiver/stats").status_code == 404
        assert client.post("/_receiver/profiles/u1/bump").status_code == 404
        assert client.get("/health").status_code == 200  # says nothing, load balancers need it

        assert client.post(f"/{SECRET}/incoming", json=EVENT).status_code == 204
        assert client.get(f"/{SECRET}/profile", params={"profileId": "u1"}).status_code == 200
        stats = client.get(f"/{SECRET}/_receiver/stats").json()
    assert stats["refused"] == {"no_secret_path": 7}
    assert stats["events"] == {"answer.processing": 1}
    assert [r["body"] for r in recorded_events(tmp_path)] == [EVENT]


def test_receiver_with_a_required_header_answers_401_without_it(tmp_path: Path) -> None:
    settings = ReceiverSettings(out_dir=tmp_path, require_header="X-Webhook-Secret: hunter2-abc")
    with (
        BackgroundServer(create_receiver_app(settings)) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        assert client.post("/memory", json=EVENT).status_code == 401
        wrong = {"X-Webhook-Secret": "hunter2"}
        assert client.post("/memory", json=EVENT, headers=wrong).status_code == 401
        right = {"x-webhook-secret": "hunter2-abc"}
        assert client.post("/memory", json=EVENT, headers=right).status_code == 204
        assert client.get("/_receiver/stats").status_code == 401
        stats = client.get("/_receiver/stats", headers=right).json()
    assert stats["refused"] == {"no_secret_header": 3}
    assert len(recorded_events(tmp_path)) == 1


@pytest.mark.parametrize("value", ["short", "a/b-0123456789abcdef"])
def test_a_guessable_secret_path_is_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_receiver_app(ReceiverSettings(out_dir=tmp_path, secret_path=value))


def test_without_a_secret_the_control_api_answers_loopback_clients_only(tmp_path: Path) -> None:
    app = create_receiver_app(ReceiverSettings(out_dir=tmp_path))
    assert call(app, "GET", "/_receiver/stats", OUTSIDER).status_code == 403
    assert call(app, "POST", "/_receiver/profiles/u1/bump", OUTSIDER).status_code == 403
    wait = call(app, "GET", "/_receiver/wait", OUTSIDER, params={"timeout_s": 0})
    assert wait.status_code == 403
    # The customer endpoints stay open, as today: DumGum calls them from outside.
    assert call(app, "POST", "/incoming", OUTSIDER, json=EVENT).status_code == 204
    stats = call(app, "GET", "/_receiver/stats").json()  # from loopback
    assert stats["refused"] == {"control_off_loopback": 3}


def test_with_a_secret_the_control_api_answers_an_outsider_that_has_it(tmp_path: Path) -> None:
    app = create_receiver_app(ReceiverSettings(out_dir=tmp_path, secret_path=SECRET))
    assert call(app, "GET", f"/{SECRET}/_receiver/stats", OUTSIDER).status_code == 200
    assert call(app, "GET", "/_receiver/stats").status_code == 404  # loopback is no pass


@pytest.mark.parametrize(
    ("host", "public_url", "gets_a_secret"),
    [
        ("127.0.0.1", None, False),  # today's default: the mock calls it on loopback
        ("0.0.0.0", None, True),
        ("192.0.2.10", None, True),
        ("127.0.0.1", "https://hooks.example.com", True),  # a tunnel forwards from loopback
    ],
)
def test_run_draws_a_receiver_secret_when_the_receiver_can_be_reached(
    monkeypatch: pytest.MonkeyPatch, host: str, public_url: str | None, gets_a_secret: bool
) -> None:
    monkeypatch.delenv("DUMGUM_RECEIVER_SECRET_PATH", raising=False)
    monkeypatch.delenv("DUMGUM_RECEIVER_REQUIRE_HEADER", raising=False)
    options = RunOptions(Path("s.yaml"), receiver_host=host, public_receiver_url=public_url)
    first, second = receiver_secret_path(options), receiver_secret_path(options)
    assert (first is not None) is gets_a_secret
    if gets_a_secret:
        assert first != second and first is not None and len(first) >= 24  # one per run
    monkeypatch.setenv("DUMGUM_RECEIVER_SECRET_PATH", SECRET)
    assert receiver_secret_path(options) == SECRET  # kept across runs when the user says so


# -- the mock's control API ------------------------------------------------------------------


ENQUEUE = "/cs/v1/content_creation/conversations/enqueue"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_a_mock_serving_one_project_keeps_its_token_for_the_control_api() -> None:
    app = create_mock_app(MockConfig(time_scale=0.01), ["sk-proj-only"])
    assert call(app, "GET", "/_mock/ledger", headers=bearer("sk-proj-only")).status_code == 200
    assert call(app, "GET", "/_mock/ledger", headers=bearer("sk-proj-x")).status_code == 401


def test_one_projects_token_neither_reads_nor_changes_what_the_mock_does_for_another() -> None:
    projects = ["sk-proj-alice", "sk-proj-bob"]
    app = create_mock_app(MockConfig(time_scale=0.01), projects)
    chaos = {"faults": {"enqueue_5xx_rate": 1.0}}
    for token in projects:
        ledger = call(app, "GET", "/_mock/ledger", headers=bearer(token))
        assert ledger.status_code == 403
        assert "--control-token" in ledger.json()["detail"]
        patch = call(app, "PATCH", "/_mock/config", headers=bearer(token), json=chaos)
        assert patch.status_code == 403
    assert app.state.mock.config.faults.enqueue_5xx_rate == 0


def test_the_control_token_reads_the_ledger_and_changes_the_config() -> None:
    projects = ["sk-proj-alice", "sk-proj-bob"]
    app = create_mock_app(MockConfig(time_scale=0.01), projects, control_token="sk-ops-7f3a")
    operator = bearer("sk-ops-7f3a")
    assert call(app, "GET", "/_mock/ledger", headers=operator).status_code == 200
    chaos = {"faults": {"enqueue_5xx_rate": 1.0}}
    assert call(app, "PATCH", "/_mock/config", headers=operator, json=chaos).status_code == 200
    assert app.state.mock.config.faults.enqueue_5xx_rate == 1.0
    assert call(app, "GET", "/_mock/ledger", headers=bearer("sk-proj-alice")).status_code == 401
    # The control token is no project: it cannot enqueue.
    body = {"userProfileId": "u", "personaProfileId": "p", "language": "EN"}
    assert call(app, "POST", ENQUEUE, headers=operator, json=body).status_code == 401
