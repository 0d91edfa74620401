"""The closed model: a conversation user sends a turn, waits for its answer, thinks, goes on.

A turn is a burst of user messages (gaps scaled by the time scale) or one engage request.
The user then long-polls the receiver (``GET /_receiver/wait``), the one process that sees
the webhooks, until the pair's turn has ended (first message of the answer, or a drop), or
gives up at the deadline. The next turn is intended ``think_time_s x time scale`` after the
answer arrived. Every send is recorded like an open-model send; each turn also gets a line in
``turns-<worker>.jsonl`` saying how its wait ended.

At the stop (Locust's run time, or the run stopped), a user finishes the HTTP request it is
in, within Locust's stop timeout (``command.STOP_GRACE_S``), and records it with its status;
it sends nothing more and stops waiting for answers. Sends whose time had come are recorded
not sent; a request still without its response when the stop timeout ends is recorded as a
transport error.
"""

from __future__ import annotations

import random
import time
from typing import Any

import gevent
from gevent import GreenletExit

from dumgum_loadtest.loadtest.sends import (
    STOPPED_BEFORE_RESPONSE,
    STOPPED_BEFORE_SEND,
    PreparedSend,
    report_enqueue,
    request_record,
)
from dumgum_loadtest.loadtest.timing import SPIN_NS, sleep_until
from dumgum_loadtest.loadtest.transport import EnqueueTarget, ReceiverClient, StatusError
from dumgum_loadtest.loadtest.worker import WorkerContext
from dumgum_loadtest.records import NOT_SENT, SENT, TRANSPORT_ERROR
from dumgum_loadtest.scenarios.model import ClosedArrival
from dumgum_loadtest.scenarios.schedule import WARMUP_STAGE, PlannedSend
from dumgum_loadtest.schema.enums import Engage, EventType

ANSWER_GRACE_S = 1.0
"""Added to the default answer deadline: webhook delivery after the last moment allowed."""
WAIT_RETRY_S = 0.5
"""Pause before polling the receiver again after a failed wait."""
STEADY_STAGE = "steady"
WAIT_NAME = "answer"
_NS = 1_000_000_000
_PICK_ATTEMPTS = 8


def _weighted(rng: random.Random, weights: dict[Any, float]) -> Any:
    values = list(weights)
    return rng.choices(values, [weights[v] for v in values])[0]


class ConversationRunner:
    """One closed-model user's conversations, run in its own greenlet."""

    def __init__(
        self,
        context: WorkerContext,
        client: EnqueueTarget,
        receiver: ReceiverClient | None,
        request_event: Any,
        rng: random.Random,
    ) -> None:
        scenario = context.options.scenario
        arrival = scenario.arrival
        if not isinstance(arrival, ClosedArrival):
            raise TypeError(f"scenario {scenario.name!r} is not a closed model")
        self.context = context
        self.arrival = arrival
        self.conversation = scenario.conversation
        self.client = client
        self.receiver = receiver
        self.request_event = request_event
        self.rng = rng
        self.counters = context.recorder.counters
        self.stopping = context.stopping  # set when Locust starts stopping the users
        self.warmup_end_ns = context.start_ns + int(scenario.warmup_s * _NS)
        self._pending: list[PreparedSend] = []  # the current burst's sends not yet sent
        self._turn: dict[str, Any] | None = None  # the current turn's record, until it ends
        self.next_turn_ns = 0  # intended time of the next turn (0: now)

    # Pairs

    def _pick_pair(self) -> tuple[str, str]:
        context = self.context
        population = context.population
        users, workers, index = population.user_count, context.worker_count, context.worker_index
        pair = ("", "")
        for _ in range(_PICK_ATTEMPTS):
            if users >= workers:  # users ≡ worker (mod workers): workers never share a pair
                mine = (users - index + workers - 1) // workers
                user_id = population.user_id(index + workers * int(self.rng.random() * mine))
            else:
                user_id = population.pick_user(self.rng)
            elapsed_s = (time.time_ns() - context.start_ns) / _NS
            pair = (user_id, population.pick_persona(self.rng, elapsed_s))
            if pair not in context.active_pairs:
                break
        context.active_pairs.add(pair)
        return pair

    # A conversation

    def run_conversation(self) -> None:
        """Pick a pair and take turns until the conversation ends or an answer never comes."""
        user_id, persona_id = pair = self._pick_pair()
        conversation_id = self.context.next_conversation_id()
        self.next_turn_ns = 0  # a new conversation starts now
        turns = int(_weighted(self.rng, self.conversation.turns))
        try:
            for turn in range(turns):
                if self.stopping.is_set():
                    return
                answered_ns = self._take_turn(conversation_id, turn, user_id, persona_id)
                if answered_ns is None:
                    return  # no answer by the deadline (or every send rejected): move on
                think_s = self.conversation.think_time_s.sample_s(self.rng)
                self.next_turn_ns = answered_ns + int(think_s * self.context.time_scale * _NS)
        finally:
            self.context.active_pairs.discard(pair)

    def _burst(
        self, conversation_id: str, turn: int, user_id: str, persona_id: str, start_ns: int
    ) -> list[PreparedSend]:
        conversation = self.conversation
        engage: Engage | None = None
        size = 1
        if conversation.engage_share and self.rng.random() < conversation.engage_share:
            engage = _weighted(self.rng, dict(conversation.engage_types))
        else:
            size = int(_weighted(self.rng, conversation.burst_size))
        context = self.context
        sends: list[PreparedSend] = []
        at_ns = start_ns
        for index in range(size):
            if index:
                gap_s = conversation.burst_gap_s.sample_s(self.rng) * context.time_scale
                at_ns += int(gap_s * _NS)
            stage = WARMUP_STAGE if at_ns < self.warmup_end_ns else STEADY_STAGE
            offset_s = (at_ns - context.start_ns) / _NS
            planned = PlannedSend(
                offset_s, conversation_id, turn, index, size, user_id, persona_id, engage, stage
            )
            sends.append(PreparedSend.prepare(context, planned, at_ns))
        return sends

    def _take_turn(
        self, conversation_id: str, turn: int, user_id: str, persona_id: str
    ) -> int | None:
        """Send the turn and wait for its end; the answer's receive time, or None."""
        start_ns = self.next_turn_ns or time.time_ns()
        sends = self._burst(conversation_id, turn, user_id, persona_id, start_ns)
        self._pending = list(sends)
        self.counters.turns += 1
        turn_record: dict[str, Any] = {
            "run_id": self.context.options.run_id,
            "worker": self.context.label,
            "conversation_id": conversation_id,
            "turn": turn,
            "user_id": user_id,
            "persona_id": persona_id,
            "request_ids": [send.request_id for send in sends],
            "intended_ns": sends[0].intended_ns,
            "accepted": 0,
            "wait_from_ns": None,
            "deadline_ns": None,
            "outcome": None,
            "event": None,
            "event_recv_ns": None,
        }
        self._turn = turn_record
        last_sent_ns = 0
        while self._pending:
            send = self._pending[0]
            if not self._sleep_until(send.intended_ns):
                return None  # stopping: ``stop`` accounts the sends left and ends the turn
            if self._send(send):
                turn_record["accepted"] += 1
            if not send.sent_ns:
                return None  # stopping came during its registration: it never left
            self._pending.pop(0)
            last_sent_ns = send.sent_ns
        first_sent_ns = sends[0].sent_ns
        if not turn_record["accepted"]:
            return self._end_turn("rejected", None)
        if not self.conversation.wait_for_answer or self.receiver is None:
            return self._end_turn("not_awaited", None, time.time_ns())
        deadline_ns = last_sent_ns + int(self._answer_timeout_s(sends[-1]) * _NS)
        turn_record["wait_from_ns"] = first_sent_ns
        turn_record["deadline_ns"] = deadline_ns
        while True:
            remaining_s = (deadline_ns - time.time_ns()) / _NS
            if remaining_s <= 0:
                self.counters.gave_up += 1
                self._fire_wait(first_sent_ns, "gave up at the deadline")
                return self._end_turn("gave_up", None)
            poll = gevent.spawn(self._poll, user_id, persona_id, first_sent_ns, remaining_s)
            gevent.wait([poll, self.stopping], count=1)
            if not poll.ready():  # stopping: no answer is awaited any more
                poll.kill(block=False)
                return self._end_turn("stopped", None)
            ended, failure = poll.value or (None, None)
            if failure is not None:  # the receiver restarting or overloaded (503): retry
                self._fire_wait(first_sent_ns, f"wait failed: {failure}")
                if self.stopping.wait(min(WAIT_RETRY_S, max(remaining_s, 0.0))):
                    return self._end_turn("stopped", None)
                continue
            if ended is not None:
                event, recv_ns = ended
                self.counters.answered += 1
                self._fire_wait(first_sent_ns, None, recv_ns)
                outcome = "dropped" if event == EventType.CONVERSATION_DROPPED else "answered"
                return self._end_turn(outcome, (event, recv_ns), recv_ns)

    def _sleep_until(self, deadline_ns: int) -> bool:
        """``sleep_until`` that the stop interrupts; False when stopping."""
        delay_ns = deadline_ns - time.time_ns() - SPIN_NS
        if delay_ns > 0 and self.stopping.wait(delay_ns / _NS):
            return False
        sleep_until(deadline_ns)  # the last half millisecond, precisely
        return not self.stopping.is_set()

    def _poll(
        self, user_id: str, persona_id: str, after_ns: int, timeout_s: float
    ) -> tuple[tuple[str, int] | None, str | None]:
        """One long-poll of the receiver, in its own greenlet so the stop can end the wait:
        (how the turn ended or None, a failure or None). Failures are returned, not raised:
        the greenlet would print them."""
        assert self.receiver is not None
        try:
            return self.receiver.wait_for_turn_end(user_id, persona_id, after_ns, timeout_s), None
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"

    def _answer_timeout_s(self, send: PreparedSend) -> float:
        if self.arrival.answer_timeout_s is not None:
            return self.arrival.answer_timeout_s
        features = send.features
        scaled_s = (features["max_processing_s"] + features["buffer_s"]) * self.context.time_scale
        return float(scaled_s) + ANSWER_GRACE_S

    def _end_turn(
        self, outcome: str, ended: tuple[str, int] | None, result_ns: int | None = None
    ) -> int | None:
        turn_record = self._turn
        if turn_record is not None:
            turn_record["outcome"] = outcome
            if ended is not None:
                turn_record["event"], turn_record["event_recv_ns"] = ended
            self.context.recorder.add_turn(turn_record)
            self._turn = None
        return result_ns

    def _fire_wait(self, from_ns: int, failure: str | None, recv_ns: int | None = None) -> None:
        end_ns = recv_ns if recv_ns is not None else time.time_ns()
        self.request_event.fire(
            request_type="WAIT",
            name=WAIT_NAME,
            response_time=(end_ns - from_ns) / 1e6,
            response_length=0,
            exception=RuntimeError(failure) if failure else None,
            context={},
            response=None,
            start_time=from_ns / _NS,
            url=None,
        )

    # One send

    def _send(self, send: PreparedSend) -> bool:
        """Send now; True when the target accepted it (2xx)."""
        context, counters = self.context, self.counters
        register = self.conversation.register_user_messages and send.planned.engage is None
        if register and self.receiver is not None:
            self.receiver.register_messages([send.user_message()])
            if self.stopping.is_set():
                return False  # no new request once stopping; ``stop`` records it not sent
        sent_ns = send.sent_ns = time.time_ns()
        counters.count_sent(sent_ns - send.intended_ns)
        status: int | None = None
        length = 0
        exception: Exception | None = None
        try:
            planned = send.planned
            client = self.client.for_pair(planned.user_id, planned.persona_id)
            status, length = client.post(send.body)
        except GreenletExit:  # the stop timeout ran out with this request in flight
            counters.transport_errors += 1
            error = STOPPED_BEFORE_RESPONSE
            context.recorder.add(request_record(context, send, TRANSPORT_ERROR, error=error))
            raise
        except Exception as exc:
            exception = exc
        response_ns = time.time_ns()
        if status is None:
            counters.transport_errors += 1
            error = f"{type(exception).__name__}: {exception}"
            context.recorder.add(request_record(context, send, TRANSPORT_ERROR, error=error))
        else:
            counters.count_status(status)
            context.recorder.add(
                request_record(context, send, SENT, status=status, response_ns=response_ns)
            )
            if status >= 400:
                exception = StatusError(status)
        report_enqueue(self.request_event, self.client.url, sent_ns, response_ns, length, exception)
        return status is not None and status < 300

    def stop(self) -> None:
        """Locust stops the user (after the request in flight finished, or the stop timeout
        ran out): sends whose time has come are recorded not sent.

        Sends planned after the stop were never scheduled: they get no record, and leave the
        turn's ``request_ids``.
        """
        stop_ns = self.context.stopping_ns or time.time_ns()  # the load's end
        unscheduled: set[str] = set()
        for send in self._pending:
            if send.sent_ns:
                continue  # stopped mid-request: _send recorded it
            if send.intended_ns < stop_ns:
                self.counters.not_sent += 1
                error = STOPPED_BEFORE_SEND
                self.context.recorder.add(request_record(self.context, send, NOT_SENT, error=error))
            else:
                unscheduled.add(send.request_id)
        self._pending = []
        if self._turn is not None and unscheduled:
            ids = [i for i in self._turn["request_ids"] if i not in unscheduled]
            self._turn["request_ids"] = ids
            if not ids:  # the turn had not begun: it never happened
                self._turn = None
                self.counters.turns -= 1
        self._end_turn("stopped", None)
