"""What a run is asked to do, checked before anything starts: the options, the scenario with
the command line's overrides, and the limits they must respect (rates the workers can
schedule, the price sheet, the receiver's secret, the settling bounds)."""

from __future__ import annotations

import math
import os
import secrets
import shutil
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.receiver.gate import is_loopback_host, parse_secret
from dumgum_loadtest.safety import is_real_target
from dumgum_loadtest.scenarios import Scenario, load_scenario, parse_scenario
from dumgum_loadtest.scenarios.model import ClosedArrival, OpenArrival
from dumgum_loadtest.scenarios.schedule import MAX_WORKER_RATE_RPS
from dumgum_loadtest.settle import QUIET_PERIOD_S


@dataclass
class RunOptions:
    scenario_path: Path
    out_dir: Path | None = None
    target: str | None = None
    duration_s: float | None = None
    rate_rps: float | None = None
    workers: int | None = None
    allow_billable: bool = False
    spend_cap_eur: Decimal | None = None
    max_rate_rps: float | None = None
    receiver_host: str = "127.0.0.1"
    receiver_port: int | None = None
    public_receiver_url: str | None = None
    progress_interval_s: float = 2.0
    # Seconds with nothing recorded before settling may end (None: QUIET_PERIOD_S x the time
    # scale, i.e. 10 s against a real URL).
    settle_quiet_s: float | None = None


def default_workers() -> int:
    """One Locust worker per core left after the mock's and the receiver's (at least one)."""
    return max(1, (os.cpu_count() or 1) - 2)


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
    if options.max_rate_rps is not None and not options.max_rate_rps > 0:
        raise ConfigError(f"--max-rate {options.max_rate_rps:g}: must be more than 0 requests/s")
    if options.settle_quiet_s is not None and not options.settle_quiet_s >= 0:
        raise ConfigError(f"--settle-quiet-s {options.settle_quiet_s:g}: must be 0 or more")


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
    exposed = not is_loopback_host(options.receiver_host) or options.public_receiver_url is not None
    return secrets.token_urlsafe(24) if exposed else None


def settle_quiet_period_s(options: RunOptions, time_scale: float) -> float:
    if options.settle_quiet_s is not None:
        return options.settle_quiet_s
    return QUIET_PERIOD_S * time_scale
