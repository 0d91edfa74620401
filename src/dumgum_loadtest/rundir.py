"""The run directory: resolved scenario, environment, raw shards, Parquet tables, summary."""

from __future__ import annotations

import json
import os
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dumgum_loadtest.analysis.shards import CALLS, EVENTS, REQUESTS, LineCount, shard_tables
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.scenarios import Scenario

ROW_GROUP_ROWS = 1 << 20  # rows per Parquet row group: what the analysis reads at a time
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


def write_tables(run_dir: Path) -> int:
    """requests.parquet, events.parquet, calls.parquet from the raw shards, streamed a block
    of lines at a time (memory stays bounded at any run length); returns the lines skipped
    as unreadable. Rows keep the shards' order: the analysis never relies on another.

    Each table is written beside its place and renamed there once all three are complete:
    the analysis reads the tables only when all three exist, else the shards.
    """
    count = LineCount()
    written = []
    for kind in (REQUESTS, EVENTS, CALLS):
        final = run_dir / f"{kind.stem}.parquet"
        partial = final.with_name(f".{final.name}.partial")
        with pq.ParquetWriter(partial, kind.schema) as writer:
            pending: list[pa.Table] = []
            pending_rows = 0
            for table in shard_tables(run_dir, kind, count):
                pending.append(table)
                pending_rows += table.num_rows
                if pending_rows >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, pending_rows = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
        written.append((partial, final))
    for partial, final in written:
        partial.replace(final)
    return count.unreadable
