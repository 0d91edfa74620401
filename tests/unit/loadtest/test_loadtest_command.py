"""The Locust command line the orchestrator runs (importable without locust)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dumgum_loadtest.loadtest.command import (
    CLOSED_USER,
    LOCUSTFILE,
    OPEN_USER,
    locust_command,
    run_time_s,
)
from dumgum_loadtest.scenarios.model import Scenario, parse_scenario


def scenario(**data: Any) -> Scenario:
    base: dict[str, Any] = {"name": "cmd", "duration_s": 30.5, "warmup_s": 5}
    base.update(data)
    base.setdefault("arrival", {"model": "open", "rate_rps": 10})
    return parse_scenario(base, "test")


def command(
    sc: Scenario, workers: int = 1, force: bool = False, receiver: bool = True
) -> list[str]:
    return locust_command(
        scenario_path=Path("run/scenario.yaml"),
        run_dir=Path("run"),
        run_id="cmd-1",
        target_url="http://127.0.0.1:9000",
        receiver_url="http://127.0.0.1:9001" if receiver else None,
        workers=workers,
        scenario=sc,
        force_test_mode=force,
    )


def value(argv: list[str], option: str) -> str:
    return argv[argv.index(option) + 1]


def test_the_orchestrator_can_import_it_without_locust() -> None:
    # Importing locust would monkey-patch the orchestrator's process with gevent.
    code = (
        "import sys, dumgum_loadtest.loadtest.command, dumgum_loadtest.loadtest.counters;"
        "import dumgum_loadtest.loadtest.settings, dumgum_loadtest.loadtest.sends;"
        "print(sorted(m for m in ('locust', 'gevent') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "[]"


def test_open_model_standalone() -> None:
    argv = command(scenario())
    assert argv[:5] == [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]
    assert LOCUSTFILE.is_file()
    assert "--headless" in argv and "--processes" not in argv
    assert (value(argv, "--users"), value(argv, "--spawn-rate")) == ("1", "1")
    assert value(argv, "--run-time") == "34s"  # ceil(30.5 + 3): the warm-up is inside the run
    assert value(argv, "--host") == value(argv, "--target-url") == "http://127.0.0.1:9000"
    assert value(argv, "--scenario") == str(Path("run/scenario.yaml"))
    assert (value(argv, "--run-dir"), value(argv, "--run-id")) == ("run", "cmd-1")
    assert value(argv, "--receiver-url") == "http://127.0.0.1:9001"
    # users finish the request they are in at the stop (see closed.py and openloop.py)
    assert value(argv, "--stop-timeout") == "10"
    assert argv[-1] == OPEN_USER
    assert "--force-test-mode" not in argv and "--allow-billable" not in argv


def test_open_model_with_worker_processes() -> None:
    argv = command(scenario(), workers=3)
    assert value(argv, "--processes") == "3"
    # The master listens on loopback, on a free port its forked workers connect to.
    assert value(argv, "--master-bind-host") == "127.0.0.1"
    assert value(argv, "--master-bind-port") == value(argv, "--master-port") != "5557"
    assert (value(argv, "--users"), value(argv, "--spawn-rate")) == ("3", "3")


def test_closed_model_runs_its_users_for_the_run_time() -> None:
    sc = scenario(arrival={"model": "closed", "users": 40, "spawn_rate_per_s": 8})
    argv = command(sc, workers=2)
    assert (value(argv, "--users"), value(argv, "--spawn-rate")) == ("40", "8")
    assert value(argv, "--run-time") == "31s"
    assert argv[-1] == CLOSED_USER
    assert run_time_s(sc) == 31


@pytest.mark.parametrize(
    ("target", "force", "flag"),
    [
        ("mock", True, "--force-test-mode"),
        ("mock", False, None),
        ("https://api.example.com", True, "--force-test-mode"),
        ("https://api.example.com", False, "--allow-billable"),
    ],
)
def test_test_mode_flags(target: str, force: bool, flag: str | None) -> None:
    argv = command(scenario(target=target), force=force, receiver=False)
    flags = {arg for arg in argv if arg in ("--force-test-mode", "--allow-billable")}
    assert flags == ({flag} if flag else set())
    assert "--receiver-url" not in argv


def test_no_token_on_the_command_line() -> None:
    argv = " ".join(command(scenario(target="https://api.example.com")))
    assert "token" not in argv.lower() and "sk-proj" not in argv


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers"):
        command(scenario(), workers=0)
