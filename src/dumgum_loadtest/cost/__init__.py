"""The cost model: DumGum's billing rules, price sheets, the cost of a run and projections.

Library first: ``load_price_sheet``, ``run_cost`` / ``cost_section`` (summary.json's ``cost``),
``project_cost`` (a month without load), ``simulate_cost`` (its Monte-Carlo check),
``apply_settings`` and ``compare`` (what-ifs) and ``calibrate`` (a sheet from a run).
Names load on first use, so the CLI starts without pandas and matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {
    "CostLine": "lines",
    "Projection": "projection",
    "project_cost": "projection",
    "run_cost": "runs",
    "cost_section": "section",
    "cost_section_for_run_dir": "section",
    "PriceSheet": "sheet",
    "default_price_sheet": "sheet",
    "load_price_sheet": "sheet",
    "parse_price_sheet": "sheet",
    "resolve_price_sheet": "sheet",
    "SimulatedMonth": "simulate",
    "simulate_cost": "simulate",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
