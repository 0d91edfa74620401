"""How Locust's users stop: the request each is in finishes and is recorded with its status,
nothing new is sent, and every record is written before Locust's main process exits.

The mock answers each enqueue seconds late, so at the stop most users are mid-request.
"""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.conftest import TOKEN, Stack, StackFactory
from tests.integration.test_loadtest_locust import make_scenario, progress, records

from dumgum_loadtest.loadtest.command import TOKEN_ENV, locust_command
from dumgum_loadtest.loadtest.sends import STOPPED_BEFORE_RESPONSE, STOPPED_BEFORE_SEND
from dumgum_loadtest.processes import child_env
from dumgum_loadtest.records import NOT_SENT, SENT, TRANSPORT_ERROR
from dumgum_loadtest.scenarios.model import Scenario

pytestmark = pytest.mark.integration


def slow_enqueues(latency_s: float) -> dict[str, Any]:
    """Mock settings: every enqueue answers ``latency_s`` late (not time-scaled)."""
    return {"faults": {"enqueue_added_latency_s": {"kind": "constant", "value_s": latency_s}}}


CONVERSATION = {
    "burst_size": {1: 0.5, 2: 0.5},
    "burst_gap_s": {"kind": "constant", "value_s": 5.0},  # x 0.01: 50 ms
    "think_time_s": {"kind": "constant", "value_s": 5.0},
    "turns": {20: 1.0},
    "engage_share": 0.0,
}


def check_every_received_request_is_sent(stack: Stack, rows: list[dict[str, Any]]) -> None:
    """What the target received is exactly what is recorded SENT, each with its status; the
    rest never left (not sent); nothing was cut off in flight."""
    assert not [row for row in rows if row["send_state"] not in (SENT, NOT_SENT)], rows
    sent = [row for row in rows if row["send_state"] == SENT]
    assert all(row["status"] == 204 and row["response_ns"] for row in sent)
    assert stack.ledger()["enqueues_received"] == len(sent) > 0
    assert len({row["request_id"] for row in rows}) == len(rows)


def test_workers_finish_their_requests_in_flight_before_the_master_exits(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    """With worker processes, Locust's master exits a second after telling its workers to
    quit, whatever they still do; the run takes the master's exit for the end of the load
    (reads the records, stops the mock), so every record must be written by then."""
    # Every user is in its first request at the stop, and it ends two seconds later: after
    # the master's own second.
    stack = make_stack(**slow_enqueues(4.0))
    scenario = make_scenario(
        {"model": "closed", "users": 4, "spawn_rate_per_s": 100},
        duration_s=2,
        conversation=CONVERSATION,
    )
    # As the run starts it: output to a file, so only the master's own exit is waited for
    # (a pipe would also wait for the workers, which inherit it).
    run_dir, locust = _start(tmp_path, stack, scenario, workers=2)
    assert locust.wait(timeout=60) == 0, (tmp_path / "locust.log").read_text()
    rows = records(run_dir)  # at once: no waiting for the workers here
    assert {row["worker"] for row in rows} == {"0", "1"}
    check_every_received_request_is_sent(stack, rows)
    # the last responses came after the stop (so they were in flight at it)
    stop_by_ns = min(row["intended_ns"] for row in rows) + 2 * 1_000_000_000
    assert max(row["response_ns"] or 0 for row in rows) > stop_by_ns


def _start(
    tmp_path: Path, stack: Stack, scenario: Scenario, workers: int = 1
) -> tuple[Path, subprocess.Popen[bytes]]:
    """Locust started as the run starts it, its output in ``tmp_path/locust.log``."""
    run_dir = tmp_path / "run"
    scenario_path = tmp_path / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario.model_dump(mode="json")))
    argv = locust_command(
        scenario_path=scenario_path,
        run_dir=run_dir,
        run_id="stop-run",
        target_url=stack.mock.url,
        receiver_url=stack.receiver.url,
        workers=workers,
        scenario=scenario,
        force_test_mode=False,
    )
    with (tmp_path / "locust.log").open("wb") as log:
        process = subprocess.Popen(
            argv, env=child_env(**{TOKEN_ENV: TOKEN}), stdout=log, stderr=subprocess.STDOUT
        )
    return run_dir, process


def _progress_sent(run_dir: Path) -> int:
    try:
        document = orjson.loads((run_dir / "raw" / "progress-0.json").read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return 0
    return int(document.get("sent", 0))


def _stop_midway(tmp_path: Path, stack: Stack, scenario: Scenario, sent: int = 6) -> Path:
    """Start a long run, stop it (SIGTERM, as the run does at its spend cap) once ``sent``
    requests went out, and wait for Locust to end: it must end long before the scenario."""
    run_dir, locust = _start(tmp_path, stack, scenario)
    try:
        deadline = time.monotonic() + 60
        while _progress_sent(run_dir) < sent and time.monotonic() < deadline:
            time.sleep(0.1)
        assert locust.poll() is None, "Locust ended before it was stopped"
        locust.send_signal(signal.SIGTERM)
        locust.wait(timeout=60)  # the scenario lasts 120 s
    finally:
        if locust.poll() is None:
            locust.kill()
            locust.wait()
    output = (tmp_path / "locust.log").read_text()
    assert "Traceback" not in output, output
    return run_dir


@pytest.mark.parametrize("model", ["open", "closed"])
def test_a_stopped_run_finishes_what_is_in_flight_and_sends_nothing_more(
    make_stack: StackFactory, tmp_path: Path, model: str
) -> None:
    # Longer than the open model used to give the requests in flight at a stop (2 s); well
    # within the stop timeout (10 s).
    stack = make_stack(**slow_enqueues(3.0))
    if model == "open":
        arrival: dict[str, Any] = {"model": "open", "rate_rps": 4, "max_in_flight": 50}
    else:
        arrival = {"model": "closed", "users": 4, "spawn_rate_per_s": 100}
    scenario = make_scenario(arrival, duration_s=120, conversation=CONVERSATION)
    run_dir = _stop_midway(tmp_path, stack, scenario)
    time.sleep(0.5)  # a request sent just before Locust exited has reached the mock by now
    rows = records(run_dir)
    check_every_received_request_is_sent(stack, rows)
    # Nothing left after the stop; sends planned after it were never scheduled (no record),
    # although the requests in flight kept the user for seconds after it.
    stopping_ns = progress(run_dir)["stopping_ns"]
    assert stopping_ns > 0
    assert all(row["sent_ns"] <= stopping_ns for row in rows if row["send_state"] == SENT)
    not_sent = [row for row in rows if row["send_state"] == NOT_SENT]
    assert all(row["error"] == STOPPED_BEFORE_SEND for row in not_sent)
    assert all(row["intended_ns"] <= stopping_ns for row in not_sent)


@pytest.mark.parametrize("model", ["open", "closed"])
def test_a_request_still_in_flight_after_the_stop_timeout_is_a_transport_error(
    make_stack: StackFactory, tmp_path: Path, model: str
) -> None:
    """The stop waits for the requests in flight, but not forever: one without its response
    when the stop timeout ends is recorded as a transport error that says what happened."""
    stack = make_stack(**slow_enqueues(20.0))  # beyond the stop timeout (10 s)
    if model == "open":
        arrival: dict[str, Any] = {"model": "open", "rate_rps": 4, "max_in_flight": 50}
    else:
        arrival = {"model": "closed", "users": 4, "spawn_rate_per_s": 100}
    scenario = make_scenario(arrival, duration_s=120, conversation=CONVERSATION)
    rows = records(_stop_midway(tmp_path, stack, scenario, sent=4))
    cut = [row for row in rows if row["send_state"] == TRANSPORT_ERROR]
    assert len(cut) >= 4
    assert all(row["error"] == STOPPED_BEFORE_RESPONSE for row in cut)
    assert "stop timeout" in STOPPED_BEFORE_RESPONSE
    assert not [row for row in rows if row["send_state"] == SENT]  # none had its answer
    # they did reach the target, as the error says they may have
    assert stack.ledger()["enqueues_received"] == len(cut)
