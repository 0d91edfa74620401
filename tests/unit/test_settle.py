"""Settling after the load, on a fake clock: when it may end, and what it says when it stops.

The clock is simulated (no sleeping), so each test states what a run would observe: a
ledger that cannot be read, follow-ups still arriving, a bound, a signal, a dead receiver.
"""

from __future__ import annotations

from pathlib import Path

from dumgum_loadtest.settle import SettleEnd, possibly_receiving, settle


class FakeClock:
    def __init__(self) -> None:
        self.now_s = 0.0

    def __call__(self) -> float:
        return self.now_s

    def sleep(self, duration_s: float) -> None:
        self.now_s += duration_s


class Arrivals:
    """Bytes the receiver has recorded: grows at each of ``at_s`` (events arriving)."""

    def __init__(self, clock: FakeClock, at_s: list[float]) -> None:
        self.clock = clock
        self.at_s = at_s

    def __call__(self) -> int:
        return sum(1 for t in self.at_s if t <= self.clock.now_s)


def run_settle(
    clock: FakeClock,
    *,
    target_idle: object = True,
    arrivals_s: list[float] | None = None,
    bound_s: float = 60.0,
    quiet_period_s: float = 10.0,
    stop_at_s: float | None = None,
    stop_as: SettleEnd = "interrupted",
) -> tuple[SettleEnd, float, int]:
    def idle() -> bool | None:
        value = target_idle(clock.now_s) if callable(target_idle) else target_idle
        assert value is None or isinstance(value, bool)
        return value

    def stop() -> SettleEnd | None:
        return stop_as if stop_at_s is not None and clock.now_s >= stop_at_s else None

    result = settle(
        bound_s=bound_s,
        quiet_period_s=quiet_period_s,
        target_idle=idle,
        recorded=Arrivals(clock, arrivals_s or []),
        stop=stop,
        idle_ends_as="all_resolved",
        interval_s=0.5,
        clock=clock,
        sleep=clock.sleep,
    )
    return result.ended_by, result.waited_s, result.target_unreadable


def test_a_ledger_that_cannot_be_read_is_never_taken_for_quiet() -> None:
    # The mock past saturation answers its ledger too late: settling must wait to its bound.
    clock = FakeClock()
    ended_by, waited_s, unreadable = run_settle(clock, target_idle=None, bound_s=32.0)
    assert ended_by == "bound"
    assert waited_s >= 32.0
    assert unreadable > 0


def test_the_ledger_readable_again_ends_settling_once_quiet() -> None:
    clock = FakeClock()
    ended_by, waited_s, unreadable = run_settle(
        clock, target_idle=lambda now_s: None if now_s < 15 else True, bound_s=32.0
    )
    assert ended_by == "all_resolved"
    assert 15 <= waited_s < 32
    assert unreadable > 0


def test_follow_ups_still_arriving_keep_settling_open() -> None:
    # Every request has its first answer from the start, but split replies' follow-ups keep
    # arriving 6 s apart: settling ends only after 10 s without anything recorded.
    clock = FakeClock()
    arrivals = [1.0, 7.0, 13.0]
    ended_by, waited_s, _ = run_settle(clock, arrivals_s=arrivals, quiet_period_s=10.0)
    assert ended_by == "all_resolved"
    assert waited_s >= arrivals[-1] + 10.0


def test_a_target_still_working_holds_settling_even_when_quiet() -> None:
    clock = FakeClock()
    ended_by, waited_s, _ = run_settle(
        clock, target_idle=lambda now_s: now_s >= 20, quiet_period_s=2.0
    )
    assert ended_by == "all_resolved"
    assert waited_s >= 20


def test_events_arriving_until_the_bound_end_settling_at_the_bound() -> None:
    clock = FakeClock()
    arrivals = [float(t) for t in range(0, 100, 3)]
    ended_by, waited_s, _ = run_settle(clock, arrivals_s=arrivals, bound_s=30.0)
    assert ended_by == "bound"
    assert waited_s >= 30


def test_a_stop_request_ends_settling_at_once() -> None:
    clock = FakeClock()
    for reason in ("interrupted", "receiver_died"):
        ended_by, waited_s, _ = run_settle(
            clock, target_idle=False, stop_at_s=clock.now_s + 3, stop_as=reason
        )
        assert ended_by == reason
        assert waited_s < 60


def _event_line(recv_ns: int, event: str, user: str) -> str:
    import json

    data = {"projectId": "p", "userProfileId": user, "personaProfileId": "persona"}
    if event == "answer.created":
        data = {"projectId": "p", "answer": {**data, "id": f"a-{recv_ns}", "sequenceNumber": 0}}
    record = {"recv_ns": recv_ns, "endpoint": "incoming", "status": 204}
    return json.dumps({**record, "body": {"event": event, "data": data}}) + "\n"


def test_possibly_receiving_counts_recent_and_awaited_conversations(tmp_path: Path) -> None:
    s = 1_000_000_000
    end_ns = 1_000 * s
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = [
        _event_line(end_ns - 60 * s, "answer.processing", "done"),  # answered long ago
        _event_line(end_ns - 59 * s, "answer.created", "done"),
        _event_line(end_ns - 40 * s, "answer.processing", "waiting"),  # no message after it
        _event_line(end_ns - 50 * s, "answer.processing", "recent"),
        _event_line(end_ns - 3 * s, "answer.created", "recent"),  # inside the quiet period
    ]
    (raw / "events-1.jsonl").write_text("".join(lines))
    assert possibly_receiving(tmp_path, end_ns, quiet_period_s=10.0) == 2
    assert possibly_receiving(tmp_path, end_ns + 60 * s, quiet_period_s=10.0) == 1
