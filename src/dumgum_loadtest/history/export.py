"""The history as one row per run, for Apache Otava's CSV data source and spreadsheets."""

from __future__ import annotations

import pandas as pd

from dumgum_loadtest.history.record import OVERALL

LEADING_COLUMNS = ["time", "run_id", "scenario", "version", "commit"]


def wide_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """``History.metrics_frame`` pivoted: one row per run (oldest first), the columns
    ``LEADING_COLUMNS`` then one per overall metric, by name; a cell is empty when that
    run did not measure that metric."""
    overall = frame[frame["scope"] == OVERALL]
    if overall.empty:
        return pd.DataFrame(columns=LEADING_COLUMNS)
    runs = overall.drop_duplicates("run_id").set_index("run_id")
    values = overall.pivot(index="run_id", columns="metric", values="value")
    values = values[sorted(values.columns)]
    leading = pd.DataFrame(
        {
            "time": [stamp.isoformat() for stamp in runs["started_at"]],
            "run_id": runs.index,
            "scenario": runs["scenario"],
            "version": runs["package_version"],
            "commit": runs["git_commit"],
        },
        index=runs.index,
    )
    wide = leading.join(values)
    wide.columns.name = None
    return wide.reset_index(drop=True)
