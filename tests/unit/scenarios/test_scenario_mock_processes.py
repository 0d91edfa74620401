"""``mock.processes`` in a scenario and ``run --mock-processes``: how many processes serve the
embedded mock, refused in one line when it means nothing."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.loadtest.command import locust_command
from dumgum_loadtest.run import RunOptions, resolve_scenario
from dumgum_loadtest.scenarios.model import parse_scenario

SMOKE = Path(__file__).resolve().parents[3] / "scenarios" / "smoke.yaml"
BASE: dict[str, Any] = {"name": "shards", "arrival": {"model": "open", "rate_rps": 1}}


def test_one_process_by_default_and_the_model_without_the_key() -> None:
    scenario = parse_scenario(dict(BASE), "s.yaml")
    assert scenario.mock_processes == 1
    sharded = parse_scenario({**BASE, "mock": {"processes": 3, "time_scale": 0.1}}, "s.yaml")
    assert sharded.mock_processes == 3
    assert sharded.mock_model == {"time_scale": 0.1}  # what each mock is started with


@pytest.mark.parametrize(
    ("processes", "target", "message"),
    [
        (0, "mock", "s.yaml: mock.processes = 0: give a whole number of mock processes from 1"),
        ("2", "mock", "mock.processes = '2': give a whole number"),
        (1.5, "mock", "mock.processes = 1.5: give a whole number"),
        (65, "mock", "mock.processes = 65: give a whole number of mock processes from 1 to 64"),
        (2, "https://api.example.com", "mock.processes = 2: the target is a URL"),
    ],
)
def test_a_count_that_means_nothing_is_one_line(processes: Any, target: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_scenario({**BASE, "target": target, "mock": {"processes": processes}}, "s.yaml")
    text = str(caught.value)
    assert message in text
    assert "\n" not in text.strip()


def test_the_key_is_not_a_timeline_patch() -> None:
    timeline = [{"at_s": 1, "patch": {"processes": 2}}]
    with pytest.raises(ConfigError, match=r"timeline\[0\]\.patch\.processes"):
        parse_scenario({**BASE, "duration_s": 5, "timeline": timeline}, "s.yaml")


def test_the_command_line_overrides_the_scenario() -> None:
    assert resolve_scenario(RunOptions(scenario_path=SMOKE)).mock_processes == 1
    assert resolve_scenario(RunOptions(scenario_path=SMOKE, mock_processes=2)).mock_processes == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"mock_processes": 0}, "--mock-processes 0: give 1 to 64 mock processes"),
        (
            {"mock_processes": 2, "target": "https://api.example.com"},
            "--mock-processes 2: the target is a URL (https://api.example.com)",
        ),
    ],
)
def test_the_command_line_is_refused_in_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        resolve_scenario(RunOptions(scenario_path=SMOKE, **options))


def test_locust_gets_the_processes_urls_only_when_there_are_several(tmp_path: Path) -> None:
    scenario = resolve_scenario(RunOptions(scenario_path=SMOKE))
    common: dict[str, Any] = {
        "scenario_path": SMOKE,
        "run_dir": tmp_path,
        "run_id": "r",
        "target_url": "http://127.0.0.1:1",
        "receiver_url": None,
        "workers": 1,
        "scenario": scenario,
        "force_test_mode": True,
    }
    one = locust_command(**common, mock_urls=["http://127.0.0.1:1"])
    assert "--mock-urls" not in one
    two = locust_command(**common, mock_urls=["http://127.0.0.1:1", "http://127.0.0.1:2"])
    assert two[two.index("--mock-urls") + 1] == "http://127.0.0.1:1,http://127.0.0.1:2"
