"""A tiny scenario for end-to-end runs that must be quick: 3 s of light load on a fast mock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

TINY: dict[str, Any] = {
    "name": "tiny",
    "description": "Three seconds of light load on a 20x faster mock.",
    "target": "mock",
    "duration_s": 3,
    "seed": 3,
    "arrival": {"model": "open", "process": "poisson", "rate_rps": 10},
    "population": {"users": 5000, "personas": 50},
    "conversation": {"burst_size": {1: 1.0}, "turns": {1: 0.5, 2: 0.5}, "engage_share": 0.0},
    "slos": {"first_answer_p99_s": 5.0, "drop_rate_max": 0.05, "loss_rate_max": 0.05},
    "mock": {"time_scale": 0.05, "seed": 3},
}


def write_tiny_scenario(path: Path, **changes: Any) -> Path:
    """The tiny scenario with top-level ``changes``, written to ``path``."""
    path.write_text(yaml.safe_dump({**TINY, **changes}, sort_keys=False))
    return path
