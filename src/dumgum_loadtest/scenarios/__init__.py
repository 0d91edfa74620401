"""Scenario files: the traffic to send, where, for how long, and what must hold."""

from dumgum_loadtest.scenarios.model import Scenario, load_scenario, parse_scenario

__all__ = ["Scenario", "load_scenario", "parse_scenario"]
