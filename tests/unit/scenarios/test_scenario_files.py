"""Every shipped scenario loads, says what question it answers, and runs on the mock."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.scenarios.scenario_helpers import SCENARIOS_DIR, SHIPPED

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.draw import RequestFactory
from dumgum_loadtest.scenarios.fit import list_scenarios
from dumgum_loadtest.scenarios.model import OpenArrival, Scenario, load_scenario, parse_scenario
from dumgum_loadtest.schema.enums import Engage

REQUIRED = {
    "smoke",
    "nightly",
    "capacity-steps",
    "soulengine-whatif",
    "vision-heavy",
    "burst-users",
    "multilingual",
    "chaos",
}
# This machine's generator does a few thousand requests/s: shipped rates stay far below.
MAX_RATE_RPS = 500


def test_every_required_scenario_is_shipped() -> None:
    assert {path.stem for path in SHIPPED} >= REQUIRED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.name == path.stem
    assert scenario.target == "mock"
    assert "time_scale" in scenario.mock and scenario.mock_time_scale < 1
    assert scenario.pricing is None


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_scenario_starts_with_its_question(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first.startswith("# Question it answers:"), first


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_rates_are_modest(path: Path) -> None:
    arrival = load_scenario(path).arrival
    if isinstance(arrival, OpenArrival):
        rates = [stage.rate_rps for stage in arrival.stage_plan(1.0)]
        assert max(rates) <= MAX_RATE_RPS
    else:
        assert arrival.users <= 1000


def test_smoke_takes_about_thirty_seconds() -> None:
    smoke = load_scenario(SCENARIOS_DIR / "smoke.yaml")
    # The run, plus settling bounded by the longest deadline times the time scale.
    assert 20 <= smoke.run_duration_s <= 30
    assert 300 * smoke.mock_time_scale <= 15


def test_chaos_changes_faults_then_recovers() -> None:
    chaos = load_scenario(SCENARIOS_DIR / "chaos.yaml")
    assert len(chaos.timeline) >= 4
    assert [step.at_s for step in chaos.timeline] == sorted(s.at_s for s in chaos.timeline)
    last = chaos.timeline[-1].patch["faults"]
    assert all(rate == 0 for rate in last.values())
    assert all(step.at_s < chaos.run_duration_s for step in chaos.timeline)


def test_list_scenarios_reports_each_file(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(
        (SCENARIOS_DIR / "smoke.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (tmp_path / "bad.yaml").write_text("name: bad\narrival: {model: sometimes}\n")
    (tmp_path / "notes.txt").write_text("not a scenario")
    found = dict(list_scenarios(tmp_path))
    assert set(found) == {tmp_path / "bad.yaml", tmp_path / "good.yaml"}
    assert isinstance(found[tmp_path / "good.yaml"], Scenario)
    error = found[tmp_path / "bad.yaml"]
    assert isinstance(error, ConfigError)
    assert "bad.yaml" in str(error)


def test_list_scenarios_of_the_shipped_directory_has_no_error() -> None:
    assert all(isinstance(item, Scenario) for _, item in list_scenarios(SCENARIOS_DIR))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_dumped_scenario_loads_back_with_the_same_mix(path: Path) -> None:
    """The run directory keeps the resolved scenario as JSON-mode YAML: it must mean the same."""
    scenario = load_scenario(path)
    dumped = yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False)
    again = parse_scenario(yaml.safe_load(dumped), "dumped.yaml")
    assert again.model_dump(mode="json") == scenario.model_dump(mode="json")

    def features(loaded: Scenario) -> list[dict[str, Any]]:
        factory = RequestFactory(loaded, random.Random(5))
        engages = [None, Engage.AUTO, None, Engage.NUDGE]
        return [
            factory.draw(f"u{i}", f"p{i % 7}", engage=engages[i % 4]).features for i in range(2000)
        ]

    assert features(again) == features(scenario)
