"""The generator's options, resolved and checked, and the token from the environment.

No locust import: the resolution is tested in process. The bearer token is read only from
``DUMGUM_LOADTEST_TOKEN``, kept out of ``repr``, and never logged or written.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dumgum_loadtest.errors import ConfigError, SafetyError
from dumgum_loadtest.loadtest.command import OPTION_NAMES, TOKEN_ENV
from dumgum_loadtest.mock import DEFAULT_TOKEN
from dumgum_loadtest.scenarios import Scenario, load_scenario, parse_scenario
from dumgum_loadtest.scenarios.model import ClosedArrival

SCENARIO_JSON_OPTION = "dlt_scenario_json"
"""Set on the master's parsed options for remote workers: the resolved scenario as JSON
(Locust forwards it with the spawn message; a remote worker has no copy of the file)."""


@dataclass(frozen=True)
class GeneratorOptions:
    """The options one worker runs with, resolved and checked."""

    scenario_path: Path
    scenario: Scenario
    run_dir: Path
    run_id: str
    target_url: str
    receiver_url: str | None
    force_test_mode: bool
    token: str = field(repr=False)  # never printed


def _text(parsed: Any, name: str) -> str:
    value = getattr(parsed, name, "") or ""
    return str(value).strip()


def resolve_options(
    parsed: Any, host: str | None, environ: dict[str, str] | None = None
) -> GeneratorOptions:
    """Check the parsed options; raises ConfigError or SafetyError with the fix."""
    scenario_text = _text(parsed, "scenario")
    if not scenario_text:
        raise ConfigError(
            "--scenario is required: the scenario YAML file to run (the generator's options:"
            f" {', '.join(OPTION_NAMES)}; the token in {TOKEN_ENV})"
        )
    scenario_path = Path(scenario_text)
    forwarded = _text(parsed, SCENARIO_JSON_OPTION)
    if forwarded:
        scenario = parse_scenario(json.loads(forwarded), f"{scenario_path} (from the master)")
    else:
        scenario = load_scenario(scenario_path)
    real = scenario.target != "mock"
    target_url = _text(parsed, "target_url") or (host or "").strip()
    if not target_url and real:
        target_url = scenario.target
    if not target_url:
        raise ConfigError(
            "no target URL: give --target-url (or --host) with the mock's or the API's base URL"
        )
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        if real:
            raise SafetyError(
                f"{TOKEN_ENV} is not set: the generator reads the API token from the"
                f" environment only (export {TOKEN_ENV}=sk-proj-...)"
            )
        token = DEFAULT_TOKEN  # the mock's well-known local key, not a secret
    allow_billable = bool(getattr(parsed, "allow_billable", False))
    force = bool(getattr(parsed, "force_test_mode", False)) or (real and not allow_billable)
    run_id = _text(parsed, "run_id") or scenario.name
    receiver_url = _text(parsed, "receiver_url").rstrip("/") or None
    waits = isinstance(scenario.arrival, ClosedArrival) and scenario.conversation.wait_for_answer
    if waits and receiver_url is None:
        raise ConfigError(
            f"{scenario_path}: a closed model waits for each answer through the receiver;"
            " give --receiver-url (or set conversation.wait_for_answer: false)"
        )
    if scenario.conversation.register_user_messages and receiver_url is None:
        raise ConfigError(
            f"{scenario_path}: conversation.register_user_messages needs --receiver-url"
        )
    return GeneratorOptions(
        scenario_path=scenario_path,
        scenario=scenario,
        run_dir=Path(_text(parsed, "run_dir") or "."),
        run_id=run_id,
        target_url=target_url.rstrip("/"),
        receiver_url=receiver_url,
        force_test_mode=force,
        token=token,
    )
