"""The cost model: DumGum's billing rules, price sheets, the cost of a run and projections.

Library first: ``load_price_sheet``, ``run_cost`` / ``cost_section`` (summary.json's ``cost``),
``project_cost`` (a month without load), ``simulate_cost`` (its Monte-Carlo check),
``apply_settings`` and ``compare`` (what-ifs) and ``calibrate`` (a sheet from a run).
"""

from dumgum_loadtest.cost.lines import CostLine
from dumgum_loadtest.cost.projection import Projection, project_cost
from dumgum_loadtest.cost.runs import run_cost
from dumgum_loadtest.cost.section import cost_section, cost_section_for_run_dir
from dumgum_loadtest.cost.sheet import (
    PriceSheet,
    default_price_sheet,
    load_price_sheet,
    parse_price_sheet,
    resolve_price_sheet,
)
from dumgum_loadtest.cost.simulate import SimulatedMonth, simulate_cost

__all__ = [
    "CostLine",
    "PriceSheet",
    "Projection",
    "SimulatedMonth",
    "cost_section",
    "cost_section_for_run_dir",
    "default_price_sheet",
    "load_price_sheet",
    "parse_price_sheet",
    "project_cost",
    "resolve_price_sheet",
    "run_cost",
    "simulate_cost",
]
