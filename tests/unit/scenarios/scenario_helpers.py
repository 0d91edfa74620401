"""Helpers shared by the scenario tests: the shipped files and a minimal valid scenario."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dumgum_loadtest.scenarios.model import Scenario, parse_scenario

SCENARIOS_DIR = Path(__file__).resolve().parents[3] / "scenarios"
SHIPPED = sorted(SCENARIOS_DIR.glob("*.yaml"))


def make_scenario(
    fields: dict[str, Any] | None = None,
    by_model: dict[str, Any] | None = None,
    invalid_share: float = 0.0,
    **extra: Any,
) -> Scenario:
    """A valid open-model scenario with this mix; ``extra`` sets other top-level sections."""
    data: dict[str, Any] = {
        "name": "under-test",
        "arrival": {"model": "open", "rate_rps": 10},
        "mix": {"fields": fields or {}, "by_model": by_model or {}, "invalid_share": invalid_share},
    }
    data.update(extra)
    return parse_scenario(data, "under-test.yaml")
