"""The open model's plan: offered rate per stage, stage switches, bursts, determinism."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter, defaultdict
from typing import Any

import pytest

from dumgum_loadtest.scenarios.model import Scenario, parse_scenario
from dumgum_loadtest.scenarios.schedule import (
    WARMUP_STAGE,
    PlannedSend,
    WorkerSchedule,
    expected_messages_per_turn,
    stage_windows,
    time_scale_for,
)
from dumgum_loadtest.schema.enums import Engage

TIME_SCALE = 0.01
BURSTS = {1: 0.5, 2: 0.3, 3: 0.2}


def scenario(**overrides: Any) -> Scenario:
    data: dict[str, Any] = {
        "name": "plan",
        "seed": 11,
        "arrival": {
            "model": "open",
            "stages": [
                {"name": "low", "duration_s": 30, "rate_rps": 200},
                {"name": "high", "duration_s": 30, "rate_rps": 800},
            ],
        },
        "conversation": {
            "burst_size": BURSTS,
            "burst_gap_s": {"kind": "uniform", "low_s": 0.5, "high_s": 3.0},
            "engage_share": 0.1,
        },
        "population": {"users": 5000, "personas": 100},
        "mock": {"time_scale": TIME_SCALE},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return parse_scenario(data, "test")


def plan(sc: Scenario, workers: int = 1, seed: int | None = None) -> list[PlannedSend]:
    return [send for index in range(workers) for send in WorkerSchedule(sc, index, workers, seed)]


def second_moment_per_turn(sc: Scenario) -> float:
    share = sc.conversation.engage_share
    total = sum(BURSTS.values())
    return share + (1 - share) * sum(k * k * w for k, w in BURSTS.items()) / total


def test_expected_messages_per_turn() -> None:
    sc = scenario()
    mean_burst = 1 * 0.5 + 2 * 0.3 + 3 * 0.2
    assert expected_messages_per_turn(sc) == pytest.approx(0.1 + 0.9 * mean_burst)


@pytest.mark.parametrize("workers", [1, 3])
def test_offered_rate_per_stage_matches_within_statistical_bounds(workers: int) -> None:
    sc = scenario()
    sends = plan(sc, workers)
    counts = Counter(send.stage_name for send in sends)
    # Messages per stage are a compound Poisson sum: var = turns x E[k^2].
    mean_k = expected_messages_per_turn(sc)
    for name, rate_rps, duration_s in (("low", 200, 30), ("high", 800, 30)):
        expected = rate_rps * duration_s
        sigma = math.sqrt(expected / mean_k * second_moment_per_turn(sc))
        assert abs(counts[name] - expected) < 5 * sigma, (name, counts[name], expected)


def test_constant_process_is_evenly_spaced_and_exact() -> None:
    sc = scenario(
        arrival={"process": "constant", "stages": None, "rate_rps": 50},
        duration_s=10,
        conversation={"burst_size": {1: 1.0}, "engage_share": 0.0},
    )
    sends = plan(sc)
    assert len(sends) == 500
    gaps = {
        round(b.intended_offset_s - a.intended_offset_s, 9) for a, b in itertools.pairwise(sends)
    }
    assert gaps == {0.02}
    assert {send.stage_name for send in sends} == {"steady"}


def test_workers_interleave_on_a_constant_process() -> None:
    sc = scenario(
        arrival={"process": "constant", "stages": None, "rate_rps": 40},
        duration_s=1,
        conversation={"burst_size": {1: 1.0}, "engage_share": 0.0},
    )
    offsets = sorted(send.intended_offset_s for send in plan(sc, workers=2))
    assert len(offsets) == 40
    assert max(b - a for a, b in itertools.pairwise(offsets)) == pytest.approx(0.025)


def test_stages_switch_at_their_offsets() -> None:
    sc = scenario(
        arrival={
            "stages": [
                {"name": "on", "duration_s": 10, "rate_rps": 300},
                {"name": "off", "duration_s": 5, "rate_rps": 0},
                {"name": "spike", "duration_s": 2, "rate_rps": 3000},
                {"duration_s": 3, "rate_rps": 100},
            ]
        }
    )
    windows = stage_windows(sc)
    assert [(w.name, w.start_s, w.end_s) for w in windows] == [
        ("on", 0, 10),
        ("off", 10, 15),
        ("spike", 15, 17),
        ("stage-4", 17, 20),
    ]
    sends = plan(sc, workers=2)
    for send in sends:
        window = next(w for w in windows if w.start_s <= send.intended_offset_s < w.end_s)
        assert send.stage_name == window.name
    # Nothing starts in the silent stage; only burst tails may spill into its first seconds.
    max_tail_s = 2 * 3.0 * TIME_SCALE
    silent = [s for s in sends if s.stage_name == "off"]
    assert all(s.burst_index > 0 and s.intended_offset_s < 10 + max_tail_s for s in silent)
    per_second = Counter(int(s.intended_offset_s) for s in sends)
    assert per_second[15] + per_second[16] > 4000  # the spike is where it should be
    assert max(s.intended_offset_s for s in sends) < 20


def test_warmup_is_the_first_seconds_of_the_run_at_the_first_rate() -> None:
    sc = scenario(warmup_s=5)
    windows = stage_windows(sc)
    assert [(w.name, w.start_s, w.end_s, w.rate_rps) for w in windows[:3]] == [
        (WARMUP_STAGE, 0, 5, 200),
        ("low", 5, 30, 200),
        ("high", 30, 60, 800),
    ]
    sends = plan(sc)
    assert all((s.stage_name == WARMUP_STAGE) == (s.intended_offset_s < 5) for s in sends)


def test_bursts_share_a_pair_and_stay_inside_the_buffer_window() -> None:
    sc = scenario()
    turns: dict[tuple[str, int], list[PlannedSend]] = defaultdict(list)
    for send in plan(sc, workers=2):
        turns[(send.conversation_id, send.turn)].append(send)
    buffer_window_s = 5 * TIME_SCALE  # bufferSeconds "5", scaled like the gaps
    seen_sizes = Counter()
    for sends in turns.values():
        first = sends[0]
        seen_sizes[first.burst_size] += 1
        assert [s.burst_index for s in sends] == list(range(len(sends)))
        assert len(sends) == first.burst_size or sends[-1].intended_offset_s > 59  # run ended
        assert {(s.user_id, s.persona_id, s.burst_size, s.engage) for s in sends} == {
            (first.user_id, first.persona_id, first.burst_size, first.engage)
        }
        for a, b in itertools.pairwise(sends):
            gap_s = b.intended_offset_s - a.intended_offset_s
            assert 0.5 * TIME_SCALE <= gap_s <= 3.0 * TIME_SCALE < buffer_window_s
    assert set(seen_sizes) == {1, 2, 3}
    # A conversation takes its next turn only once its burst is over (idle ones exist here).
    by_conversation: dict[str, list[list[PlannedSend]]] = defaultdict(list)
    for (conversation_id, _), sends in sorted(turns.items(), key=lambda item: item[0][1]):
        by_conversation[conversation_id].append(sends)
    for bursts in by_conversation.values():
        for earlier, later in itertools.pairwise(bursts):
            assert later[0].intended_offset_s >= earlier[-1].intended_offset_s


def test_engage_turns_are_single_sends_of_the_configured_types() -> None:
    sc = scenario(conversation={"engage_share": 0.3, "engage_types": {"NUDGE": 1, "REVIVE": 3}})
    sends = plan(sc)
    engaged = [s for s in sends if s.engage is not None]
    assert all(s.burst_size == 1 and s.burst_index == 0 for s in engaged)
    kinds = Counter(s.engage for s in engaged)
    assert set(kinds) == {Engage.NUDGE, Engage.REVIVE}
    assert 0.7 < kinds[Engage.REVIVE] / len(engaged) < 0.8
    turns = {(s.conversation_id, s.turn) for s in sends}
    assert 0.27 < len({(s.conversation_id, s.turn) for s in engaged}) / len(turns) < 0.33


def test_conversations_take_consecutive_turns_then_new_pairs_replace_them() -> None:
    sc = scenario(conversation={"turns": {2: 0.5, 4: 0.5}}, population={"active_conversations": 50})
    sends = plan(sc)
    turns_by_conversation: dict[str, set[int]] = defaultdict(set)
    pair_of: dict[str, tuple[str, str]] = {}
    for send in sends:
        turns_by_conversation[send.conversation_id].add(send.turn)
        assert pair_of.setdefault(send.conversation_id, (send.user_id, send.persona_id)) == (
            send.user_id,
            send.persona_id,
        )
    finished = [t for t in turns_by_conversation.values() if max(t) < 60]
    assert all(t == set(range(len(t))) and len(t) <= 4 for t in finished)
    assert len(turns_by_conversation) > 1000  # conversations end and new pairs come in
    # At most active_conversations pairs are in play: the first 50 starts happen before any
    # conversation number 51 appears.
    first_seen = list(dict.fromkeys(send.conversation_id for send in sends))
    assert first_seen[:50] == [f"0-c{n}" for n in range(50)]


def test_workers_never_share_a_user_or_an_id() -> None:
    sc = scenario(population={"users": 100})
    users_by_worker = [{s.user_id for s in WorkerSchedule(sc, index, 3)} for index in range(3)]
    assert not users_by_worker[0] & users_by_worker[1]
    assert not users_by_worker[1] & users_by_worker[2]
    conversations = [
        {s.conversation_id for s in WorkerSchedule(sc, index, 3)} for index in range(3)
    ]
    assert not conversations[0] & conversations[1]


def test_the_plan_is_deterministic_for_a_seed() -> None:
    sc = scenario()
    schedule = WorkerSchedule(sc, 1, 2)
    assert list(schedule) == list(schedule) == list(WorkerSchedule(sc, 1, 2))
    assert list(WorkerSchedule(sc, 1, 2, seed=12))[:50] != list(schedule)[:50]
    assert list(WorkerSchedule(sc, 0, 2))[:50] != list(schedule)[:50]


def test_the_plan_is_lazy() -> None:
    sc = scenario(arrival={"stages": [{"duration_s": 1e9, "rate_rps": 1e4}]})
    started = time.perf_counter()
    first = list(itertools.islice(WorkerSchedule(sc, 0, 1), 1000))
    assert time.perf_counter() - started < 1.0
    assert all(a.intended_offset_s <= b.intended_offset_s for a, b in itertools.pairwise(first))


def test_a_rate_beyond_what_the_workers_can_schedule_is_refused() -> None:
    # rate_rps 1e9 for 3 s planned 3e9 sends, each recorded "not sent": the run never ended.
    sc = scenario(arrival={"stages": [{"duration_s": 3, "rate_rps": 30_000}]})
    with pytest.raises(ValueError, match=r"30000 requests/s over 2 worker\(s\).*10,000/s"):
        WorkerSchedule(sc, 0, 2)
    assert next(iter(WorkerSchedule(sc, 0, 3))).intended_offset_s < 3


def test_time_scale_is_the_mock_s_for_the_mock_and_real_time_for_a_url() -> None:
    assert time_scale_for(scenario()) == TIME_SCALE
    assert time_scale_for(scenario(target="https://api.example.com")) == 1.0
    assert time_scale_for(scenario().model_copy(update={"mock": {}})) == 1.0


def test_a_closed_model_has_no_open_schedule() -> None:
    sc = parse_scenario({"name": "c", "arrival": {"model": "closed", "users": 3}}, "test")
    with pytest.raises(ValueError, match="closed model"):
        WorkerSchedule(sc, 0, 1)
    with pytest.raises(ValueError, match="worker_index"):
        WorkerSchedule(scenario(), 2, 2)


def test_the_plan_does_not_depend_on_the_order_of_keys_in_the_file() -> None:
    turns = {1: 0.3, 3: 0.3, 6: 0.25, 12: 0.15}
    shuffled = {12: 0.15, 3: 0.3, 1: 0.3, 6: 0.25}
    first = list(WorkerSchedule(scenario(conversation={"turns": turns}), 0, 1))
    second = list(WorkerSchedule(scenario(conversation={"turns": shuffled}), 0, 1))
    assert first == second
