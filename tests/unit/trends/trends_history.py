"""A synthetic history in the shape of ``History.metrics_frame``: nightly runs, long form."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from dumgum_loadtest.history.record import FRAME_COLUMNS
from dumgum_loadtest.trends.series import HEADLINE_METRICS

START = datetime(2026, 10, 1, 2, 0, tzinfo=UTC)
STEP_METRIC = "first_answer_s.from_intended.censored.p99"
# Typical levels, so relative noise means the same on every metric.
LEVELS = {name: 1.0 + index for index, name in enumerate(HEADLINE_METRICS)}


def synthetic_history(
    seed: int,
    runs: int = 30,
    step_metric: str | None = STEP_METRIC,
    step_at: int = 20,
    step_relative: float = 0.10,
    noise_relative: float = 0.015,
    scenario: str = "nightly",
    invalid: Sequence[int] = (),
    overrides: Mapping[tuple[int, str], float] | None = None,
    breakdown: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """``runs`` nightly runs of every headline metric with Gaussian noise of
    ``noise_relative``; ``step_metric`` rises by ``step_relative`` from run ``step_at``.

    ``invalid``: runs marked invalid (interrupted); ``overrides``: {(run, metric): value};
    ``breakdown``: {scope: values}, each value with its own drop_rate series."""
    rng = np.random.default_rng(seed)
    rows = []
    for run in range(runs):
        run_id = f"{scenario}-{(START + timedelta(days=run)):%Y%m%d-%H%M%S}"
        base = {
            "run_id": run_id,
            "started_at": START + timedelta(days=run),
            "scenario": scenario,
            "scenario_hash": "a1b2c3d4e5f60718",
            "target": "mock",
            "status": "interrupted" if run in invalid else "completed",
            "valid": run not in invalid,
            "slo_passed": True,
            "package_version": "0.1.0" if run < step_at else "0.2.0",
            "git_commit": f"{run:07x}" + "f" * 33,
        }
        for metric, level in LEVELS.items():
            value = level * (1 + rng.normal(0, noise_relative))
            if metric == step_metric and run >= step_at:
                value *= 1 + step_relative
            value = (overrides or {}).get((run, metric), value)
            rows.append(
                {**base, "metric": metric, "scope": "overall", "scope_value": ""} | {"value": value}
            )
        for scope, values in (breakdown or {}).items():
            for label in values:
                value = 0.01 * (1 + rng.normal(0, noise_relative))
                rows.append(
                    {**base, "metric": "drop_rate", "scope": scope, "scope_value": label}
                    | {"value": value}
                )
    frame = pd.DataFrame(rows, columns=list(FRAME_COLUMNS))
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    return frame
