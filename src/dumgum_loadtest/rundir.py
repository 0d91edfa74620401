"""The run directory: resolved scenario, environment, raw shards, Parquet tables, summary."""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from dumgum_loadtest.analysis.load import RawRecords
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.scenarios import Scenario

VERSIONED_PACKAGES = ("dumgum-loadtest", "locust", "pandas", "pyarrow", "pydantic", "aiohttp")


def new_run_id(scenario_name: str) -> str:
    return f"{scenario_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def create_run_dir(out: Path | None, run_id: str) -> Path:
    run_dir = out if out is not None else Path("reports") / run_id
    (run_dir / RAW_DIR).mkdir(parents=True, exist_ok=True)
    (run_dir / "logs").mkdir(exist_ok=True)
    return run_dir


def write_scenario(run_dir: Path, scenario: Scenario) -> None:
    """The scenario as it ran, after command-line overrides."""
    data = scenario.model_dump(mode="json", exclude_defaults=False)
    text = f"# resolved scenario of this run\n{yaml.safe_dump(data, sort_keys=False)}"
    (run_dir / "scenario.yaml").write_text(text)


def environment(
    target: str, time_scale: float, workers: int, extra: dict[str, Any]
) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "target": target,
        "time_scale": time_scale,
        "workers": workers,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "hostname": platform.node(),
        "versions": versions,
        "clock": {
            "source": "time.time_ns on one machine: every process shares the clock",
            "monotonic_resolution_s": time.get_clock_info("monotonic").resolution,
        },
        **extra,
    }


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_tables(run_dir: Path, raw: RawRecords) -> None:
    """requests.parquet, events.parquet, calls.parquet from the raw shards."""
    raw.requests.to_parquet(run_dir / "requests.parquet", index=False)
    raw.events.to_parquet(run_dir / "events.parquet", index=False)
    raw.calls.to_parquet(run_dir / "calls.parquet", index=False)
