"""The open model's plan: when each enqueue should leave, for which pair, turn and burst.

One worker's share of an open-model scenario, as a lazy, time-ordered iterator of
``PlannedSend``. Turns arrive as a Poisson (or evenly spaced) process per stage at
``rate_rps / (workers x expected messages per turn)``; a turn is an engage request (one send)
or a burst of k user messages at t, t + gap, ... (gaps scaled by the mock's time scale, so
they stay inside a buffer window scaled the same way). ``active_conversations / workers``
pairs are in play per worker, each for a number of turns drawn from ``conversation.turns``;
a finished conversation is replaced by a new pair. Memory is O(1) per pair in play and per
burst still sending; the same seed, worker index and worker count give the same plan.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

from dumgum_loadtest.scenarios.model import OpenArrival, Scenario
from dumgum_loadtest.scenarios.population import ScenarioPopulation
from dumgum_loadtest.schema.enums import Engage

WARMUP_STAGE = "warmup"
"""Stage name of the sends planned inside the scenario's ``warmup_s``."""

MAX_WORKER_RATE_RPS = 10_000.0
"""The most requests/s one worker process is asked to schedule. The README's benchmarks
measured about 8,700/s sent by one worker; past this, every planned send would be recorded
"not sent" as fast as the disk takes it, for far longer than the run."""

_PICK_ATTEMPTS = 8  # tries to find an idle conversation, or a pair not already in play

T = TypeVar("T")


class PlannedSend(NamedTuple):
    """One enqueue the schedule asks for; offsets are seconds from the run's origin."""

    intended_offset_s: float
    conversation_id: str
    turn: int  # 0-based turn of the conversation
    burst_index: int  # 0-based position inside the turn's burst
    burst_size: int
    user_id: str
    persona_id: str
    engage: Engage | None
    stage_name: str


@dataclass(frozen=True, slots=True)
class StageWindow:
    """A stretch of the run with one offered rate (all workers together)."""

    start_s: float
    end_s: float
    rate_rps: float
    name: str


def time_scale_for(scenario: Scenario) -> float:
    """The mock's time scale for the mock target; a real API runs in real time (1.0)."""
    if scenario.target != "mock":
        return 1.0
    return float(scenario.mock.get("time_scale", 1.0))


def stage_windows(scenario: Scenario) -> list[StageWindow]:
    """The run's stages on one time line; the first ``warmup_s`` are named ``warmup``.

    The warm-up is inside the run (``warmup_s`` < ``run_duration_s``): it keeps the rate of
    the stage it overlaps and only changes the name, so analysis can leave it out.
    """
    arrival = scenario.arrival
    if not isinstance(arrival, OpenArrival):
        raise ValueError(f"scenario {scenario.name!r} is a closed model: it has no stage plan")
    windows: list[StageWindow] = []
    start_s = 0.0
    for number, stage in enumerate(arrival.stage_plan(scenario.run_duration_s), start=1):
        name = stage.name or f"stage-{number}"
        end_s = start_s + stage.duration_s
        warm_end_s = min(max(scenario.warmup_s, start_s), end_s)
        if warm_end_s > start_s:
            windows.append(StageWindow(start_s, warm_end_s, stage.rate_rps, WARMUP_STAGE))
        if end_s > warm_end_s:
            windows.append(StageWindow(warm_end_s, end_s, stage.rate_rps, name))
        start_s = end_s
    return windows


def expected_messages_per_turn(scenario: Scenario) -> float:
    """engage_share x 1 + (1 - engage_share) x E[burst size]."""
    conversation = scenario.conversation
    weights = conversation.burst_size
    mean_burst = sum(size * w for size, w in weights.items()) / sum(weights.values())
    share = conversation.engage_share
    return share + (1.0 - share) * mean_burst


class _Categorical(Generic[T]):
    """Draw from value -> weight with one uniform number over cumulative weights.

    Values are taken in sorted order, so the plan does not depend on how the file ordered
    them (a YAML or JSON round trip reorders integer keys).
    """

    __slots__ = ("_cumulative", "_total", "_values")

    def __init__(self, weights: Mapping[T, float]) -> None:
        items = [(value, float(w)) for value, w in sorted(weights.items()) if w > 0]
        self._values = [value for value, _ in items]
        self._cumulative: list[float] = []
        running = 0.0
        for _, w in items:
            running += w
            self._cumulative.append(running)
        self._total = running

    def draw(self, rng: random.Random) -> T:
        u = rng.random() * self._total
        for value, bound in zip(self._values, self._cumulative, strict=True):
            if u < bound:
                return value
        return self._values[-1]


class _Conversation:
    """A pair in play: its slot, how many turns it has left, its place among the idle ones."""

    __slots__ = (
        "conversation_id",
        "idle_at",
        "next_turn",
        "persona_id",
        "retired",
        "slot",
        "turns_left",
        "user_id",
    )

    def __init__(
        self, slot: int, conversation_id: str, user_id: str, persona_id: str, turns: int
    ) -> None:
        self.slot = slot
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.persona_id = persona_id
        self.turns_left = turns
        self.next_turn = 0
        self.idle_at = -1  # index in _Plan.idle; -1 while a burst is sending (or retired)
        self.retired = False


class _BurstTail:
    """The sends of a burst still to come (their times drawn when the turn started)."""

    __slots__ = ("conversation", "next_index", "size", "times_s", "turn")

    def __init__(
        self, conversation: _Conversation, turn: int, size: int, times_s: list[float]
    ) -> None:
        self.conversation = conversation
        self.turn = turn
        self.size = size
        self.times_s = times_s  # of sends 1, 2, ... (those before the end of the run)
        self.next_index = 1


class WorkerSchedule:
    """One worker's planned sends, in time order; iterate once (``iter`` restarts the plan)."""

    def __init__(
        self,
        scenario: Scenario,
        worker_index: int,
        worker_count: int,
        seed: int | None = None,
        *,
        time_scale: float | None = None,
    ) -> None:
        if not 0 <= worker_index < worker_count:
            raise ValueError(f"worker_index {worker_index} outside 0..{worker_count - 1}")
        arrival = scenario.arrival
        if not isinstance(arrival, OpenArrival):
            raise ValueError(f"scenario {scenario.name!r} is a closed model: no open schedule")
        self.scenario = scenario
        self.arrival = arrival
        self.worker_index = worker_index
        self.worker_count = worker_count
        self.seed = scenario.seed if seed is None else seed
        self.time_scale = time_scale_for(scenario) if time_scale is None else time_scale
        self.windows = stage_windows(scenario)
        self.duration_s = self.windows[-1].end_s if self.windows else 0.0
        self.messages_per_turn = expected_messages_per_turn(scenario)
        peak = max((window.rate_rps for window in self.windows), default=0.0)
        if peak / worker_count > MAX_WORKER_RATE_RPS:
            raise ValueError(
                f"scenario {scenario.name!r}: a peak of {peak:g} requests/s over {worker_count}"
                f" worker(s) is more than one worker can schedule ({MAX_WORKER_RATE_RPS:,.0f}/s);"
                " lower the rate or add workers"
            )

    def turn_rate_per_s(self, window: StageWindow) -> float:
        """Turns per second this worker starts during ``window``."""
        return window.rate_rps / (self.worker_count * self.messages_per_turn)

    def __iter__(self) -> Iterator[PlannedSend]:
        return _Plan(self).sends()


class _Plan:
    """The state of one pass over a WorkerSchedule (kept apart so the schedule is reusable)."""

    def __init__(self, schedule: WorkerSchedule) -> None:
        scenario = schedule.scenario
        conversation = scenario.conversation
        self.schedule = schedule
        self.rng = random.Random(f"{schedule.seed}:schedule:{schedule.worker_index}")
        self.population = ScenarioPopulation(
            scenario.population, seed=schedule.seed, time_scale=schedule.time_scale
        )
        self.burst_sizes = _Categorical(conversation.burst_size)
        self.turns = _Categorical(conversation.turns)
        self.engage_types = _Categorical(conversation.engage_types)
        self.engage_share = conversation.engage_share
        self.gap = conversation.burst_gap_s
        self.label = str(schedule.worker_index)
        total = self.population.active_conversations
        share = total // schedule.worker_count + (
            1 if schedule.worker_index < total % schedule.worker_count else 0
        )
        self.in_play: list[_Conversation] = []  # by slot
        self.idle: list[_Conversation] = []  # in play, no burst sending: where turns go
        self.in_play_pairs: set[tuple[str, str]] = set()
        self.target_in_play = max(1, share)
        self.started = 0

    # Pairs

    def _pick_user(self) -> str:
        """A user of this worker's share (users ≡ worker mod workers), so workers never collide."""
        schedule, population = self.schedule, self.population
        users, workers = population.user_count, schedule.worker_count
        if users < workers:
            return population.pick_user(self.rng)
        mine = (users - schedule.worker_index + workers - 1) // workers
        return population.user_id(schedule.worker_index + workers * int(self.rng.random() * mine))

    def _new_conversation(self, slot: int, at_s: float) -> _Conversation:
        population = self.population
        for _ in range(_PICK_ATTEMPTS):
            pair = (self._pick_user(), population.pick_persona(self.rng, at_s))
            if pair not in self.in_play_pairs:
                break
        self.in_play_pairs.add(pair)
        turns = self.turns.draw(self.rng)
        conversation_id = f"{self.label}-c{self.started}"
        self.started += 1
        conversation = _Conversation(slot, conversation_id, pair[0], pair[1], turns)
        self._make_idle(conversation)
        return conversation

    def _make_idle(self, conversation: _Conversation) -> None:
        conversation.idle_at = len(self.idle)
        self.idle.append(conversation)

    def _make_busy(self, conversation: _Conversation) -> None:
        """Take ``conversation`` out of the idle list in O(1) (the last one fills its place)."""
        index = conversation.idle_at
        if index < 0:
            return
        last = self.idle.pop()
        if last is not conversation:
            self.idle[index] = last
            last.idle_at = index
        conversation.idle_at = -1

    def _conversation_for_turn(self, at_s: float) -> _Conversation:
        """An idle conversation in play (filled lazily); any one when all are mid-burst."""
        in_play = self.in_play
        if len(in_play) < self.target_in_play:
            conversation = self._new_conversation(len(in_play), at_s)
            in_play.append(conversation)
            return conversation
        pool = self.idle or in_play
        return pool[int(self.rng.random() * len(pool))]

    def _finish_turn(self, conversation: _Conversation, at_s: float) -> None:
        conversation.turns_left -= 1
        conversation.next_turn += 1
        if conversation.turns_left <= 0:
            self.in_play_pairs.discard((conversation.user_id, conversation.persona_id))
            self._make_busy(conversation)
            conversation.retired = True
            slot = conversation.slot
            self.in_play[slot] = self._new_conversation(slot, at_s)

    # Time

    def _burst_times_s(self, start_s: float, size: int) -> list[float]:
        """Times of sends 1..size-1 of a burst that starts at ``start_s``."""
        times_s: list[float] = []
        at_s = start_s
        for _ in range(size - 1):
            at_s += self.gap.sample_s(self.rng) * self.schedule.time_scale
            times_s.append(at_s)
        return times_s

    def _next_arrival_s(self, now_s: float, rate_per_s: float, first: bool) -> float:
        if self.schedule.arrival.process == "constant":
            interval_s = 1.0 / rate_per_s
            if first:  # workers interleave instead of sending in lockstep
                phase = (self.schedule.worker_index + 0.5) / self.schedule.worker_count
                return now_s + interval_s * phase
            return now_s + interval_s
        return now_s + self.rng.expovariate(rate_per_s)

    def sends(self) -> Iterator[PlannedSend]:
        windows = self.schedule.windows
        end_s = self.schedule.duration_s
        heap: list[tuple[float, int, _BurstTail]] = []
        order = 0  # heap tie-break: earlier pushes first
        window_index = 0  # the window of the next send's time (sends come in time order)
        next_turn_s, turn_window = self._first_turn_s(0)  # turn_window: where turns arrive
        while True:
            if heap and (next_turn_s is None or heap[0][0] <= next_turn_s):
                at_s, _, tail = heapq.heappop(heap)
                conversation = tail.conversation
                index = tail.next_index
                tail.next_index += 1
                if tail.next_index < len(tail.times_s) + 1:
                    heapq.heappush(heap, (tail.times_s[index], order, tail))
                    order += 1
                elif conversation.idle_at < 0 and not conversation.retired:
                    self._make_idle(conversation)  # its burst is over: it can take a turn
                while windows[window_index].end_s <= at_s:
                    window_index += 1
                yield PlannedSend(
                    at_s,
                    conversation.conversation_id,
                    tail.turn,
                    index,
                    tail.size,
                    conversation.user_id,
                    conversation.persona_id,
                    None,
                    windows[window_index].name,
                )
                continue
            if next_turn_s is None:
                return
            at_s = next_turn_s
            while windows[window_index].end_s <= at_s:
                window_index += 1
            conversation = self._conversation_for_turn(at_s)
            turn = conversation.next_turn
            engage: Engage | None = None
            size = 1
            if self.engage_share and self.rng.random() < self.engage_share:
                engage = self.engage_types.draw(self.rng)
            else:
                size = self.burst_sizes.draw(self.rng)
            if size > 1:
                times_s = self._burst_times_s(at_s, size)
                self._make_busy(conversation)
                times_s = [t for t in times_s if t < end_s]  # the run ends mid-burst
                if times_s:
                    tail = _BurstTail(conversation, turn, size, times_s)
                    heapq.heappush(heap, (times_s[0], order, tail))
                    order += 1
            yield PlannedSend(
                at_s,
                conversation.conversation_id,
                turn,
                0,
                size,
                conversation.user_id,
                conversation.persona_id,
                engage,
                windows[window_index].name,
            )
            self._finish_turn(conversation, at_s)
            next_turn_s, turn_window = self._advance(at_s, turn_window)

    def _first_turn_s(self, window_index: int) -> tuple[float | None, int]:
        """The first turn at or after the start of window ``window_index``, and its window."""
        windows = self.schedule.windows
        while window_index < len(windows):
            window = windows[window_index]
            rate = self.schedule.turn_rate_per_s(window)
            if rate > 0:
                at_s = self._next_arrival_s(window.start_s, rate, first=True)
                if at_s < window.end_s:
                    return at_s, window_index
            window_index += 1
        return None, window_index

    def _advance(self, now_s: float, window_index: int) -> tuple[float | None, int]:
        """The next turn after ``now_s``; a window change restarts the process at its start.

        For a Poisson process that is exact (it is memoryless); for the constant process the
        next window starts in phase.
        """
        window = self.schedule.windows[window_index]
        at_s = self._next_arrival_s(now_s, self.schedule.turn_rate_per_s(window), first=False)
        if at_s < window.end_s:
            return at_s, window_index
        return self._first_turn_s(window_index + 1)
