"""The ``cost`` section of summary.json, from a run's records or from its run directory.

``cost_section`` is what the summary builder calls; ``cost_section_for_run_dir`` rebuilds it
from the files a run leaves (raw records, scenario.yaml, mock-ledger.json, summary.json).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pandas as pd

from dumgum_loadtest.analysis.latency import request_timestamps
from dumgum_loadtest.analysis.outcomes import OutcomeRules, classify_stamps
from dumgum_loadtest.analysis.tables import RunTables, load_run_tables
from dumgum_loadtest.cost.runs import run_cost
from dumgum_loadtest.cost.sheet import PriceSheet, load_price_sheet, resolve_price_sheet
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.model import Scenario, load_scenario

RUN_PRICE_SHEET = "price-sheet.yaml"  # a copy of the sheet a run used, when the run kept one
RUN_SCENARIO = "scenario.yaml"
RUN_LEDGER = "mock-ledger.json"
RUN_SUMMARY = "summary.json"
RUN_ENVIRONMENT = "environment.json"


def cost_section(
    tables: RunTables,
    outcome: pd.Series,
    *,
    time_scale: float,
    sheet: PriceSheet | None = None,
    scenario: Scenario | None = None,
    scenario_path: Path | None = None,
    mock_ledger: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """summary.json's ``cost``: ``sheet``, else the scenario's ``pricing``, else the default."""
    if sheet is None:
        pricing = scenario.pricing if scenario is not None else None
        sheet = resolve_price_sheet(pricing, scenario_path)
    return run_cost(
        tables,
        outcome,
        sheet,
        time_scale=time_scale,
        scenario=scenario,
        mock_ledger=mock_ledger,
    )


def _json(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
    return data if isinstance(data, dict) else None


def cost_section_for_run_dir(run_dir: Path, sheet: PriceSheet | None = None) -> dict[str, Any]:
    """The cost section rebuilt from ``run_dir``; the sheet: ``sheet``, the run's own copy
    (``price-sheet.yaml``), the scenario's ``pricing``, or the default, in that order."""
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    scenario_path = run_dir / RUN_SCENARIO
    scenario = load_scenario(scenario_path) if scenario_path.is_file() else None
    environment = _json(run_dir / RUN_ENVIRONMENT) or _json(run_dir / RUN_SUMMARY) or {}
    fallback = scenario.mock_time_scale if scenario is not None else 1.0
    time_scale = float(environment.get("time_scale") or fallback)
    if sheet is None and (run_dir / RUN_PRICE_SHEET).is_file():
        sheet = load_price_sheet(run_dir / RUN_PRICE_SHEET)
    ledger = _json(run_dir / RUN_LEDGER)
    tables = load_run_tables(run_dir)
    if scenario is not None:
        from dumgum_loadtest.analysis.analyse import outcome_rules

        meta = _json(run_dir / "run-meta.json") or {}
        rules: OutcomeRules | float = outcome_rules(run_dir, scenario, meta, time_scale)
    else:
        rules = time_scale
    outcome = classify_stamps(
        tables.requests, request_timestamps(tables.requests, tables.events), rules
    )
    return cost_section(
        tables,
        outcome,
        time_scale=time_scale,
        sheet=sheet,
        scenario=scenario,
        scenario_path=scenario_path,
        mock_ledger=ledger,
    )
