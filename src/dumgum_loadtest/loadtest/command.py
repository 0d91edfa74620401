"""The Locust command line a run starts (no locust import: the orchestrator calls this).

``locust_command`` returns the argv of one headless Locust run of a scenario: standalone for
one worker, ``--processes N`` (a master and N forked workers) otherwise. The generator's own
options travel on that command line (forked workers inherit it, and the master forwards them
with every spawn message); the token travels only in the environment (``TOKEN_ENV``). E.g.,
an open model with two workers::

    DUMGUM_LOADTEST_TOKEN=... python -m locust -f .../dumgum_loadtest/loadtest/locustfile.py
      --headless --host URL --users 2 --spawn-rate 2 --run-time 63s --stop-timeout 10
      --only-summary --exit-code-on-error 0 --scenario RUN/scenario.yaml --run-dir RUN
      --run-id ID --target-url URL --processes 2 --master-bind-host 127.0.0.1
      --master-bind-port P --master-port P --receiver-url RECEIVER OpenModelUser
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from dumgum_loadtest.scenarios.model import ClosedArrival, Scenario
from dumgum_loadtest.serving import free_port

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
OPEN_USER = "OpenModelUser"
CLOSED_USER = "ConversationUser"
TOKEN_ENV = "DUMGUM_LOADTEST_TOKEN"
RECEIVER_URL_ENV = "DUMGUM_LOADTEST_RECEIVER_URL"  # --receiver-url, kept off the command line
OPTION_NAMES = (
    "--scenario",
    "--run-dir",
    "--run-id",
    "--target-url",
    "--receiver-url",
    "--force-test-mode",
    "--allow-billable",
    "--records-via-master",
)
"""The generator's own options (``options``), named in the errors of a bad command line."""

STOP_GRACE_S = 10.0
"""Locust's ``--stop-timeout``: when the run time ends (or the run is stopped), each user
starts no new request and stops waiting for webhook answers, but the HTTP request it is in
may finish for this long (a healthy enqueue takes milliseconds; ``transport`` gives up on
one after 30 s). A request still without its response then is recorded as a transport
error. Users with nothing in flight stop at once, so a run ends this much later at most."""

WORKERS_EXIT_MARGIN_S = 5.0
"""With ``--processes``, the master waits for its worker processes up to the stop grace plus
this (their last records, the quit message's round trip) before it exits."""

DEFAULT_MASTER_PORT = 5557
"""Locust's own default master port, kept for ``run --expect-workers`` and ``worker``."""

OPEN_TAIL_S = 3.0
"""Added to an open-model run time: the schedule starts up to 0.5 s after Locust does, and
the last responses come back before Locust stops the users (the schedule, not Locust's
timer, ends the sending)."""


def run_time_s(scenario: Scenario) -> int:
    """Locust's ``--run-time``: the run (warm-up inside), plus the open model's tail."""
    if isinstance(scenario.arrival, ClosedArrival):
        return math.ceil(scenario.run_duration_s)
    return math.ceil(scenario.run_duration_s + OPEN_TAIL_S)


def users_and_spawn_rate(scenario: Scenario, workers: int) -> tuple[int, float]:
    """Open model: one user per worker, all at once; closed: ``arrival.users`` at its rate."""
    arrival = scenario.arrival
    if isinstance(arrival, ClosedArrival):
        return arrival.users, arrival.spawn_rate_per_s
    return workers, float(workers)


def locust_command(
    *,
    scenario_path: Path,
    run_dir: Path,
    run_id: str,
    target_url: str,
    receiver_url: str | None,
    workers: int,
    scenario: Scenario,
    force_test_mode: bool,
    python: str = sys.executable,
    master_port: int | None = None,
    expect_workers: int | None = None,
    master_bind_host: str = "127.0.0.1",
) -> list[str]:
    """argv for ``python -m locust`` running ``scenario`` with ``workers`` worker processes.

    ``force_test_mode`` False against a real URL means billable traffic was allowed.
    ``expect_workers`` N makes it a master alone, waiting for N workers started elsewhere
    (``dumgum-loadtest worker``) on ``master_bind_host``:``master_port`` (default 5557);
    their records reach this run directory over Locust's message channel.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    users, spawn_rate = users_and_spawn_rate(scenario, workers)
    command = [
        python,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        target_url,
        "--users",
        str(users),
        "--spawn-rate",
        f"{spawn_rate:g}",
        "--run-time",
        f"{run_time_s(scenario)}s",
        "--stop-timeout",
        f"{STOP_GRACE_S:g}",
        "--only-summary",
        "--exit-code-on-error",
        "0",  # rejected enqueues are results, not a failed run; crashes still exit 2
        "--scenario",
        str(scenario_path),
        "--run-dir",
        str(run_dir),
        "--run-id",
        run_id,
        "--target-url",
        target_url,
    ]
    if expect_workers is not None:
        port = str(master_port if master_port is not None else DEFAULT_MASTER_PORT)
        command += ["--master", "--expect-workers", str(expect_workers)]
        command += ["--master-bind-host", master_bind_host, "--master-bind-port", port]
        command.append("--records-via-master")
    elif workers > 1:
        # The master listens on loopback, on a free port (not 5557 on every interface), so
        # runs side by side do not collide; the forked workers inherit --master-port.
        port = str(master_port if master_port is not None else free_port())
        command += ["--processes", str(workers), "--master-bind-host", "127.0.0.1"]
        command += ["--master-bind-port", port, "--master-port", port]
    if receiver_url:
        command += ["--receiver-url", receiver_url]
    if force_test_mode:
        command.append("--force-test-mode")
    elif scenario.target != "mock":
        command.append("--allow-billable")
    command.append(CLOSED_USER if isinstance(scenario.arrival, ClosedArrival) else OPEN_USER)
    return command
