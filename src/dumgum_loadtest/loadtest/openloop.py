"""The open model's dispatcher: every planned send leaves at its intended time, or is recorded.

One greenlet walks the worker's schedule. For each planned send it draws the body ahead of
time, sleeps until the intended time, and hands the send to a pool bounded by
``arrival.max_in_flight``. Responses never hold the schedule back (no coordinated
omission): a slow target only fills the pool. When the pool is full or the process is behind,
the send goes as soon as it can and its lag is recorded; past ``max_lateness_s`` it is
recorded as not sent instead. At the end, or when Locust stops the user, every planned send
whose intended time has come is accounted: sent (with its response or error) or not sent.
When Locust starts stopping the users, the dispatcher sends nothing more and the requests in
flight finish within Locust's stop timeout (``command.STOP_GRACE_S``).
"""

from __future__ import annotations

import time
from typing import Any

import gevent
from gevent import GreenletExit
from gevent.lock import Semaphore

from dumgum_loadtest.loadtest.command import STOP_GRACE_S
from dumgum_loadtest.loadtest.sends import (
    STOPPED_BEFORE_RESPONSE,
    STOPPED_BEFORE_SEND,
    PreparedSend,
    report_enqueue,
    request_record,
)
from dumgum_loadtest.loadtest.timing import SPIN_NS, sleep_until
from dumgum_loadtest.loadtest.transport import (
    ENQUEUE_TIMEOUT_S,
    EnqueueTarget,
    ReceiverClient,
    StatusError,
)
from dumgum_loadtest.loadtest.worker import WorkerContext
from dumgum_loadtest.records import NOT_SENT, SENT, TRANSPORT_ERROR
from dumgum_loadtest.scenarios.model import OpenArrival
from dumgum_loadtest.scenarios.schedule import PlannedSend, WorkerSchedule

YIELD_EVERY = 32
"""Behind schedule, the dispatcher yields after this many sends in a row (so they leave)."""
STOP_DRAIN_S = 2.0
"""When Locust stops the user before the dispatcher saw the stop (its stop timeout ran out,
or none was given): how long requests in flight may still finish."""
STOP_MARGIN_S = 1.0
"""Seen stopping, the dispatcher gives up on the requests in flight this long before Locust's
stop timeout (``command.STOP_GRACE_S``) ends the user."""
INTERRUPTIBLE_SLEEP_NS = 50_000_000
"""Waits for a send's time longer than this end early when Locust starts stopping."""
_NS = 1_000_000_000


class OpenLoop:
    """Runs one worker's open-model schedule against ``client``."""

    def __init__(
        self,
        context: WorkerContext,
        client: EnqueueTarget,
        request_event: Any,
        receiver: ReceiverClient | None = None,
    ) -> None:
        scenario = context.options.scenario
        arrival = scenario.arrival
        if not isinstance(arrival, OpenArrival):
            raise TypeError(f"scenario {scenario.name!r} is not an open model")
        self.context = context
        self.client = client
        self.request_event = request_event
        register = scenario.conversation.register_user_messages
        self.receiver = receiver if register else None
        self.schedule = WorkerSchedule(
            scenario, context.worker_index, context.worker_count, time_scale=context.time_scale
        )
        # A semaphore and raw greenlets, not a gevent Pool: a Pool's Greenlet objects, links and
        # bookkeeping cost about 8 % of the process at capacity (py-spy).
        self.slots = Semaphore(arrival.max_in_flight)
        self.max_lateness_ns = int(arrival.max_lateness_s * _NS)
        self.counters = context.recorder.counters
        self._plan = iter(self.schedule)
        self._pending: PreparedSend | None = None  # prepared, not yet handed to the pool
        self._dispatched: set[PreparedSend] = set()  # handed to the pool, not yet recorded
        self.finished = False
        self._stopping = False
        self._locust_stopping = context.stopping  # set when Locust starts stopping the users

    def _prepare(self, planned: PlannedSend) -> PreparedSend:
        return PreparedSend.prepare(self.context, planned)

    def run(self) -> None:
        """Dispatch the whole schedule, then wait (bounded) for the last responses."""
        counters = self.counters
        slots = self.slots
        max_lateness_ns = self.max_lateness_ns
        unyielding = 0  # sends handled back to back while behind schedule
        locust_stopping = self._locust_stopping
        if locust_stopping.is_set():
            return  # called again before Locust ended the user: ``stop`` accounts the rest
        for planned in self._plan:
            send = self._pending = self._prepare(planned)
            if locust_stopping.is_set():
                break
            if send.intended_ns > time.time_ns():
                if not self._sleep_until(send.intended_ns):
                    break
                unyielding = 0
            else:
                unyielding += 1
                if unyielding == YIELD_EVERY:  # behind: let the sends start and replies in
                    gevent.sleep(0)
                    unyielding = 0
            if time.time_ns() - send.intended_ns > max_lateness_ns:
                self._pending = None
                self._not_sent(send, "behind schedule by more than max_lateness_s")
                continue
            if slots.locked():
                counters.pool_full += 1
            self._dispatched.add(send)
            slots.acquire()  # waits while max_in_flight requests are out
            send.greenlet = gevent.spawn_raw(self._send, send)
            self._pending = None
        else:
            self._drain(ENQUEUE_TIMEOUT_S + 1.0)
            self.finished = True
            counters.done = True
            self.context.recorder.flush()
            return
        # Locust is stopping: the requests in flight may finish, and those that do not are
        # recorded here, before Locust's stop timeout ends the user (a kill arriving in
        # ``stop`` would cut its accounting short); ``stop`` then accounts the sends not
        # dispatched, at once.
        self._drain(STOP_GRACE_S - STOP_MARGIN_S)

    def _sleep_until(self, deadline_ns: int) -> bool:
        """``sleep_until`` that Locust's stop interrupts; False when stopping. Short gaps (a
        fast schedule) sleep plainly: waiting on the event costs more per send, and the stop
        is seen at the next send anyway."""
        delay_ns = deadline_ns - time.time_ns() - SPIN_NS
        if delay_ns > INTERRUPTIBLE_SLEEP_NS and self._locust_stopping.wait(delay_ns / _NS):
            return False
        sleep_until(deadline_ns)
        return not self._locust_stopping.is_set()

    def stop(self) -> None:
        """Locust stops the user: account what is left, let requests in flight finish briefly."""
        if self.finished:
            return
        self._stopping = True  # a send the pool has not started yet will not leave now
        stop_ns = self.context.stopping_ns or time.time_ns()  # the load's end
        send, self._pending = self._pending, None
        if send is not None:
            if send in self._dispatched and send.greenlet is None:  # waiting for a free slot
                self._dispatched.discard(send)
                self._not_sent(send, STOPPED_BEFORE_SEND)
            elif send.intended_ns < stop_ns:
                self._not_sent(send, STOPPED_BEFORE_SEND)
        for count, planned in enumerate(self._plan, start=1):
            if self.context.start_ns + int(planned.intended_offset_s * _NS) >= stop_ns:
                break
            self._not_sent(self._prepare(planned), STOPPED_BEFORE_SEND)
            if count % 1000 == 0:
                gevent.sleep(0)  # a long backlog: let the responses in flight be read
        self._drain(STOP_DRAIN_S)
        self.finished = True
        self.counters.done = True

    def _drain(self, timeout_s: float) -> None:
        """Wait for the requests in flight; then end them and record what they never got."""
        deadline = time.monotonic() + timeout_s
        while self._dispatched and time.monotonic() < deadline:
            gevent.sleep(0.005)
        for send in list(self._dispatched):  # still waiting for a response, or never started
            self._dispatched.discard(send)  # _send records nothing for it from now on
            if send.greenlet is not None:
                gevent.kill(send.greenlet)
            if send.sent_ns:
                self.counters.transport_errors += 1
                self._record(send, TRANSPORT_ERROR, error=STOPPED_BEFORE_RESPONSE)
            else:
                self._not_sent(send, STOPPED_BEFORE_SEND)

    def _not_sent(self, send: PreparedSend, reason: str) -> None:
        self.counters.not_sent += 1
        self._record(send, NOT_SENT, error=reason)

    def _send(self, send: PreparedSend) -> None:
        try:
            if send in self._dispatched:  # else _drain gave up on it and recorded it
                self._exchange(send)
        finally:
            self.slots.release()

    def _exchange(self, send: PreparedSend) -> None:
        counters = self.counters
        if self._stopping:
            self._dispatched.discard(send)
            self._not_sent(send, STOPPED_BEFORE_SEND)
            return
        if self.receiver is not None and send.planned.engage is None:
            self.receiver.register_messages([send.user_message()])  # as the platform would
        sent_ns = time.time_ns()
        lag_ns = sent_ns - send.intended_ns
        if lag_ns > self.max_lateness_ns:  # waited too long for a free slot
            self._dispatched.discard(send)
            self._not_sent(send, "behind schedule by more than max_lateness_s")
            return
        send.sent_ns = sent_ns
        counters.count_sent(lag_ns)
        status: int | None = None
        length = 0
        exception: Exception | None = None
        try:
            planned = send.planned
            client = self.client.for_pair(planned.user_id, planned.persona_id)
            status, length = client.post(send.body)
        except GreenletExit:
            return  # _drain killed us, and records the send
        except Exception as exc:
            exception = exc
        response_ns = time.time_ns()
        if send not in self._dispatched:
            return  # _drain recorded it while the response was on its way
        self._dispatched.discard(send)
        if status is None:
            counters.transport_errors += 1
            self._record(send, TRANSPORT_ERROR, error=f"{type(exception).__name__}: {exception}")
        else:
            counters.count_status(status)
            self._record(send, SENT, status=status, response_ns=response_ns)
            if status >= 400:
                exception = StatusError(status)
        report_enqueue(self.request_event, self.client.url, sent_ns, response_ns, length, exception)

    def _record(self, send: PreparedSend, state: str, **outcome: Any) -> None:
        self.context.recorder.add(request_record(self.context, send, state, **outcome))
