"""summary.json has a documented, versioned schema, kept equal to the models."""

from __future__ import annotations

import json
from pathlib import Path

from dumgum_loadtest.analysis.summary_schema import json_schema

ROOT = Path(__file__).resolve().parents[3]


def test_checked_in_schema_matches_the_models() -> None:
    checked_in = json.loads((ROOT / "schemas" / "summary.schema.json").read_text())
    assert checked_in == json_schema(), (
        "regenerate: python -m dumgum_loadtest.analysis.summary_schema"
        " > schemas/summary.schema.json"
    )


def test_schema_is_versioned_and_requires_the_core_sections() -> None:
    schema = json_schema()
    for key in ("requests", "outcomes", "latency_s", "drop_rate", "slo", "stages", "health"):
        assert key in schema["required"]
    assert schema["properties"]["schema_version"]["const"] == 2
