"""The two Locust users: the open model's dispatcher and the closed model's conversation user.

One class runs per scenario: ``OpenModelUser`` for ``arrival.model: open`` (one user per
worker process), ``ConversationUser`` for ``closed`` (``arrival.users`` users). The scenario
decides, not the command line: on Locust's ``init`` (after the options are parsed, before
any user class is dispatched) ``_follow_scenario`` narrows ``environment.user_classes`` (and
the class picker's choice) to that one class, so a locustfile that exposes both, run without
class names, never spawns the wrong one; a class named on the command line that does not
fit the scenario is refused before any load. Without ``-u``/``-r`` the user count and spawn
rate default to the scenario's. Both are FastHttpUsers: ``self.client`` serves ad-hoc calls,
while enqueues go through a pooled ``EnqueueClient`` shared by the process (see
``transport``).
"""

from __future__ import annotations

import itertools
import logging
import os
import random
from pathlib import Path
from typing import Any

import gevent
from locust import FastHttpUser, constant, events, task
from locust.exception import StopUser

from dumgum_loadtest.errors import HarnessError
from dumgum_loadtest.loadtest import worker
from dumgum_loadtest.loadtest.closed import ConversationRunner
from dumgum_loadtest.loadtest.openloop import OpenLoop
from dumgum_loadtest.loadtest.options import listen
from dumgum_loadtest.loadtest.transport import (
    EnqueueClient,
    EnqueueTarget,
    ReceiverClient,
    ShardedEnqueueClient,
)
from dumgum_loadtest.scenarios import load_scenario
from dumgum_loadtest.scenarios.model import ClosedArrival, OpenArrival

logger = logging.getLogger("dumgum_loadtest.loadtest")

# Per process: one connection pool per target, shared by the users.
_enqueue_clients: dict[str, EnqueueTarget] = {}
_receiver_clients: dict[str, ReceiverClient] = {}
_user_numbers = itertools.count()


def _default_host(environment: Any, **_: Any) -> None:
    """``--target-url`` also serves as Locust's host, so FastHttpUser has one."""
    parsed = environment.parsed_options
    target = getattr(parsed, "target_url", "") if parsed is not None else ""
    if target and not environment.host:
        environment.host = target


listen(events.init, _default_host)


def _enqueue_client(context: worker.WorkerContext, concurrency: int) -> EnqueueTarget:
    options = context.options
    key = f"{options.target_url} {','.join(options.mock_urls)} {concurrency}"
    client = _enqueue_clients.get(key)
    if client is None:
        client = _enqueue_clients[key] = (
            ShardedEnqueueClient(list(options.mock_urls), options.token, concurrency)
            if options.mock_urls
            else EnqueueClient(options.target_url, options.token, concurrency)
        )
    return client


def _receiver_client(context: worker.WorkerContext, concurrency: int) -> ReceiverClient | None:
    url = context.options.receiver_url
    if url is None:
        return None
    client = _receiver_clients.get(url)
    if client is None:
        client = _receiver_clients[url] = ReceiverClient(url, concurrency)
    return client


def _context_or_stop() -> worker.WorkerContext:
    try:
        return worker.current()
    except HarnessError as exc:
        logger.error("dumgum-loadtest: %s", exc)
        raise StopUser() from None


def _workers_expected(parsed: Any) -> int:
    """Worker processes of this run as the command line says (1 standalone)."""
    processes = int(getattr(parsed, "processes", 0) or 0)
    if processes == -1:
        return os.cpu_count() or 1
    if processes > 0:
        return processes
    if getattr(parsed, "master", False):
        return max(1, int(getattr(parsed, "expect_workers", 1) or 1))
    return 1


def _follow_scenario(environment: Any, **_: Any) -> None:
    """Run the user class the scenario needs, with its user count unless ``-u`` says."""
    parsed = environment.parsed_options
    text = str(getattr(parsed, "scenario", "") or "").strip() if parsed is not None else ""
    if not text:
        return  # worker._check_options has refused the command line already
    try:
        scenario = load_scenario(Path(text))
    except HarnessError:
        return  # reported by worker._check_options (or by the users, on a worker)
    finally:
        gevent.get_hub().loop.update_now()  # see worker._check_options: keep --run-time exact
    closed = isinstance(scenario.arrival, ClosedArrival)
    wanted: type[FastHttpUser] = ConversationUser if closed else OpenModelUser
    named = [str(name) for name in getattr(parsed, "user_classes", None) or []]
    wrong = [name for name in named if name != wanted.__name__]
    if wrong:
        model = "a closed" if closed else "an open"
        raise SystemExit(
            f"dumgum-loadtest: {text} is {model} model: run {wanted.__name__}"
            f" (or name no user class), not {', '.join(wrong)}"
        )
    environment.user_classes[:] = [wanted]
    environment.available_user_classes = {wanted.__name__: wanted}
    if getattr(parsed, "num_users", None) is None:
        if isinstance(scenario.arrival, ClosedArrival):
            parsed.num_users = scenario.arrival.users
            if getattr(parsed, "spawn_rate", None) is None:
                parsed.spawn_rate = scenario.arrival.spawn_rate_per_s
        else:
            parsed.num_users = _workers_expected(parsed)
            if getattr(parsed, "spawn_rate", None) is None:
                parsed.spawn_rate = float(parsed.num_users)


class OpenModelUser(FastHttpUser):
    """Runs this worker's share of an open-model schedule (run one per worker process)."""

    wait_time = constant(1)
    _loop: OpenLoop | None = None

    def on_start(self) -> None:
        context = _context_or_stop()
        arrival = context.options.scenario.arrival
        if not isinstance(arrival, OpenArrival):
            logger.error(
                "dumgum-loadtest: %s is a closed model: run ConversationUser",
                context.options.scenario_path,
            )
            raise StopUser()
        if context.open_generator_taken:
            logger.warning("dumgum-loadtest: one OpenModelUser per process runs; this one idles")
            return
        context.open_generator_taken = True
        client = _enqueue_client(context, arrival.max_in_flight)
        receiver = _receiver_client(context, arrival.max_in_flight)
        self._loop = OpenLoop(context, client, self.environment.events.request, receiver)

    @task
    def run_schedule(self) -> None:
        loop = self._loop
        if loop is not None and not loop.finished:
            loop.run()

    def on_stop(self) -> None:
        if self._loop is not None:
            self._loop.stop()


class ConversationUser(FastHttpUser):
    """One closed-model conversation user: turn, wait for the answer, think, next turn."""

    wait_time = constant(0)
    _runner: ConversationRunner | None = None

    def on_start(self) -> None:
        context = _context_or_stop()
        arrival = context.options.scenario.arrival
        if not isinstance(arrival, ClosedArrival):
            logger.error(
                "dumgum-loadtest: %s is an open model: run OpenModelUser",
                context.options.scenario_path,
            )
            raise StopUser()
        client = _enqueue_client(context, arrival.users)
        receiver = _receiver_client(context, arrival.users)
        rng = random.Random(
            f"{context.options.scenario.seed}:closed:{context.label}:{next(_user_numbers)}"
        )
        self._runner = ConversationRunner(
            context, client, receiver, self.environment.events.request, rng
        )

    @task
    def converse(self) -> None:
        if self._runner is None:
            gevent.sleep(1.0)
            return
        if self._runner.stopping.is_set():
            # Locust is stopping the users: it ends this one once the task returns (without
            # the pause, a user it has not reached yet would spin through empty tasks)
            gevent.sleep(0.1)
            return
        self._runner.run_conversation()

    def on_stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()


# registered after worker's listeners: a bad command line is refused there first
listen(events.init, _follow_scenario)
