"""Real headless Locust runs on loopback against the mock and the receiver (in threads).

Each run is the command line the orchestrator uses (``locust_command``), a few seconds long,
and ends on its own. They show: the open model keeps its schedule when responses are slow,
records late and unsent requests when its pool is too small, accounts every planned send
exactly once, and carries the ids in tags; a closed-model user waits for its answer; and
the options reach forked worker processes, which share one schedule origin.
"""

from __future__ import annotations

import itertools
import subprocess
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.conftest import TOKEN, Stack, StackFactory

from dumgum_loadtest.loadtest.command import TOKEN_ENV, locust_command
from dumgum_loadtest.processes import child_env
from dumgum_loadtest.records import NOT_SENT, SENT, TAG_REQUEST, TAG_RUN
from dumgum_loadtest.scenarios.model import Scenario, parse_scenario
from dumgum_loadtest.scenarios.schedule import PlannedSend, WorkerSchedule

pytestmark = pytest.mark.integration

TIME_SCALE = 0.01  # the stack's mock runs at conftest.QUIET_MODEL's time scale
SLOW_ENQUEUE = {"faults": {"enqueue_added_latency_s": {"kind": "constant", "value_s": 0.2}}}


def make_scenario(arrival: dict[str, Any], **data: Any) -> Scenario:
    base: dict[str, Any] = {
        "name": "locust-it",
        "seed": 3,
        "duration_s": 3,
        "arrival": arrival,
        "population": {"users": 500, "personas": 20},
        "conversation": {"burst_gap_s": {"kind": "uniform", "low_s": 0.5, "high_s": 3.0}},
        "mock": {"time_scale": TIME_SCALE},
    }
    base.update(data)
    return parse_scenario(base, "test")


def run_locust(
    tmp_path: Path, stack: Stack, scenario: Scenario, workers: int = 1
) -> tuple[Path, str]:
    """Run Locust to its end; returns the run directory and Locust's output."""
    run_dir = tmp_path / "run"
    scenario_path = tmp_path / "scenario.yaml"
    scenario_path.write_text(yaml.safe_dump(scenario.model_dump(mode="json")))
    argv = locust_command(
        scenario_path=scenario_path,
        run_dir=run_dir,
        run_id="it-run",
        target_url=stack.mock.url,
        receiver_url=stack.receiver.url,
        workers=workers,
        scenario=scenario,
        force_test_mode=False,
    )
    result = subprocess.run(
        argv,
        env=child_env(**{TOKEN_ENV: TOKEN}),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output, output
    assert TOKEN not in output
    return run_dir, output


def records(run_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((run_dir / "raw").glob("requests-*.jsonl")):
        rows.extend(orjson.loads(line) for line in path.read_bytes().splitlines())
    return rows


def progress(run_dir: Path, worker: str = "0") -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(
        (run_dir / "raw" / f"progress-{worker}.json").read_bytes()
    )
    return document


def key(send: PlannedSend | dict[str, Any]) -> tuple[str, int, int]:
    if isinstance(send, PlannedSend):
        return send.conversation_id, send.turn, send.burst_index
    return send["conversation_id"], send["turn"], send["burst_index"]


def check_follows_the_plan(rows: list[dict[str, Any]], plan: list[PlannedSend]) -> int:
    """Every planned send recorded exactly once, at its planned offset; returns the origin."""
    assert Counter(key(row) for row in rows) == Counter(key(send) for send in plan)
    by_key = {key(send): send for send in plan}
    first = by_key[key(rows[0])]
    start_ns = rows[0]["intended_ns"] - int(first.intended_offset_s * 1e9)
    for row in rows:
        planned = by_key[key(row)]
        assert abs(row["intended_ns"] - start_ns - planned.intended_offset_s * 1e9) < 2_000
        assert (row["user_id"], row["persona_id"]) == (planned.user_id, planned.persona_id)
        assert row["stage"] == planned.stage_name
    assert len({row["request_id"] for row in rows}) == len(rows)
    return start_ns


def lags_ms(rows: list[dict[str, Any]]) -> list[float]:
    return sorted((r["sent_ns"] - r["intended_ns"]) / 1e6 for r in rows if r["sent_ns"])


def test_open_model_keeps_its_schedule_against_a_slow_mock(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack()
    assert stack.patch_config(SLOW_ENQUEUE).status_code == 200
    scenario = make_scenario({"model": "open", "rate_rps": 80}, warmup_s=1)
    run_dir, output = run_locust(tmp_path, stack, scenario)
    rows = records(run_dir)
    plan = list(WorkerSchedule(scenario, 0, 1))
    assert len(plan) > 150
    check_follows_the_plan(rows, plan)
    assert {row["send_state"] for row in rows} == {SENT}
    assert {row["status"] for row in rows} == {204}
    # Every response took 0.2 s, yet the sends left on time: about 16 were in flight at once.
    assert min(r["response_ns"] - r["sent_ns"] for r in rows) >= 190_000_000
    lags = lags_ms(rows)
    assert lags[int(0.99 * len(lags))] < 25, lags[-10:]
    assert {row["stage"] for row in rows} == {"warmup", "steady"}
    document = progress(run_dir)
    assert document["done"] is True
    assert (document["scheduled"], document["sent"]) == (len(rows), len(rows))
    assert document["in_flight"] == 0 and document["not_sent"] == 0
    assert "enqueue" in output  # Locust's own statistics name the request

    # The ids travel in tags: the mock echoes them on the events the receiver records.
    stack.settle()
    ids = {row["request_id"] for row in rows}
    tagged = [
        event["data"]["answer"]["tags"]
        for event in stack.events("answer.created")
        if event["data"]["answer"].get("sequenceNumber", 0) == 0
    ]
    assert tagged
    assert all(tags[TAG_RUN] == "it-run" and tags[TAG_REQUEST] in ids for tags in tagged)


def test_a_tiny_pool_records_late_and_unsent_requests(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack()
    assert stack.patch_config(SLOW_ENQUEUE).status_code == 200
    arrival = {"model": "open", "rate_rps": 60, "max_in_flight": 2, "max_lateness_s": 0.5}
    scenario = make_scenario(arrival)
    run_dir, _ = run_locust(tmp_path, stack, scenario)
    rows = records(run_dir)
    check_follows_the_plan(rows, list(WorkerSchedule(scenario, 0, 1)))
    sent = [row for row in rows if row["send_state"] == SENT]
    not_sent = [row for row in rows if row["send_state"] == NOT_SENT]
    assert len(sent) + len(not_sent) == len(rows)
    # Two slots of 0.2 s serve 10 requests/s of the 60 offered; the rest wait, then give up.
    assert 15 <= len(sent) <= 45
    assert len(not_sent) > len(rows) / 2
    assert all(row["sent_ns"] is None and row["status"] is None for row in not_sent)
    assert all("behind schedule" in row["error"] for row in not_sent)
    late = [lag for lag in lags_ms(rows) if lag > 10]
    assert len(late) > len(sent) / 2
    assert max(lags_ms(rows)) <= 500 + 5  # none left later than max_lateness_s
    document = progress(run_dir)
    assert document["scheduled"] == len(rows)
    assert (document["sent"], document["not_sent"]) == (len(sent), len(not_sent))
    assert document["late"] == len(late) and document["pool_full"] > 0
    assert document["lag_max_ms"] > 10


def test_a_closed_model_user_waits_for_its_answer(make_stack: StackFactory, tmp_path: Path) -> None:
    stack = make_stack()
    think_s = 10.0  # x 0.01: 100 ms between an answer and the next turn
    scenario = make_scenario(
        {"model": "closed", "users": 3, "spawn_rate_per_s": 100},
        conversation={
            "burst_size": {1: 0.5, 2: 0.5},
            "burst_gap_s": {"kind": "constant", "value_s": 1.0},
            "think_time_s": {"kind": "constant", "value_s": think_s},
            "turns": {4: 1.0},
            "engage_share": 0.0,
        },
    )
    run_dir, output = run_locust(tmp_path, stack, scenario)
    rows = records(run_dir)
    by_id = {row["request_id"]: row for row in rows}
    turns = [
        orjson.loads(line) for line in (run_dir / "raw" / "turns-0.jsonl").read_bytes().splitlines()
    ]
    answered = [turn for turn in turns if turn["outcome"] == "answered"]
    assert len(answered) >= 6
    assert {turn["outcome"] for turn in turns} <= {"answered", "stopped"}
    # Every request of every turn has its record, and each record belongs to one turn.
    turn_ids = [request_id for turn in turns for request_id in turn["request_ids"]]
    assert sorted(turn_ids) == sorted(by_id)
    by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for turn in turns:
        by_conversation[turn["conversation_id"]].append(turn)
    follow_ups = 0
    for conversation in by_conversation.values():
        conversation.sort(key=lambda turn: turn["turn"])
        for previous, following in itertools.pairwise(conversation):
            assert previous["outcome"] == "answered"
            first = by_id[following["request_ids"][0]]
            # The next turn was meant for think time after the answer arrived, and not before.
            expected_ns = previous["event_recv_ns"] + int(think_s * TIME_SCALE * 1e9)
            assert first["intended_ns"] == expected_ns
            if first["send_state"] == NOT_SENT:
                # due as Locust stopped (its stop blocks the loop for a moment): never left
                assert following["outcome"] == "stopped"
                continue
            assert first["sent_ns"] >= expected_ns
            follow_ups += 1
    assert follow_ups >= 3
    # The receive times the users waited on are the receiver's own, for their own pair.
    received = set()
    for path in stack.out_dir.glob("events-*.jsonl"):
        for line in path.read_bytes().splitlines():
            event = orjson.loads(line)
            answer = event["body"]["data"].get("answer")
            if event["body"]["event"] == "answer.created" and answer["sequenceNumber"] == 0:
                received.add(
                    (answer["userProfileId"], answer["personaProfileId"], event["recv_ns"])
                )
    for turn in answered:
        assert (turn["user_id"], turn["persona_id"], turn["event_recv_ns"]) in received
        assert turn["event_recv_ns"] > by_id[turn["request_ids"][0]]["sent_ns"]
    assert "answer" in output  # the waits show in Locust's statistics


def test_options_reach_forked_workers_which_share_the_schedule_origin(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack()
    scenario = make_scenario(
        {
            "model": "open",
            "stages": [
                {"duration_s": 1.5, "rate_rps": 60},
                {"duration_s": 1.5, "rate_rps": 120, "name": "up"},
            ],
        }
    )
    run_dir, _ = run_locust(tmp_path, stack, scenario, workers=2)
    rows = records(run_dir)
    assert {row["worker"] for row in rows} == {"0", "1"}
    assert len({row["request_id"] for row in rows}) == len(rows)
    origins = []
    for index in range(2):
        mine = [row for row in rows if row["worker"] == str(index)]
        origins.append(check_follows_the_plan(mine, list(WorkerSchedule(scenario, index, 2))))
        assert all(row["request_id"].startswith(f"{index}-") for row in mine)
        assert progress(run_dir, str(index))["done"] is True
    assert origins[0] == origins[1]  # one origin: stages switch at the same instant
    assert {row["stage"] for row in rows} == {"steady", "up"} - {"steady"} | {"stage-1", "up"}


def test_a_closed_model_user_gives_up_at_the_deadline_and_registers_its_messages(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack()
    # Answers come after the buffer (5 s x 0.01) and generation (1 s x 0.01): 60 ms at least.
    scenario = make_scenario(
        {"model": "closed", "users": 2, "spawn_rate_per_s": 100, "answer_timeout_s": 0.02},
        duration_s=2,
        conversation={
            "burst_size": {1: 1.0},
            "turns": {3: 1.0},
            "engage_share": 0.0,
            "register_user_messages": True,
        },
    )
    run_dir, output = run_locust(tmp_path, stack, scenario)
    turns = [
        orjson.loads(line) for line in (run_dir / "raw" / "turns-0.jsonl").read_bytes().splitlines()
    ]
    gave_up = [turn for turn in turns if turn["outcome"] == "gave_up"]
    assert len(gave_up) >= 4
    for turn in gave_up:
        assert turn["turn"] == 0  # a user whose answer never came moves on to a new pair
        assert turn["deadline_ns"] - turn["wait_from_ns"] < 40_000_000
    assert progress(run_dir)["gave_up"] == len(gave_up)
    assert "gave up at the deadline" in output  # a failed wait in Locust's statistics
    # Each user message was registered with the receiver before its enqueue.
    first = records(run_dir)[0]
    history = stack.client.get(
        f"{stack.receiver.url}/chat-history",
        params={"userProfileId": first["user_id"], "personaProfileId": first["persona_id"]},
    ).json()
    ids = {message["id"] for message in history["messages"]}
    assert f"msg-{first['request_id']}" in ids
