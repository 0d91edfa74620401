"""``make run`` until the traffic issue lands: mock and receiver on loopback, one example request.

Starts both servers on free ports, sends the enqueue reference's example, and prints every
event the receiver records until the conversation ends (answered or dropped) or time runs out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson

from dumgum_loadtest.errors import TargetError
from dumgum_loadtest.examples import reference_example
from dumgum_loadtest.mock import DEFAULT_TOKEN, ENQUEUE_PATH, MockSettings, create_mock_app
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.serving import BackgroundServer

POLL_INTERVAL_S = 0.05


def demo_request() -> dict[str, Any]:
    """The reference example with readable ids and a correlation tag."""
    body = reference_example()
    body["userProfileId"] = "demo-user-1"
    body["personaProfileId"] = "demo-persona-1"
    body["tags"] = {"harness": "demo", "request": "1"}
    return body


def read_events(out_dir: Path) -> list[dict[str, Any]]:
    """Every event the receiver recorded so far, in arrival order."""
    records = []
    for path in sorted(out_dir.glob("events-*.jsonl")):
        for line in path.read_bytes().splitlines():
            if line.strip():
                records.append(orjson.loads(line))
    records.sort(key=lambda record: int(record["recv_ns"]))
    return records


def describe_event(record: dict[str, Any], start_ns: int) -> str:
    body = record.get("body")
    offset_s = (int(record["recv_ns"]) - start_ns) / 1e9
    if not isinstance(body, dict):
        return f"+{offset_s:6.2f} s  (unparsable body) {body!r}"
    event = body.get("event", "?")
    data = body.get("data") or {}
    answer = data.get("answer") if isinstance(data, dict) else None
    if isinstance(answer, dict):
        detail = (
            f"id={answer.get('id')} seq={answer.get('sequenceNumber')}"
            f" cost={answer.get('cost')} stop={answer.get('conversationStopReason')}"
            f" text={answer.get('text')!r}"
        )
    else:
        detail = f"tags={data.get('tags')}" if isinstance(data, dict) else ""
    return f"+{offset_s:6.2f} s  {event:<22} {detail}"


def run_demo(
    out_dir: Path,
    time_scale: float = 0.2,
    timeout_s: float = 60.0,
    echo: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Run the demo; returns the recorded events. Raises TargetError if nothing terminal came."""
    out_dir.mkdir(parents=True, exist_ok=True)
    receiver = BackgroundServer(create_receiver_app(ReceiverSettings(out_dir=out_dir)))
    with receiver:
        settings = MockSettings(
            time_scale=time_scale,
            seed=1,
            incoming_content_url=f"{receiver.url}/incoming",
            profile_url=f"{receiver.url}/profile",
            chat_history_url=f"{receiver.url}/chat-history",
            memory_webhook_url=f"{receiver.url}/memory",
        )
        mock = BackgroundServer(create_mock_app(settings.mock_config(), [DEFAULT_TOKEN]))
        with mock:
            echo(f"mock DumGum      {mock.url}  (time scale {time_scale})")
            echo(f"customer side    {receiver.url}  (records to {out_dir})")
            body = demo_request()
            start_ns = time.time_ns()
            with httpx.Client(base_url=mock.url, timeout=10.0) as client:
                response = client.post(
                    ENQUEUE_PATH, json=body, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
                )
                echo(f"POST {ENQUEUE_PATH} -> {response.status_code}")
                if response.status_code != 204:
                    raise TargetError(f"the mock refused the example: {response.text}")
                events = _wait_for_end(out_dir, start_ns, timeout_s, echo)
                ledger = client.get(
                    "/_mock/ledger", headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}
                ).json()
            calls = (
                f"{ledger['chat_history_calls']} chat-history, {ledger['profile_calls']} profile"
            )
            echo(f"DumGum called the customer: {calls}; replies {ledger['replies']}")
            echo(
                f"billed replies {ledger['billed_replies']}, cost {ledger['cost']['total_eur']} EUR"
            )
    return events


def _wait_for_end(
    out_dir: Path, start_ns: int, timeout_s: float, echo: Callable[[str], None]
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    shown = 0
    events: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        events = read_events(out_dir)
        for record in events[shown:]:
            echo(describe_event(record, start_ns))
        shown = len(events)
        if any(_is_terminal(record) for record in events):
            time.sleep(POLL_INTERVAL_S * 4)  # let trailing events (memory) arrive
            for record in read_events(out_dir)[shown:]:
                echo(describe_event(record, start_ns))
            return read_events(out_dir)
        time.sleep(POLL_INTERVAL_S)
    raise TargetError(f"no answer.created or conversation.dropped within {timeout_s} s")


def _is_terminal(record: dict[str, Any]) -> bool:
    body = record.get("body")
    return isinstance(body, dict) and body.get("event") in (
        "answer.created",
        "conversation.dropped",
    )
