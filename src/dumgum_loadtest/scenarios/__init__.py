"""Scenario files: the traffic to send, where, for how long, and what must hold."""

from dumgum_loadtest.scenarios.draw import DrawnRequest, RequestFactory
from dumgum_loadtest.scenarios.fields import OMIT
from dumgum_loadtest.scenarios.fit import fit_scenario, list_scenarios
from dumgum_loadtest.scenarios.model import Scenario, load_scenario, parse_scenario
from dumgum_loadtest.scenarios.population import Picture, ScenarioPopulation

__all__ = [
    "OMIT",
    "DrawnRequest",
    "Picture",
    "RequestFactory",
    "Scenario",
    "ScenarioPopulation",
    "fit_scenario",
    "list_scenarios",
    "load_scenario",
    "parse_scenario",
]
