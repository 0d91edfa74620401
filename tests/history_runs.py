"""Small fake-but-valid run directories for the history's tests: the four files
``read_run`` reads, with the figures a test chooses (no load is sent)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


def make_run_dir(
    parent: Path,
    *,
    scenario: str = "smoke",
    started: str = "20261201-020000",
    status: str = "completed",
    first_answer_p99_s: float = 1.25,
    drop_rate: float = 0.01,
    cost_per_answer_eur: float = 0.002,
    slo_passed: bool = True,
    git_commit: str | None = "0123456789abcdef0123456789abcdef01234567",
    rate_rps: float = 20.0,
) -> Path:
    """A run directory named like ``run`` names its runs: ``<scenario>-<started>``."""
    run_id = f"{scenario}-{started}"
    run_dir = parent / run_id
    run_dir.mkdir(parents=True)
    censored = {"count": 100, "p50": first_answer_p99_s / 3, "p90": first_answer_p99_s / 1.5}
    summary: dict[str, Any] = {
        "run_id": run_id,
        "scenario": scenario,
        "target": "mock",
        "status": status,
        "interrupted": status != "completed",
        "duration_s": 25.0,
        "outcomes": {"answered": 99, "dropped": 1, "lost": 0},
        "drop_rate": {"rate": drop_rate},
        "latency_s": {
            "first_answer": {"from_intended": {"censored": {**censored, "p99": first_answer_p99_s}}}
        },
        "breakdowns": {
            "chat_model": [
                {"value": "dating-pro-1", "outcomes": {"answered": 40}, "drop_rate": {"rate": 0}},
                {
                    "value": "chat-2-smart",
                    "outcomes": {"answered": 59},
                    "drop_rate": {"rate": 0.02},
                },
            ]
        },
        "goodput_rps": rate_rps * 0.98,
        "cost": {"per_answered_request_eur": cost_per_answer_eur},
        "health": {"harness_bottleneck": False},
        "slo": [{"objective": "first_answer_p99_s", "pass": slo_passed}],
        "passed": slo_passed,
    }
    environment = {
        "target": "mock",
        "hostname": "test-host",
        "versions": {"dumgum-loadtest": "0.1.0"},
        "git_commit": git_commit,
    }
    meta = {"run_id": run_id, "status": status, "host": "test-host"}
    scenario_data = {"name": scenario, "arrival": {"model": "open", "rate_rps": rate_rps}}
    (run_dir / "summary.json").write_text(json.dumps(summary))
    (run_dir / "environment.json").write_text(json.dumps(environment))
    (run_dir / "run-meta.json").write_text(json.dumps(meta))
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(scenario_data))
    return run_dir
