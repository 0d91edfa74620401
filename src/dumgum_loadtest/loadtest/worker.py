"""What one Locust process shares among its users: options, clocks, ids, factory, recorder.

Built on ``test_start`` in every process that runs users (a worker, or the single process of
a standalone run) and closed on ``test_stop``/``quitting``; ``test_stopping`` sets its
``stopping`` event, which ends the users' sending and waiting (see ``closed``, ``openloop``).
With worker processes, the master waits for them before it exits. The master (or the standalone
runner) fixes, at ``test_start``, the schedule's origin and the number of workers; Locust
forwards both to the workers with the spawn message, so stages switch at the same instant in
every process.
"""

from __future__ import annotations

import atexit
import dataclasses
import gc
import itertools
import logging
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gevent
import orjson
from gevent.event import Event
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from dumgum_loadtest.errors import HarnessError
from dumgum_loadtest.loadtest.channel import RECORDS_MESSAGE, ChannelRecorder, ShardWriter
from dumgum_loadtest.loadtest.command import STOP_GRACE_S, WORKERS_EXIT_MARGIN_S
from dumgum_loadtest.loadtest.options import listen
from dumgum_loadtest.loadtest.recorder import Recorder
from dumgum_loadtest.loadtest.remote import reachable_url
from dumgum_loadtest.loadtest.roster import MasterRoster
from dumgum_loadtest.loadtest.settings import (
    SCENARIO_JSON_OPTION,
    GeneratorOptions,
    resolve_options,
)
from dumgum_loadtest.records import TAG_REQUEST, TAG_RUN
from dumgum_loadtest.scenarios.draw import DrawnRequest, RequestFactory
from dumgum_loadtest.scenarios.population import ScenarioPopulation
from dumgum_loadtest.scenarios.schedule import time_scale_for

logger = logging.getLogger("dumgum_loadtest.loadtest")

START_DELAY_S = 0.5
"""Distributed runs start the schedule this long after the master's test_start, so every
worker has its spawn message before the first intended send."""

GC_GEN0_THRESHOLD = 20_000

# Set on the master's parsed options at test_start; Locust forwards them to the workers.
START_NS_OPTION = "dlt_start_ns"
WORKERS_OPTION = "dlt_workers"

# Per process, across tests (the web UI can start several into one run directory): ids stay
# unique.
_REQUESTS = itertools.count()
_CONVERSATIONS = itertools.count()


@dataclass
class WorkerContext:
    """One Locust process's share of the run: its ids, the body factory, the recorder."""

    options: GeneratorOptions
    worker_index: int
    worker_count: int
    start_ns: int  # epoch ns of the schedule's origin (offset 0)
    time_scale: float
    recorder: Recorder
    factory: RequestFactory
    active_pairs: set[tuple[str, str]] = field(default_factory=set)  # closed-model pairs in play
    open_generator_taken: bool = False
    # Set when Locust starts stopping the users: no new send leaves and waits for answers
    # end, while requests already in flight finish within Locust's stop timeout.
    stopping: Event = field(default_factory=Event)
    # When it was set (epoch ns; 0: not stopping): the end of the load. Sends planned after
    # it were never scheduled, however long the requests in flight keep the users after it.
    stopping_ns: int = 0

    @property
    def population(self) -> ScenarioPopulation:
        """The factory's population: one per process, so new personas are handed out once."""
        return self.factory.population

    @property
    def label(self) -> str:
        return self.recorder.worker

    def next_request_id(self) -> str:
        """Unique across workers: ``<worker>-<n>``."""
        return f"{self.recorder.worker}-{next(_REQUESTS)}"

    def next_conversation_id(self) -> str:
        return f"{self.recorder.worker}-c{next(_CONVERSATIONS)}"

    def body_bytes(self, drawn: DrawnRequest, request_id: str) -> bytes:
        """The enqueue JSON with the harness's correlation ids in ``tags``."""
        body = dict(drawn.body)
        body["tags"] = {TAG_RUN: self.options.run_id, TAG_REQUEST: request_id}
        return orjson.dumps(body)

    def close(self) -> None:
        self.recorder.close()


_context: WorkerContext | None = None
_context_error: str | None = None


def current() -> WorkerContext:
    """This process's context; raises HarnessError when it could not be built."""
    if _context is None:
        raise HarnessError(_context_error or "the load test has not started in this process")
    return _context


def _build(environment: Any) -> WorkerContext:
    parsed = environment.parsed_options
    options = resolve_options(parsed, environment.host)
    runner = environment.runner
    worker_index = (
        int(getattr(runner, "worker_index", 0)) if isinstance(runner, WorkerRunner) else 0
    )
    worker_count = int(getattr(parsed, WORKERS_OPTION, 0) or 1)
    scenario = options.scenario
    time_scale = time_scale_for(scenario)
    label = str(worker_index)
    factory = RequestFactory(
        scenario,
        random.Random(f"{scenario.seed}:draw:{label}"),
        force_test_mode=options.force_test_mode,
        time_scale=time_scale,
    )
    recorder: Recorder
    if _records_via_master(parsed) and isinstance(runner, WorkerRunner):
        # A remote worker: nothing on its disk; URLs on the master's loopback made reachable.
        master_host = str(getattr(parsed, "master_host", "") or "")
        receiver = options.receiver_url
        options = dataclasses.replace(
            options,
            target_url=reachable_url(options.target_url, master_host),
            receiver_url=reachable_url(receiver, master_host) if receiver else None,
        )
        recorder = ChannelRecorder(runner, label).start()
    else:
        recorder = Recorder(options.run_dir, label).start()
    _tune_gc()
    # Distributed: the master's origin for every worker; standalone: now, after the set-up.
    start_ns = int(getattr(parsed, START_NS_OPTION, 0) or time.time_ns())
    return WorkerContext(
        options, worker_index, worker_count, start_ns, time_scale, recorder, factory
    )


def _records_via_master(parsed: Any) -> bool:
    return bool(getattr(parsed, "records_via_master", False))


def _tune_gc() -> None:
    """Freeze the start-up heap and collect the young generation less often.

    Every send allocates a few dicts; with the default threshold (700) the collector runs
    thousands of times a second and promotes in-flight sends, and full collections then walk
    the whole start-up heap (modules, pydantic models): pauses that show as schedule lag.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def _check_options(environment: Any, **_: Any) -> None:
    """Fail fast on a bad scenario or a missing token, before any load (the web UI too: the
    scenario decides the user class, so it is given on the command line)."""
    try:
        parsed = environment.parsed_options
        if parsed is None or isinstance(environment.runner, WorkerRunner):
            return
        try:
            resolve_options(parsed, environment.host)
        except HarnessError as exc:
            raise SystemExit(f"dumgum-loadtest: {exc}") from None
    finally:
        # Locust arms its --run-time timer next, relative to the event loop's cached clock;
        # after the imports and the scenario load (a second or more without a loop iteration)
        # that clock is stale and the run would end early (measured: 3.7 s for --run-time 6s).
        gevent.get_hub().loop.update_now()


def _on_test_start(environment: Any, **_: Any) -> None:
    global _context, _context_error
    runner = environment.runner
    parsed = environment.parsed_options
    if isinstance(runner, MasterRunner):
        setattr(parsed, START_NS_OPTION, time.time_ns() + int(START_DELAY_S * 1e9))
        setattr(parsed, WORKERS_OPTION, max(1, runner.worker_count))
        if _records_via_master(parsed):
            # Remote workers have no copy of the scenario file: it travels with the spawn.
            scenario = resolve_options(parsed, environment.host).scenario
            setattr(parsed, SCENARIO_JSON_OPTION, scenario.model_dump_json())
        return
    if not isinstance(runner, WorkerRunner) and parsed is not None:
        setattr(parsed, START_NS_OPTION, 0)  # standalone: _build starts the clock when ready
        setattr(parsed, WORKERS_OPTION, 1)
    if _context is not None:
        _context.close()
    _context, _context_error = None, None
    try:
        _context = _build(environment)
    except HarnessError as exc:
        _context_error = str(exc)
        logger.error("dumgum-loadtest: %s", exc)


def _close(**_: Any) -> None:
    if _context is not None:
        _context.close()


def _on_test_stopping(**_: Any) -> None:
    if _context is not None and not _context.stopping.is_set():
        _context.stopping_ns = _context.recorder.counters.stopping_ns = time.time_ns()
        _context.stopping.set()


def _child_pids() -> list[int]:
    """This process's children (Linux /proc; none found elsewhere)."""
    me = os.getpid()
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if len(fields) > 1 and fields[1] == str(me):
            pids.append(int(stat.parent.name))
    return pids


def wait_for_worker_processes(timeout_s: float) -> list[int]:
    """Wait (bounded) until this process's children have exited; returns those still running.

    Locust's master exits about a second after telling its workers to quit, without waiting
    for them (``--processes``), while each worker may still be finishing the requests in
    flight for up to the stop timeout. The orchestrator takes the master's exit for the end
    of the load (it reads the records and stops the mock); the records must all be written
    by then. The children are left unreaped (``WNOWAIT``) for gevent's child watcher or
    Locust's own exit handler to collect.
    """
    deadline = time.monotonic() + timeout_s
    running = _child_pids()
    while running and time.monotonic() < deadline:
        running = [pid for pid in running if _still_running(pid)]
        if running:
            time.sleep(0.05)
    return running


def _still_running(pid: int) -> bool:
    try:
        exited = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False  # already collected
    return exited is None


def _wait_for_workers_at_exit() -> None:
    still = wait_for_worker_processes(STOP_GRACE_S + WORKERS_EXIT_MARGIN_S)
    if still:
        logger.warning("dumgum-loadtest: worker processes %s still running at exit", still)


def _master_waits_for_workers(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, MasterRunner):
        # registered after Locust's own handler, so it runs first (exit handlers run LIFO)
        atexit.register(_wait_for_workers_at_exit)


def _master_collects_records(environment: Any, **_: Any) -> None:
    """Remote workers (``--records-via-master``): their batches become this run's shards,
    the roster notes who joined and who went missing, and the end waits for final batches."""
    runner = environment.runner
    parsed = environment.parsed_options
    if not isinstance(runner, MasterRunner) or not _records_via_master(parsed):
        return
    run_dir = Path(str(getattr(parsed, "run_dir", "") or "."))
    writer = ShardWriter(run_dir)
    roster = MasterRoster(run_dir, runner, writer.final_from)

    def receive(environment: Any, msg: Any, **_: Any) -> None:
        writer.receive(msg.data, msg.node_id)

    def joined(client_id: str, **_: Any) -> None:
        roster.joined(client_id)

    def collect(**_: Any) -> None:
        still = roster.collect_final_batches(STOP_GRACE_S + WORKERS_EXIT_MARGIN_S)
        if still:
            logger.warning("dumgum-loadtest: no final batch of records from workers %s", still)

    runner.register_message(RECORDS_MESSAGE, receive)
    listen(environment.events.worker_connect, joined)
    listen(environment.events.test_stop, collect)
    gevent.spawn(roster.watch)


listen(events.init, _check_options)
listen(events.init, _master_collects_records)
listen(events.init, _master_waits_for_workers)
listen(events.test_stopping, _on_test_stopping)
listen(events.test_start, _on_test_start)
listen(events.test_stop, _close)
listen(events.quitting, _close)
