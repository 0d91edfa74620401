"""``run_scenario``: one command from a scenario file to a complete run directory.

For the mock target it starts the mock and the receiver on free loopback ports, then Locust
headless with N worker processes; shows live progress; applies the scenario's timeline to
the mock; lets in-flight conversations settle (bounded, see ``settle.py``); stops everything
it started; and writes the run directory (scenario, environment, Parquet tables, summary.json).

It watches every child it started, during the load and while settling: a dead receiver or
mock ends the run as interrupted, naming it. SIGINT and SIGTERM stop the load the same way
(the run still settles briefly and writes its summary); a second one cuts settling short.
An interrupted run exits with ``EXIT_INTERRUPTED`` whatever its figures say.
"""

from __future__ import annotations

import math
import os
import platform
import secrets
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, Literal

import httpx
import numpy as np
import yaml

from dumgum_loadtest.analysis.analyse import analyse
from dumgum_loadtest.analysis.capacity import capacity_lines
from dumgum_loadtest.analysis.load import load_raw
from dumgum_loadtest.analysis.outcomes import classify
from dumgum_loadtest.calibration import (
    CALIBRATION_DIR,
    CALIBRATION_SETTLE_QUIET_S,
    CalibrationResult,
    calibration_scenario,
    judge,
    write_result,
)
from dumgum_loadtest.errors import (
    EXIT_CALIBRATION_FAILED,
    EXIT_INTERRUPTED,
    EXIT_SLO_FAILED,
    EXIT_SLOS_HOLD,
    ConfigError,
    HarnessError,
    RunInterruptedError,
)
from dumgum_loadtest.external_receiver import check_external_receiver
from dumgum_loadtest.history.store import engine_url, history_url, record_finished_run
from dumgum_loadtest.loadtest.command import (
    DEFAULT_MASTER_PORT,
    RECEIVER_URL_ENV,
    STOP_GRACE_S,
    TOKEN_ENV,
    WORKERS_EXIT_MARGIN_S,
)
from dumgum_loadtest.loadtest.roster import joined_count, roster_notes
from dumgum_loadtest.mock.ledger_merge import merge_ledgers
from dumgum_loadtest.mock.overrides import apply_mock_settings
from dumgum_loadtest.outputs import check_output_dir
from dumgum_loadtest.processes import ManagedProcess, child_env, cli_command, wait_healthy
from dumgum_loadtest.progress import EventTail, RequestTail, read_worker_progress
from dumgum_loadtest.receiver.gate import is_loopback_host, parse_secret
from dumgum_loadtest.receiver.state import MEMORY_STATE, check_processes, check_state_url
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.report import write_reports
from dumgum_loadtest.run_junit import check_junit_path, write_run_junit
from dumgum_loadtest.rundir import (
    RUN_META,
    create_run_dir,
    environment,
    new_run_id,
    refuse_occupied_run_dir,
    remove_created,
    run_dir_for,
    write_json,
    write_scenario,
    write_tables,
)
from dumgum_loadtest.safety import (
    BillingPolicy,
    api_token,
    billing_policy,
    check_rate,
    is_real_target,
)
from dumgum_loadtest.scenarios import Scenario, load_scenario, parse_scenario
from dumgum_loadtest.scenarios.model import (
    MAX_MOCK_PROCESSES,
    MOCK_PROCESSES_KEY,
    Calibrate,
    ClosedArrival,
    OpenArrival,
    weight_notes,
)
from dumgum_loadtest.scenarios.schedule import MAX_WORKER_RATE_RPS
from dumgum_loadtest.serving import check_port_free, free_port
from dumgum_loadtest.settle import (
    QUIET_PERIOD_S,
    RecordedBytes,
    SettleEnd,
    SettleReport,
    possibly_receiving,
    settle,
)

SETTLE_GRACE_S = 2.0
INTERRUPTED_SETTLE_MAX_S = 10.0  # a run cut short settles this long at most
LEDGER_TIMEOUT_S = 5.0
MOCK_LEDGERS_DIR = "mock-ledgers"
"""With several mock processes: each one's ledger, ``mock-<index>.json``, beside the merge."""
# Locust stopped by the run (spend cap, overrun, Ctrl-C) finishes the requests in flight
# within its stop timeout, and its master waits for its workers a little longer.
LOCUST_STOP_S = STOP_GRACE_S + WORKERS_EXIT_MARGIN_S + 5.0
Echo = Callable[[str], None]


@dataclass
class RunOptions:
    scenario_path: Path
    out_dir: Path | None = None
    target: str | None = None
    duration_s: float | None = None
    rate_rps: float | None = None
    workers: int | None = None
    # Processes serving the embedded mock (overrides the scenario's mock.processes).
    mock_processes: int | None = None
    allow_billable: bool = False
    spend_cap_eur: Decimal | None = None
    max_rate_rps: float | None = None
    receiver_host: str = "127.0.0.1"
    receiver_port: int | None = None
    public_receiver_url: str | None = None
    # The receiver's state ("memory" or redis://...) and serving processes (>1: Redis only).
    receiver_state: str = "memory"
    receiver_processes: int = 1
    # An external receiver (``--receiver-url``): run starts none and uses this one, which
    # must share its state in Redis and write its shards into RUN_DIR/raw (external_receiver.py).
    receiver_url: str | None = None
    progress_interval_s: float = 2.0
    # Seconds with nothing recorded before settling may end (None: QUIET_PERIOD_S x the time
    # scale, i.e. 10 s against a real URL).
    settle_quiet_s: float | None = None
    # ``--mock-set PATH=VALUE``: the embedded mock's model changed, the scenario not (so the
    # run stays comparable with others of the scenario: see mock/overrides.py).
    mock_settings: tuple[str, ...] = ()
    # Where the finished run is recorded (None: $DUMGUM_LOADTEST_HISTORY, else nowhere).
    history_url: str | None = None
    record_history: bool = True  # False: never recorded (the calibration run)
    # Calibrate against the embedded mock before the load (None: when the scenario has a
    # calibrate block); see calibration.py.
    calibrate: bool | None = None
    junit_path: Path | None = None  # the SLO verdicts as JUnit XML (run_junit.py)
    write_reports: bool = True  # report.html and report.md (the calibration run skips them)
    # Remote workers (``dumgum-loadtest worker``): how many the master waits for, where it
    # listens, and how long it waits for them to join.
    expect_workers: int | None = None
    master_bind_host: str = "127.0.0.1"
    master_port: int = DEFAULT_MASTER_PORT
    workers_wait_s: float = 120.0


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    exit_code: int
    notes: list[str] = field(default_factory=list)
    interrupted_by: str | None = None  # the first reason the run was cut short
    calibration: CalibrationResult | None = None


def default_workers() -> int:
    """One Locust worker per core left after the mock's and the receiver's (at least one)."""
    return max(1, (os.cpu_count() or 1) - 2)


def check_receiver_options(options: RunOptions) -> None:
    """The options that configure the receiver run starts, refused with ``--receiver-url``:
    that receiver is configured where it is started."""
    if options.receiver_url is None:
        return
    given = [
        name
        for name, is_set in (
            ("--receiver-host", options.receiver_host != RunOptions.receiver_host),
            ("--receiver-port", options.receiver_port is not None),
            ("--receiver-state", options.receiver_state != MEMORY_STATE),
            ("--receiver-processes", options.receiver_processes != 1),
        )
        if is_set
    ]
    if given:
        raise ConfigError(
            f"{', '.join(given)}: configure the receiver run starts; with --receiver-url"
            " give them to that receiver's own command (receiver --host, --port, --state,"
            " --processes)"
        )


def check_receiver_state(state: str, processes: int) -> None:
    """``--receiver-state`` and ``--receiver-processes``, as the receiver command checks them,
    and a Redis server that answers, before anything is started."""
    check_state_url(state, "--receiver-state")
    check_processes(processes, state, "--receiver-processes")
    if state != MEMORY_STATE:
        from dumgum_loadtest.receiver.redis_state import check_reachable

        check_reachable(state, "--receiver-state")


def check_options(options: RunOptions) -> None:
    """The command line's numbers, refused before anything is read, started or written."""
    if options.duration_s is not None and not options.duration_s > 0:
        raise ConfigError(f"--duration {options.duration_s:g}: must be more than 0 seconds")
    if options.rate_rps is not None and not options.rate_rps > 0:
        raise ConfigError(
            f"--rate {options.rate_rps:g}: must be more than 0 requests/s (a run that offers"
            " nothing measures nothing)"
        )
    if options.workers is not None and options.workers < 1:
        raise ConfigError(f"--workers {options.workers}: give 1 or more worker processes")
    if options.mock_processes is not None and not (
        1 <= options.mock_processes <= MAX_MOCK_PROCESSES
    ):
        raise ConfigError(
            f"--mock-processes {options.mock_processes}: give 1 to {MAX_MOCK_PROCESSES} mock"
            " processes"
        )
    if options.max_rate_rps is not None and not options.max_rate_rps > 0:
        raise ConfigError(f"--max-rate {options.max_rate_rps:g}: must be more than 0 requests/s")
    if options.settle_quiet_s is not None and not options.settle_quiet_s >= 0:
        raise ConfigError(f"--settle-quiet-s {options.settle_quiet_s:g}: must be 0 or more")
    if options.expect_workers is not None:
        if options.expect_workers < 1:
            raise ConfigError(
                f"--expect-workers {options.expect_workers}: give 1 or more remote workers"
            )
        if options.workers is not None:
            raise ConfigError(
                f"--workers {options.workers} with --expect-workers {options.expect_workers}:"
                " give one (local worker processes, or remote workers that join)"
            )
        if not options.workers_wait_s > 0:
            raise ConfigError(f"--workers-wait-s {options.workers_wait_s:g}: must be more than 0")
        if not 1 <= options.master_port <= 65535:
            raise ConfigError(
                f"--master-port {options.master_port}: give a TCP port from 1 to 65535 (the"
                " workers are told it: no free-port pick)"
            )


def resolve_scenario(options: RunOptions) -> Scenario:
    """The scenario file with the command line's overrides applied, validated again.

    ``--duration`` stretches or shrinks the stages and the timeline alike: a fault the file
    injects 30 s into a 180 s run comes 10 s into ``--duration 60``, never after the end.
    """
    check_options(options)
    scenario = load_scenario(options.scenario_path)
    data = scenario.model_dump(mode="json")
    if options.target is not None:
        data["target"] = options.target
    if options.mock_processes is not None:
        if is_real_target(data["target"]):
            raise ConfigError(
                f"--mock-processes {options.mock_processes}: the target is a URL"
                f" ({data['target']}); requests are routed to mock processes only when the run"
                " serves the mock: leave --mock-processes out"
            )
        data["mock"] = {**data["mock"], MOCK_PROCESSES_KEY: options.mock_processes}
    arrival = scenario.arrival
    if options.duration_s is not None:
        data["duration_s"] = options.duration_s
        factor = options.duration_s / scenario.run_duration_s
        if isinstance(arrival, OpenArrival) and arrival.stages:
            for stage in data["arrival"]["stages"]:
                stage["duration_s"] = stage["duration_s"] * factor
        for step in data["timeline"]:
            step["at_s"] = step["at_s"] * factor
        data["warmup_s"] = min(scenario.warmup_s, options.duration_s / 4)
    if options.rate_rps is not None:
        if isinstance(arrival, ClosedArrival):
            raise ConfigError(
                f"{options.scenario_path}: --rate applies to open-model scenarios; this one is"
                " closed (arrival.users sets its load)"
            )
        if arrival.stages:
            peak = max(stage.rate_rps for stage in arrival.stages) or 1.0
            for stage in data["arrival"]["stages"]:
                stage["rate_rps"] = stage["rate_rps"] * options.rate_rps / peak
        else:
            data["arrival"]["rate_rps"] = options.rate_rps
    return parse_scenario(data, f"{options.scenario_path} (with command-line overrides)")


def check_schedulable(scenario: Scenario, workers: int, source: Path) -> None:
    """Refuse an open-model rate the workers cannot schedule: past the ceiling every planned
    send is recorded "not sent", and a run at 10^9/s never ends (nor stops writing)."""
    if not isinstance(scenario.arrival, OpenArrival):
        return
    peak = peak_rate_rps(scenario)
    ceiling = MAX_WORKER_RATE_RPS * workers
    if peak > ceiling:
        needed = math.ceil(peak / MAX_WORKER_RATE_RPS)
        raise ConfigError(
            f"{source}: arrival peak rate {peak:g} requests/s is more than {workers} worker(s)"
            f" can schedule ({MAX_WORKER_RATE_RPS:,.0f}/s each, {ceiling:,.0f}/s in all);"
            f" lower the rate or give --workers {needed} or more"
        )


def peak_rate_rps(scenario: Scenario) -> float:
    arrival = scenario.arrival
    if isinstance(arrival, OpenArrival):
        return max(stage.rate_rps for stage in arrival.stage_plan(scenario.duration_s))
    # A closed model's peak: every user sending a burst at once, bounded by its think time.
    return float(arrival.users)


def time_scale_of(scenario: Scenario) -> float:
    if is_real_target(scenario.target):
        return 1.0
    return float(scenario.mock.get("time_scale", 1.0))


def _largest_drawn(scenario: Scenario, field: str, default: float) -> float:
    """The largest numeric value the mix can draw for ``field`` (``default`` when not drawn)."""
    values = [default]
    for mix in (scenario.mix.fields, *scenario.mix.by_model.values()):
        for value in mix.get(field, {}):
            try:
                values.append(float(value))
            except (TypeError, ValueError):
                continue  # omit / null: the API's default, already counted
    return max(values)


def longest_deadline_s(scenario: Scenario) -> float:
    """The longest buffer plus maxProcessingTimeSeconds the mix can draw (DumGum seconds)."""
    return _largest_drawn(
        scenario, "replyParameters.maxProcessingTimeSeconds", 300.0
    ) + _largest_drawn(scenario, "replyParameters.bufferSeconds", 5.0)


def all_resolved(run_dir: Path, time_scale: float) -> bool:
    """Real API: every accepted request answered, dropped or merged (none still lost).

    Only an accepted request (2xx) can still be answered: one that failed in transport or
    was never sent has nothing to wait for, and waiting for it would hold the run until the
    settling bound (minutes at DumGum's time).
    """
    raw = load_raw(run_dir)
    if raw.requests.empty:
        return True
    status = raw.requests["status"].to_numpy(dtype="float64", na_value=np.nan)
    accepted = (status >= 200) & (status < 300)
    lost = (classify(raw.requests, raw.events, time_scale) == "lost").to_numpy(dtype=bool)
    return not bool((lost & accepted).any())


def check_price_sheet(pricing: str | None, scenario_path: Path) -> None:
    """Fail early, naming the price sheet file that does not exist or does not load."""
    from dumgum_loadtest.cost.sheet import resolve_price_sheet

    resolve_price_sheet(pricing, scenario_path)


def keep_price_sheet(scenario: Scenario, scenario_path: Path, run_dir: Path) -> None:
    """Copy the price sheet the run uses into the run directory, so reports rebuild with it."""
    from dumgum_loadtest.cost.section import RUN_PRICE_SHEET
    from dumgum_loadtest.cost.sheet import DEFAULT_SHEET_PATH, pricing_candidates

    if scenario.pricing is None:
        candidates = [DEFAULT_SHEET_PATH]
    else:
        candidates = pricing_candidates(scenario.pricing, scenario_path)
    for candidate in candidates:
        if candidate.is_file():
            shutil.copyfile(candidate, run_dir / RUN_PRICE_SHEET)
            return


SECRET_PATH_ENV = "DUMGUM_RECEIVER_SECRET_PATH"
STATE_ENV = "DUMGUM_RECEIVER_STATE"
REQUIRE_HEADER_ENV = "DUMGUM_RECEIVER_REQUIRE_HEADER"


def receiver_secret_path(options: RunOptions) -> str | None:
    """The secret path segment the run's receiver requires, or None on loopback.

    A receiver others can reach (not on loopback, or behind a public URL, i.e. a tunnel that
    forwards from loopback) gets one, so nobody who finds the port can post events or use its
    control API. ``DUMGUM_RECEIVER_SECRET_PATH`` keeps the same one across runs (the
    dashboard is then configured once); otherwise a new one is drawn per run.
    """
    if REQUIRE_HEADER_ENV in os.environ:
        raise ConfigError(
            f"{REQUIRE_HEADER_ENV} is set: run protects its receiver with a secret path"
            f" ({SECRET_PATH_ENV}) that the mock and Locust know; the required header is for"
            " the receiver command alone. Unset it for run."
        )
    given = os.environ.get(SECRET_PATH_ENV) or None
    if given is not None:
        parse_secret(given, None)  # fails early, with the rule
        return given.strip("/")
    if options.receiver_url is not None:
        return None  # an external receiver's secret is its own: only the environment knows it
    exposed = not is_loopback_host(options.receiver_host) or options.public_receiver_url is not None
    return secrets.token_urlsafe(24) if exposed else None


def mock_token(options: RunOptions) -> str:
    """The token the run's mock accepts: a new one per run, unless remote workers send the
    load: they take theirs from their own environment, so master and workers share
    ``DUMGUM_LOADTEST_TOKEN`` (it never travels over the network)."""
    if options.expect_workers is None:
        return f"sk-proj-run-{secrets.token_urlsafe(18)}"
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise ConfigError(
            f"--expect-workers against the mock: set {TOKEN_ENV} (any value) here and on every"
            " worker; the workers authenticate with it from their own environment"
        )
    return token


def settle_quiet_period_s(options: RunOptions, time_scale: float) -> float:
    if options.settle_quiet_s is not None:
        return options.settle_quiet_s
    return QUIET_PERIOD_S * time_scale


def run_scenario(options: RunOptions, echo: Echo = print) -> RunResult:
    """The scenario file with the command line's overrides, run (calibrated first when asked)."""
    return run_resolved(resolve_scenario(options), options, echo)


def run_resolved(scenario: Scenario, options: RunOptions, echo: Echo = print) -> RunResult:
    """Run ``scenario`` as given (``options.scenario_path`` only names it in messages)."""
    run_id = new_run_id(scenario.name)
    run_dir = run_dir_for(options.out_dir, run_id)
    # Everything that can be refused is, before anything is started or written: a refused
    # run leaves no half-made run directory behind.
    external = options.receiver_url is not None
    refuse_occupied_run_dir(run_dir, external_receiver=external)
    check_receiver_options(options)
    check_output_dir(run_dir, "--out")
    target = scenario.target
    real = is_real_target(target)
    token = api_token() if real else mock_token(options)
    policy = billing_policy(target, options.allow_billable, options.spend_cap_eur)
    check_rate(target, peak_rate_rps(scenario), options.max_rate_rps)
    workers = options.expect_workers or options.workers or default_workers()
    if options.expect_workers is not None:
        check_port_free(options.master_bind_host, options.master_port, "--master-port")
    check_schedulable(scenario, workers, options.scenario_path)
    check_price_sheet(scenario.pricing, options.scenario_path)  # names the missing file
    if options.mock_settings:
        if real:
            raise ConfigError("--mock-set: changes the embedded mock; this run targets a real URL")
        apply_mock_settings(scenario.mock_model, options.mock_settings)  # refused here if invalid
    if options.receiver_url is None:
        if options.receiver_port is not None:
            check_port_free(options.receiver_host, options.receiver_port, "--receiver-port")
        check_receiver_state(options.receiver_state, options.receiver_processes)
    if options.junit_path is not None:
        check_junit_path(options.junit_path)
    calibration_settings = calibration_settings_of(scenario, options)
    time_scale = time_scale_of(scenario)
    secret_path = receiver_secret_path(options)
    history = history_url(options.history_url)
    if history is not None:
        engine_url(history)  # a URL of an unsupported kind is refused before the run
    if options.receiver_url is not None:  # last: it asks over the network
        check_external_receiver(options.receiver_url, secret_path, run_dir)
    created = create_run_dir(run_dir, external_receiver=external)
    session = _Session(
        scenario, options, run_id, run_dir, token, policy, workers, echo, secret_path
    )
    for note in weight_notes(scenario):  # said before the load, and kept in the run's notes
        echo(f"note: {options.scenario_path}: {note}")
        session.notes.append(note)
    try:
        write_scenario(run_dir, scenario)
        keep_price_sheet(scenario, options.scenario_path, run_dir)
        calibration = None
        if calibration_settings is not None:
            calibration = calibrate(calibration_settings, run_dir, echo)
        with StopSignals() as signals:
            result = session.execute(time_scale, signals)
        result.calibration = calibration
        return finish(result, options, echo)
    except HarnessError:
        if session.load_started_ns is None:
            # Refused while starting (a receiver that could not listen, say): nothing was
            # measured, so nothing of this run stays behind.
            session.stop_all()
            # An external receiver's shards stay: it holds them open, and writes on.
            remove_created(run_dir, created, keep=frozenset({RAW_DIR} if external else ()))
        raise
    finally:
        # Whatever happened, end what we started; the raw shards stay where they are.
        session.stop_all()


def calibration_settings_of(scenario: Scenario, options: RunOptions) -> Calibrate | None:
    """What to calibrate with, or None: ``--calibrate`` / ``--no-calibrate`` decide, else the
    scenario's ``calibrate`` block (defaults when ``--calibrate`` meets a scenario without)."""
    if options.calibrate is False:
        return None
    if options.calibrate is None:
        return scenario.calibrate
    return scenario.calibrate or Calibrate()


def calibrate(settings: Calibrate, run_dir: Path, echo: Echo) -> CalibrationResult:
    """The calibration run into ``RUN_DIR/calibration/`` through the same code as any run,
    judged; its verdict is written next to the summary (``analyse`` puts it there) and said.

    A signal during calibration stops the whole run before its load: RunInterruptedError.
    """
    out = run_dir / CALIBRATION_DIR
    echo(
        f"calibration: {settings.duration_s:g} s at {settings.rate_rps:g} requests/s against"
        f" the embedded mock; known: time to first answer {settings.first_answer_s:.3f} s"
        f" ({settings.generation_s:g} s simulated x time scale {settings.time_scale:g}),"
        f" drop rate {settings.drop_rate * 100:g} %"
    )
    options = RunOptions(
        scenario_path=out / "scenario.yaml",
        out_dir=out,
        workers=1,
        settle_quiet_s=CALIBRATION_SETTLE_QUIET_S,
        progress_interval_s=1.0,
        calibrate=False,
        write_reports=False,
        record_history=False,  # the night is recorded, with its calibration's verdict inside
    )
    started = time.monotonic()
    result = run_resolved(
        calibration_scenario(settings), options, lambda line: echo(f"  calibration | {line}")
    )
    if result.interrupted_by in {s.name for s in StopSignals.HANDLED}:
        raise RunInterruptedError(
            f"calibration interrupted by {result.interrupted_by}: the load was not started"
            f" (exit code {EXIT_INTERRUPTED})"
        )
    verdict = judge(settings, result.summary, time.monotonic() - started)
    write_result(run_dir, verdict)
    echo(f"{verdict.sentence} ({verdict.wall_s:g} s)")
    return verdict


def finish(result: RunResult, options: RunOptions, echo: Echo) -> RunResult:
    """A failed calibration makes a completed run exit 1; the JUnit file, when asked."""
    calibration = result.calibration
    if calibration is not None:
        echo(calibration.sentence)
        if not calibration.passed and result.exit_code != EXIT_INTERRUPTED:
            result.exit_code = EXIT_CALIBRATION_FAILED
            echo(
                "CALIBRATION FAILED: the harness did not recover the embedded mock's known"
                f" figures, so this run is invalid (exit code {EXIT_CALIBRATION_FAILED});"
                f" see {result.run_dir / CALIBRATION_DIR}"
            )
    if options.junit_path is not None:
        write_run_junit(options.junit_path, result.summary)
        echo(f"junit: {options.junit_path}")
    return result


class StopSignals:
    """SIGINT and SIGTERM (what CI sends on a timeout) while a run goes, both alike: the
    first stops the load (the run still settles briefly and writes its summary), one more
    cuts settling short. After two, the previous handlers are back: a third ends the process
    at once (``dumgum-loadtest report`` then rebuilds what it can)."""

    HANDLED = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.received: list[str] = []  # signal names, in arrival order
        self._previous: dict[signal.Signals, Any] = {}

    def __enter__(self) -> StopSignals:
        # Python delivers signals to the main thread only: elsewhere, leave them alone.
        if threading.current_thread() is threading.main_thread():
            for signum in self.HANDLED:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._restore()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signal.Signals(signum).name)
        if len(self.received) >= 2:
            self._restore()

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()


def _exit_description(code: int | None) -> str:
    """``signal 9`` for a child killed by a signal, else ``exit code N``."""
    if code is not None and code < 0:
        return f"signal {-code}"
    return f"exit code {code}"


class _Session:
    """One run's processes and clock; ``stop_all`` ends exactly what it started."""

    def __init__(
        self,
        scenario: Scenario,
        options: RunOptions,
        run_id: str,
        run_dir: Path,
        token: str,
        policy: BillingPolicy,
        workers: int,
        echo: Echo,
        secret_path: str | None = None,
    ) -> None:
        self.scenario = scenario
        # Kept in memory and handed to children by environment: written to no file.
        self.secret_path = secret_path
        self.options = options
        self.run_id = run_id
        self.run_dir = run_dir
        self.token = token
        self.policy = policy
        self.workers = workers
        self.echo = echo
        self.processes: list[ManagedProcess] = []
        self.receiver: ManagedProcess | None = None
        self._receiver_port: int | None = None
        self.mock: ManagedProcess | None = None  # the first of ``mocks``
        self.mock_url: str | None = None  # the first of ``mock_urls``: the run serves the mock
        self.mocks: list[ManagedProcess] = []  # one per mock.processes
        self.mock_urls: list[str] = []
        self.notes: list[str] = []
        self.servers: dict[str, Any] = {}
        self.generator_cpu_max_pct = 0.0  # the busiest worker at any progress tick
        self._last_tick = (0.0, 0)  # (elapsed s, requests sent) at the last progress line
        self._requests_tail = RequestTail(run_dir)
        self.interrupted_by: str | None = None  # the first reason the run was cut short
        self.load_started_ns: int | None = None
        self.load_ended_ns: int | None = None
        self.observed_until_ns: int | None = None
        self.receiver_died_ns: int | None = None
        self.settle_report: SettleReport | None = None
        self.dead_noted: set[str] = set()  # children whose death is already a note

    # -- processes ----------------------------------------------------------------------

    def _start(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process.start())
        return process

    def stop_all(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def _with_secret(self, base_url: str) -> str:
        base_url = base_url.rstrip("/")
        return f"{base_url}/{self.secret_path}" if self.secret_path else base_url

    def _redacted(self, text: str) -> str:
        return text.replace(self.secret_path, "<secret>") if self.secret_path else text

    def _receiver_env(self) -> dict[str, str]:
        env = {STATE_ENV: self.options.receiver_state}
        if self.secret_path:
            env[SECRET_PATH_ENV] = self.secret_path
        return env

    def _start_receiver(self) -> tuple[ManagedProcess | None, str, str]:
        """Start the receiver, not waiting for it; returns it, its loopback URL (secret path
        included) and its health URL, for ``wait_healthy``. With ``--receiver-url`` nothing
        is started (None): that receiver answered before the run began."""
        if self.options.receiver_url is not None:
            base_url = self.options.receiver_url.rstrip("/")
            return None, self._with_secret(base_url), f"{base_url}/health"
        host = self.options.receiver_host
        port = self.options.receiver_port or free_port(host)
        receiver = self._start(
            ManagedProcess(
                "receiver",
                cli_command(
                    "receiver",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--out",
                    str(self.run_dir / RAW_DIR),
                    "--processes",
                    str(self.options.receiver_processes),
                ),
                self.run_dir / "logs" / "receiver.log",
                # The secret by environment, never on a command line others can list.
                # The state URL too: it may hold a password.
                env=child_env(**self._receiver_env()),
            )
        )
        self.receiver = receiver
        self._receiver_port = port
        local = f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}"
        return receiver, self._with_secret(local), f"{local}/health"

    def _start_mocks(self, receiver_url: str) -> list[ManagedProcess]:
        """Start ``mock.processes`` mocks on their own ports, all with the scenario's model,
        not waiting for them; their URLs go to ``mock_urls`` (health: ``/health``)."""
        config = apply_mock_settings(self.scenario.mock_model, self.options.mock_settings)
        config.setdefault("seed", self.scenario.seed)
        config_path = self.run_dir / "mock-config.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        count = self.scenario.mock_processes
        # One process keeps the names it always had (mock, logs/mock.log).
        names = ["mock"] if count == 1 else [f"mock-{i}" for i in range(count)]
        # Remote workers send to the mock: it listens where the master does.
        host = self.options.master_bind_host if self.options.expect_workers else "127.0.0.1"
        ports: list[int] = []
        while len(ports) < count:  # distinct: the OS may hand a just-freed port out again,
            port = free_port(host)  # and the receiver may not have bound its port yet
            if port not in ports and port != self._receiver_port:
                ports.append(port)
        self.mocks = [
            self._start_mock(name, config_path, receiver_url, host, port)
            for name, port in zip(names, ports, strict=True)
        ]
        self.mock = self.mocks[0]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        self.mock_urls = [f"http://{shown}:{port}" for port in ports]
        return self.mocks

    def _start_mock(
        self, name: str, config_path: Path, receiver_url: str, host: str, port: int
    ) -> ManagedProcess:
        return self._start(
            ManagedProcess(
                name,
                cli_command(
                    "mock",
                    "--host",
                    host,
                    "--port",
                    str(port),
                    "--config",
                    str(config_path),
                ),
                self.run_dir / "logs" / f"{name}.log",
                # The token and the receiver's URLs (they may hold its secret path) by
                # environment, never on a command line.
                env=child_env(
                    DUMGUM_MOCK_TOKENS=self.token,
                    # The run reads the ledger and applies the timeline with its own token,
                    # whatever control token the user's environment names.
                    DUMGUM_MOCK_CONTROL_TOKEN=self.token,
                    DUMGUM_MOCK_INCOMING_CONTENT_URL=f"{receiver_url}/incoming",
                    DUMGUM_MOCK_PROFILE_URL=f"{receiver_url}/profile",
                    DUMGUM_MOCK_CHAT_HISTORY_URL=f"{receiver_url}/chat-history",
                    DUMGUM_MOCK_MEMORY_WEBHOOK_URL=f"{receiver_url}/memory",
                ),
            )
        )

    def _dead_server(self) -> ManagedProcess | None:
        """The receiver or a mock process, if one of them is no longer running."""
        for process in (self.receiver, *self.mocks):
            if process is not None and not process.running():
                return process
        return None

    def _server_died(self, process: ManagedProcess, during: str) -> None:
        """Record that the receiver or the mock died: the run is cut short, and says why."""
        if process.name in self.dead_noted:
            return
        self.dead_noted.add(process.name)
        code = process.wait(0)
        how = _exit_description(code)
        if process is self.receiver and self.receiver_died_ns is None:
            self.receiver_died_ns = time.time_ns()
        consequence = (
            "events after that were never recorded, so the requests they answer count as lost"
            " through the harness's fault, not the target's"
            if process is self.receiver
            else "the target itself was gone: nothing after that was answered"
        )
        self._interrupt(
            f"{process.name} died ({how})",
            f"the {process.name} died during {during} ({how}); {consequence};"
            f" see logs/{process.log_path.name}",
        )
        self.echo(f"{process.name} died ({how}) during {during}: stopping the run")

    def _interrupt(self, reason: str, note: str) -> None:
        if self.interrupted_by is None:
            self.interrupted_by = reason
        self.notes.append(note)

    # -- the run --------------------------------------------------------------------------

    def execute(self, time_scale: float, signals: StopSignals) -> RunResult:
        from dumgum_loadtest.loadtest.command import locust_command

        scenario = self.scenario
        self._write_meta("running")  # a run killed from here on is reported as cut short
        receiver, receiver_url, receiver_health = self._start_receiver()
        if is_real_target(scenario.target):
            if receiver is not None:
                wait_healthy(receiver, receiver_health)
            target_url = scenario.target.rstrip("/")
            self._announce_customer_endpoints(receiver_url)
        else:
            # All start at once (a second or more sooner than one after the other); the
            # mock calls the receiver only once the load has begun, after all answered.
            mocks = self._start_mocks(receiver_url)
            if receiver is not None:
                wait_healthy(receiver, receiver_health)
            for mock, url in zip(mocks, self.mock_urls, strict=True):
                wait_healthy(mock, f"{url}/health")
            target_url = self.mock_url = self.mock_urls[0]
        write_json(
            self.run_dir / "environment.json",
            environment(
                "mock" if self.mock_url else scenario.target,
                time_scale,
                self.workers,
                {
                    "run_id": self.run_id,
                    "force_test_mode": self.policy.force_test_mode,
                    "mock_overrides": list(self.options.mock_settings),
                    "remote_workers": self.options.expect_workers is not None,
                },
            ),
        )
        self.echo(
            f"run {self.run_id}: {scenario.name} against"
            f" {'the embedded mock' if self.mock_url else target_url}, {self.workers} worker(s),"
            f" {scenario.run_duration_s:g} s (+{scenario.warmup_s:g} s warm-up inside)"
        )
        locust = self._start(
            ManagedProcess(
                "locust",
                locust_command(
                    scenario_path=self.run_dir / "scenario.yaml",
                    run_dir=self.run_dir,
                    run_id=self.run_id,
                    target_url=target_url,
                    receiver_url=None,  # by environment: it may hold the secret path
                    workers=self.workers,
                    scenario=scenario,
                    force_test_mode=self.policy.force_test_mode,
                    expect_workers=self.options.expect_workers,
                    master_bind_host=self.options.master_bind_host,
                    master_port=self.options.master_port,
                    mock_urls=self.mock_urls,
                ),
                self.run_dir / "logs" / "locust.log",
                env=child_env(DUMGUM_LOADTEST_TOKEN=self.token, **{RECEIVER_URL_ENV: receiver_url}),
            )
        )
        if self.options.expect_workers is not None:
            self._await_workers(locust, signals)
        started = time.monotonic()
        self.load_started_ns = time.time_ns()
        self._write_meta("running")  # with load_started_ns: a killed run knows when it began
        self._watch(locust, started, signals)
        self.load_ended_ns = time.time_ns()
        self.notes.extend(roster_notes(self.run_dir, self.load_started_ns))
        self._write_meta("running")
        self.settle_report = self._settle(time_scale, signals)
        self.observed_until_ns = self.receiver_died_ns or time.time_ns()
        ledgers = self._fetch_ledgers()
        ledger = merge_ledgers(ledgers) if ledgers else None
        if ledger is None and self.mocks and all(mock.running() for mock in self.mocks):
            self.notes.append("the mock's ledger could not be read at the end of the run")
        self.servers = self._server_health(ledger, receiver_url)
        self.stop_all()
        if ledger is not None:
            write_json(self.run_dir / "mock-ledger.json", ledger)
            if len(ledgers) > 1:  # each process's own, as it was merged
                (self.run_dir / MOCK_LEDGERS_DIR).mkdir(exist_ok=True)
                for index, process_ledger in enumerate(ledgers):
                    write_json(
                        self.run_dir / MOCK_LEDGERS_DIR / f"mock-{index}.json", process_ledger
                    )
        settled_s = self.settle_report.waited_s
        self.echo(f"settled after {settled_s:.1f} s; writing the tables from the raw records")
        unreadable = write_tables(self.run_dir)
        if unreadable:
            self.notes.append(f"{unreadable} unreadable lines skipped in the raw shards")
        self.settle_report = self._count_possibly_receiving(self.settle_report, ledger)
        interrupted = self.interrupted_by is not None
        self._write_meta("interrupted" if interrupted else "completed")
        self.echo("analysing: outcomes, latency, capacity, cost")
        analysis = analyse(self.run_dir, scenario)
        write_json(self.run_dir / "summary.json", analysis.summary)
        if self.options.write_reports:
            self.echo("writing report.html and report.md")
            write_reports(self.run_dir, analysis)
        self._print_result(analysis.summary)
        history = history_url(self.options.history_url) if self.options.record_history else None
        if history is not None:
            record_finished_run(history, self.run_dir, self.echo)
        if interrupted:
            exit_code = EXIT_INTERRUPTED
        else:
            exit_code = EXIT_SLOS_HOLD if analysis.summary["passed"] else EXIT_SLO_FAILED
        return RunResult(self.run_dir, analysis.summary, exit_code, self.notes, self.interrupted_by)

    def _write_meta(self, status: str) -> None:
        write_json(
            self.run_dir / RUN_META,
            {
                "run_id": self.run_id,
                "status": status,
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                # Who writes it: `report` marks a "running" run whose process is gone.
                "pid": os.getpid(),
                "host": platform.node(),
                "interrupted_by": self.interrupted_by,
                "load_started_ns": self.load_started_ns,
                "load_ended_ns": self.load_ended_ns,
                "observed_until_ns": self.observed_until_ns,
                "settle": self.settle_report.to_json() if self.settle_report else None,
                "notes": self.notes,
                "servers": self.servers,
                "generator_cpu_max_pct": round(self.generator_cpu_max_pct, 1),
            },
        )

    def _announce_customer_endpoints(self, receiver_url: str) -> None:
        # Printed to the terminal only (never into the run directory): with a secret path,
        # these URLs are the credential DumGum needs.
        public_base = self.options.public_receiver_url
        public = self._with_secret(public_base) if public_base else receiver_url
        self.echo("Configure these customer endpoints in DumGum's dashboard for this project:")
        for name, path in (
            ("Incoming Content Endpoint", "/incoming"),
            ("Profile Endpoint", "/profile"),
            ("Chat History Endpoint", "/chat-history"),
            ("Memory Webhook (optional)", "/memory"),
        ):
            self.echo(f"  {name:<26} {public}{path}")
        try:
            status = httpx.get(f"{public}/health", timeout=5).status_code
        except httpx.TransportError as exc:
            status = None
            note = f"customer endpoints at {public} did not answer: {exc}"
            self.notes.append(self._redacted(note))  # notes are written to run-meta.json
        self.echo(f"  check: GET {public}/health -> {status if status else 'no answer'}")
        if self.secret_path:
            self.echo(
                "  (the path segment after the host is this run's receiver secret: requests"
                f" without it get 404; set {SECRET_PATH_ENV} to keep one across runs)"
            )

    def _await_workers(self, locust: ManagedProcess, signals: StopSignals) -> None:
        """Until the remote workers the run expects have joined the master (bounded)."""
        expected = self.options.expect_workers or 0
        wait_s = self.options.workers_wait_s
        port = self.options.master_port
        self.echo(
            f"waiting up to {wait_s:g} s for {expected} worker(s): on each machine run"
            f" `dumgum-loadtest worker --master-host <this host> --master-port {port}`"
            f" (the master listens on {self.options.master_bind_host}:{port})"
        )
        deadline = time.monotonic() + wait_s
        joined = 0
        while True:
            joined = joined_count(self.run_dir)
            if joined >= expected:
                self.echo(f"{joined} worker(s) joined: starting the load")
                return
            failure = None
            if signals.received:
                failure = f"interrupted by {signals.received[0]}"
            elif not locust.running():
                # (its log goes with the run directory: nothing was measured)
                failure = f"Locust's master ended ({_exit_description(locust.wait(0))})"
            elif self._dead_server() is not None:
                failure = "the receiver or the mock died"
            elif time.monotonic() > deadline:
                failure = f"--workers-wait-s {wait_s:g} passed"
            if failure is not None:
                locust.stop()
                raise HarnessError(
                    f"--expect-workers {expected}: {joined} of {expected} worker(s) joined"
                    f" before {failure}; start `dumgum-loadtest worker --master-host HOST"
                    f" --master-port {port}` on each worker machine (TCP {port} open on the"
                    " master)"
                )
            time.sleep(0.2)

    def _watch(self, locust: ManagedProcess, started: float, signals: StopSignals) -> None:
        """Until Locust ends: progress, timeline, spend cap, signals, the other children."""
        timeline = sorted(self.scenario.timeline, key=lambda step: step.at_s)
        tail = EventTail(self.run_dir)
        interval_s = self.options.progress_interval_s
        next_print = started + interval_s
        limit_s = self.scenario.run_duration_s + 60.0
        try:
            while locust.running():
                if signals.received:
                    name = signals.received[0]
                    self._interrupt(name, f"interrupted by {name} during the load")
                    self.echo(f"{name}: stopping the load (once more: stop settling too)")
                    locust.stop(LOCUST_STOP_S)
                    return
                dead = self._dead_server()
                if dead is not None:
                    self._server_died(dead, "the load")
                    locust.stop()
                    return
                now = time.monotonic()
                elapsed_s = now - started
                while timeline and timeline[0].at_s <= elapsed_s:
                    self._apply_timeline(timeline.pop(0).patch, elapsed_s)
                if now >= next_print:
                    tail.poll()
                    self._print_progress(elapsed_s, tail)
                    next_print = now + interval_s
                    if self._over_spend_cap(tail):
                        locust.stop(LOCUST_STOP_S)
                        return
                if elapsed_s > limit_s:
                    self._interrupt(
                        "Locust overran its run time",
                        "Locust overran the scenario by 60 s and was stopped",
                    )
                    locust.stop(LOCUST_STOP_S)
                    return
                time.sleep(0.1)
        except KeyboardInterrupt:  # only when the handlers could not be installed
            self._interrupt("SIGINT", "interrupted by SIGINT during the load")
            locust.stop(LOCUST_STOP_S)
            return
        code = locust.wait(0)
        if code not in (0, None):
            # Ended by itself, but not cleanly: its workers may not have sent all they should.
            self._interrupt(
                f"Locust ended with {_exit_description(code)}",
                f"Locust ended with {_exit_description(code)}; see logs/locust.log",
            )

    def _apply_timeline(self, patch: dict[str, Any], elapsed_s: float) -> None:
        for index, url in enumerate(self.mock_urls):  # every process runs the same model
            response = httpx.patch(
                f"{url}/_mock/config",
                json=patch,
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=5,
            )
            state = "applied" if response.status_code == 200 else f"refused ({response.text})"
            which = f" (process {index})" if len(self.mock_urls) > 1 else ""
            self.echo(f"  {elapsed_s:6.1f} s  timeline: mock config {patch} {state}{which}")

    def _print_progress(self, elapsed_s: float, tail: EventTail) -> None:
        counts = read_worker_progress(self.run_dir)
        self.generator_cpu_max_pct = max(self.generator_cpu_max_pct, counts.get("cpu_pct", 0.0))
        sent = int(counts.get("sent", 0))
        # The rate since the last line, not since the start: a step in the rate shows at once.
        last_s, last_sent = self._last_tick
        rate_rps = (sent - last_sent) / max(elapsed_s - last_s, 1e-9)
        self._last_tick = (elapsed_s, sent)
        self._requests_tail.poll()
        self.echo(
            f"  {elapsed_s:6.1f} s  scheduled {int(counts.get('scheduled', 0))}"
            f"  sent {sent} ({rate_rps:.0f}/s now)"
            f"  in flight {int(counts.get('in_flight', 0))}"
            f"  not sent {int(counts.get('not_sent', 0))}"
            f"  | answered {tail.answers}  dropped {tail.dropped}"
            f"  awaiting a reply {self._requests_tail.awaiting(tail)}"
            f"  | lag p99 {counts.get('lag_p99_ms', 0):.1f} ms"
        )

    def _over_spend_cap(self, tail: EventTail) -> bool:
        cap = self.policy.spend_cap_eur
        if cap is None or tail.cost_eur < cap:
            return False
        self._interrupt(
            "spend cap", f"stopped by the spend cap: {tail.cost_eur} EUR received >= {cap} EUR"
        )
        self.echo(f"spend cap reached ({tail.cost_eur} >= {cap} EUR): stopping the load")
        return True

    def _settle(self, time_scale: float, signals: StopSignals) -> SettleReport:
        """Let conversations in flight finish: until the target is idle and nothing was
        recorded for the quiet period, bounded by the longest deadline in the mix."""
        bound_s = longest_deadline_s(self.scenario) * time_scale + SETTLE_GRACE_S
        if self.interrupted_by is not None:
            bound_s = min(bound_s, INTERRUPTED_SETTLE_MAX_S)
        quiet_s = settle_quiet_period_s(self.options, time_scale)
        recorded = RecordedBytes(self.run_dir)
        # The signal that stopped the load is spent; any further one stops settling.
        stopped_by_signal = self.interrupted_by in {s.name for s in StopSignals.HANDLED}
        signals_spent = 1 if stopped_by_signal else 0

        def stop() -> SettleEnd | None:
            if len(signals.received) > signals_spent:
                name = signals.received[-1]
                self._interrupt(name, f"interrupted by {name} while settling")
                return "interrupted"
            dead = self._dead_server()
            if dead is not None:
                self._server_died(dead, "settling")
                return "receiver_died" if dead is self.receiver else "interrupted"
            return None

        target_idle: Callable[[], bool | None]
        ends_as: Literal["quiet", "all_resolved"]
        if self.mock_url is not None:
            target_idle, ends_as = self._mock_idle, "quiet"
        else:
            target_idle, ends_as = self._resolved_since(recorded, time_scale), "all_resolved"
        self.echo(
            f"settling: until the target is idle and nothing arrives for {quiet_s:g} s"
            f" (at most {bound_s:.1f} s)"
        )
        report = settle(
            bound_s=bound_s,
            quiet_period_s=quiet_s,
            target_idle=target_idle,
            recorded=recorded,
            stop=stop,
            idle_ends_as=ends_as,
            interval_s=0.2 if self.mock_url is not None else 1.0,
        )
        if report.target_unreadable:
            self.notes.append(
                f"the mock's ledger could not be read {report.target_unreadable} time(s) while"
                " settling (it answered too slowly); settling never took that for quiet"
            )
        return report

    def _resolved_since(
        self, recorded: RecordedBytes, time_scale: float
    ) -> Callable[[], bool | None]:
        """A real URL's "idle": every request resolved. Reading every record is costly, and
        nothing can resolve without a new record: checked again only when one arrived."""
        last: dict[str, Any] = {"bytes": None, "resolved": False}

        def resolved() -> bool | None:
            now = recorded()
            if now != last["bytes"]:
                last["bytes"], last["resolved"] = now, self._all_resolved(time_scale)
            return bool(last["resolved"])

        return resolved

    def _all_resolved(self, time_scale: float) -> bool:
        return all_resolved(self.run_dir, time_scale)

    def _mock_idle(self) -> bool | None:
        """Nothing buffered or in progress at the mock; None when its ledger is unreadable
        (a mock past saturation answers late: that is never "quiet")."""
        ledger = self._fetch_ledger()
        if ledger is None:
            return None
        gauges = ledger.get("gauges", {})
        return bool(
            gauges.get("replies_in_progress", 1) == 0 and gauges.get("buffered_enqueues", 1) == 0
        )

    def _count_possibly_receiving(
        self, report: SettleReport, ledger: dict[str, Any] | None
    ) -> SettleReport:
        """For settling that did not end idle: how many conversations may still have been
        receiving when the receiver stopped, said in a note and in run-meta.json."""
        if report.ended_by in ("quiet", "all_resolved"):
            return report
        gauges = (ledger or {}).get("gauges") or {}
        if "replies_in_progress" in gauges:
            count = int(gauges.get("replies_in_progress", 0)) + int(
                gauges.get("buffered_enqueues", 0)
            )
            how = "replies in progress or buffered at the mock when it stopped"
        else:
            count = possibly_receiving(
                self.run_dir, self.observed_until_ns or time.time_ns(), report.quiet_period_s
            )
            how = (
                f"conversations whose latest event arrived within the last"
                f" {report.quiet_period_s:g} s, or was an answer.processing not yet followed"
                " by a message"
            )
        ended = {
            "bound": f"settling stopped at its bound ({report.bound_s:.1f} s)",
            "interrupted": f"settling was cut short after {report.waited_s:.1f} s",
            "receiver_died": "settling ended with the receiver",
        }[report.ended_by]
        self.notes.append(f"{ended}: {count} may still have been receiving ({how})")
        return SettleReport(
            report.ended_by,
            report.waited_s,
            report.bound_s,
            report.quiet_period_s,
            count,
            report.target_unreadable,
        )

    def _server_health(self, ledger: dict[str, Any] | None, receiver_url: str) -> dict[str, Any]:
        """Event-loop lag of the mock and the receiver, for the report's run health."""
        servers: dict[str, Any] = {}
        if ledger is not None:
            servers["mock"] = {"loop_lag_ms": ledger.get("gauges", {}).get("loop_lag_ms")}
        if self.receiver is not None and not self.receiver.running():
            return servers  # dead: nothing to ask, and its death is already a note
        try:
            stats = httpx.get(f"{receiver_url}/_receiver/stats", timeout=5).json()
            servers["receiver"] = {"loop_lag_ms": stats.get("loop_lag_ms")}
        except (httpx.TransportError, ValueError):
            self.notes.append("the receiver's stats could not be read at the end")
        return servers

    def _fetch_ledger(self) -> dict[str, Any] | None:
        """The mock's ledger, merged over its processes; None when one cannot be read."""
        ledgers = self._fetch_ledgers()
        return merge_ledgers(ledgers) if ledgers else None

    def _fetch_ledgers(self) -> list[dict[str, Any]]:
        """Each mock process's ledger, in process order; empty when any cannot be read (a
        merge without one process would undercount)."""
        ledgers = []
        for mock, url in zip(self.mocks, self.mock_urls, strict=True):
            if not mock.running():
                return []
            try:
                response = httpx.get(
                    f"{url}/_mock/ledger",
                    headers={"Authorization": f"Bearer {self.token}"},
                    timeout=LEDGER_TIMEOUT_S,
                )
            except httpx.TransportError:
                return []
            if response.status_code != 200:
                return []
            ledgers.append(response.json())
        return ledgers

    def _print_result(self, summary: dict[str, Any]) -> None:
        outcomes = summary["outcomes"]
        requests = summary["requests"]
        self.echo(
            f"requests: scheduled {requests['scheduled']}, sent {requests['sent']},"
            f" accepted {requests['accepted']}, rejected {requests['rejected']},"
            f" not sent {requests['not_sent']}"
        )
        self.echo("outcomes: " + ", ".join(f"{k} {v}" for k, v in outcomes.items()))
        first = summary["latency_s"]["first_answer"]["from_intended"]["censored"]
        if first.get("count"):
            self.echo(
                f"first answer from the intended send (censored): p50 {first['p50']:.3f} s,"
                f" p99 {first['p99']:.3f} s, max {first['max']:.3f} s"
            )
        for row in summary["slo"]:
            verdict = "pass" if row["pass"] else "FAIL"
            self.echo(f"SLO {row['objective']}: {row['measured']} vs {row['target']} {verdict}")
        for line in capacity_lines(summary.get("capacity")):
            self.echo(line)
        cost = summary.get("cost") or {}
        projected = (cost.get("projected") or {}).get("total_eur")
        if projected is not None:
            measured = (cost.get("measured") or {}).get("total_eur")
            self.echo(f"cost: projected {projected} EUR as if live, measured {measured} EUR")
        for note in self.notes:
            self.echo(f"note: {note}")
        if self.interrupted_by is not None:
            self.echo(
                f"INTERRUPTED ({self.interrupted_by}): the figures are incomplete"
                f" (exit code {EXIT_INTERRUPTED})"
            )
        self.echo(f"run directory: {self.run_dir}")
        if self.options.write_reports:
            self.echo(f"report: {self.run_dir / 'report.html'}")


__all__ = ["RunOptions", "RunResult", "run_scenario"]
