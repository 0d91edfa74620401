"""Shared fixtures: the mock and the receiver on loopback, in threads, with a quiet model."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from dumgum_loadtest.mock import ENQUEUE_PATH, MockConfig, create_mock_app
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.serving import BackgroundServer
from tests.postgres import history_db_url, postgres_url

TOKEN = "sk-proj-test-token"
# Fixtures: a real PostgreSQL server, and an empty history database of each kind.
__all__ = ["history_db_url", "postgres_url"]

# Deterministic by default: constant generation, no random stops, memories or shared pictures.
QUIET_MODEL: dict[str, Any] = {
    "time_scale": 0.01,
    "seed": 7,
    "models": {
        model: {"generation_s": {"kind": "constant", "value_s": 1.0}}
        for model in ("dating-smart-1", "dating-pro-1", "chat-2-smart", "chat-2-pro")
    },
    "guardrails": {"stop_rates": {}},
    "behaviour": {"memory_update_rate": 0.0, "picture_share_rate": 0.0, "image_rejection_rate": 0},
    "delivery": {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, "max_attempts": 40},
}


def merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "kind" not in value:
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def body(user: str = "u1", persona: str = "p1", **extra: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"userProfileId": user, "personaProfileId": persona, "language": "EN"}
    params = extra.pop("params", None)
    if params is not None:
        request["replyParameters"] = params
    request.update(extra)
    return request


class Stack:
    """A running receiver and mock, with helpers to send and to read what came back."""

    def __init__(self, out_dir: Path, receiver: BackgroundServer, mock: BackgroundServer) -> None:
        self.out_dir = out_dir
        self.receiver = receiver
        self.mock = mock
        self.client = httpx.Client(
            base_url=mock.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10.0
        )

    def enqueue(self, request: dict[str, Any]) -> httpx.Response:
        return self.client.post(ENQUEUE_PATH, json=request)

    def ledger(self) -> dict[str, Any]:
        response = self.client.get("/_mock/ledger")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def patch_config(self, changes: dict[str, Any]) -> httpx.Response:
        return self.client.patch("/_mock/config", json=changes)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Bodies of the events recorded by the receiver, in arrival order."""
        records = []
        for path in sorted(self.out_dir.glob("events-*.jsonl")):
            records.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
        records.sort(key=lambda r: int(r["recv_ns"]))
        bodies = [r["body"] for r in records if r.get("endpoint") == "incoming"]
        return [b for b in bodies if kind is None or b.get("event") == kind]

    def calls(self, kind: str) -> list[dict[str, Any]]:
        records = []
        for path in sorted(self.out_dir.glob("calls-*.jsonl")):
            records.extend(orjson.loads(line) for line in path.read_bytes().splitlines() if line)
        return [r for r in records if r["kind"] == kind]

    def wait_until(
        self, condition: Callable[[], bool], timeout_s: float = 15.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; ledger: {self.ledger()}")

    def settle(self, timeout_s: float = 15.0) -> dict[str, Any]:
        """Wait until no reply is buffered or in progress; returns the ledger."""

        def quiet() -> bool:
            gauges = self.ledger()["gauges"]
            return gauges["replies_in_progress"] == 0 and gauges["buffered_enqueues"] == 0

        time.sleep(0.05)
        self.wait_until(quiet, timeout_s, "the mock to settle")
        return self.ledger()


StackFactory = Callable[..., Stack]


@pytest.fixture
def make_stack(tmp_path: Path) -> Iterator[StackFactory]:
    """``make_stack(**model_overrides)`` starts a receiver and a mock wired to it."""
    started: list[BackgroundServer] = []
    stacks: list[Stack] = []

    def factory(**overrides: Any) -> Stack:
        out_dir = tmp_path / f"receiver-{len(stacks)}"
        receiver = BackgroundServer(create_receiver_app(ReceiverSettings(out_dir=out_dir)))
        receiver.start()
        started.append(receiver)
        data = merge(QUIET_MODEL, overrides)
        data["endpoints"] = {
            "incoming_content_url": f"{receiver.url}/incoming",
            "profile_url": f"{receiver.url}/profile",
            "chat_history_url": f"{receiver.url}/chat-history",
            "memory_webhook_url": f"{receiver.url}/memory",
        }
        mock = BackgroundServer(create_mock_app(MockConfig.model_validate(data), [TOKEN]))
        mock.start()
        started.append(mock)
        stack = Stack(out_dir, receiver, mock)
        stacks.append(stack)
        return stack

    yield factory
    for stack in stacks:
        stack.client.close()
    for server in reversed(started):
        server.stop()
