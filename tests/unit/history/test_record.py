"""What the history keeps of a run: identity, validity and the headline figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.history.record import read_run, scenario_hash

RUN_ID = "smoke-20261207-051220"
SCENARIO = {"name": "smoke", "duration_s": 25, "arrival": {"open": {"rate_rps": 20}}}
STATS = {"p50": 0.5, "p90": 0.9, "p95": 1.0, "p99": 1.4, "p999": 1.5, "max": 1.6, "count": 10}


def summary(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": RUN_ID,
        "scenario": "smoke",
        "target": "mock",
        "status": "completed",
        "interrupted": False,
        "duration_s": 25.0,
        "outcomes": {"answered": 90, "merged": 5, "dropped": 4, "lost": 1},
        "drop_rate": {"rate": 0.04},
        "loss_rate": {"rate": 0.01},
        "rejected_rate": {"rate": 0.0},
        "latency_s": {
            "first_answer": {"from_intended": {"censored": STATS, "answered": STATS}},
            "processing": {"from_intended": {"censored": STATS}},
            "enqueue": {"from_sent": {"all_sent": STATS}},
        },
        "goodput_rps": 3.6,
        "capacity": {"max_sustainable_rps": 157.5},
        "breakdowns": {
            "chat_model": [
                {"value": "dating-pro-1", "outcomes": {"answered": 7}, "drop_rate": {"rate": 0.1}}
            ]
        },
        "health": {"harness_bottleneck": False, "bottleneck_reasons": []},
        "slo": [{"objective": "drop_rate_max", "pass": True}],
        "passed": True,
        "cost": {
            "per_answered_request_eur": "0.037577",
            "per_1000_conversations_eur": "67.7",
            "projected": {"total_eur": "2.5"},
            "by_chat_model": {"dating-pro-1": {"total_eur": "1.25"}},
        },
    }
    base.update(changes)
    return base


def write_run(run_dir: Path, summary_data: dict[str, Any], status: str = "completed") -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "summary.json").write_text(json.dumps(summary_data))
    environment = {"target": "mock", "hostname": "vm", "versions": {"dumgum-loadtest": "0.1.0"}}
    environment["git_commit"] = "abc123"
    (run_dir / "environment.json").write_text(json.dumps(environment))
    (run_dir / "run-meta.json").write_text(json.dumps({"run_id": RUN_ID, "status": status}))
    (run_dir / "scenario.yaml").write_text(yaml.safe_dump(SCENARIO))
    return run_dir


def figures(run_dir: Path) -> dict[tuple[str, str, str], float]:
    return {(m.name, m.scope, m.scope_value): m.value for m in read_run(run_dir).metrics}


def test_a_run_is_recorded_with_its_identity_and_headline_figures(tmp_path: Path) -> None:
    record = read_run(write_run(tmp_path / "run", summary()))
    assert (record.run_id, record.scenario, record.target) == (RUN_ID, "smoke", "mock")
    assert record.started_at.isoformat() == "2026-12-07T05:12:20+00:00"
    assert (record.valid, record.slo_passed, record.git_commit) == (True, True, "abc123")
    got = figures(tmp_path / "run")
    assert got[("outcomes.answered", "overall", "")] == 90
    assert got[("first_answer_s.from_intended.censored.p99", "overall", "")] == 1.4
    assert got[("processing_s.from_intended.censored.p99", "overall", "")] == 1.4
    assert got[("enqueue_s.from_sent.all_sent.p99", "overall", "")] == 1.4
    assert got[("max_sustainable_rps", "overall", "")] == 157.5
    assert got[("cost_per_answered_request_eur", "overall", "")] == pytest.approx(0.037577)
    assert got[("cost_projected_monthly_eur", "overall", "")] == pytest.approx(
        2.5 / 25 * 86400 * 30
    )
    assert got[("drop_rate", "chat_model", "dating-pro-1")] == 0.1
    assert got[("cost_projected_eur", "chat_model", "dating-pro-1")] == 1.25


def test_an_interrupted_run_or_a_harness_bottleneck_is_never_valid(tmp_path: Path) -> None:
    cut = read_run(write_run(tmp_path / "cut", summary(interrupted=True), status="interrupted"))
    assert not cut.valid and "did not complete" in cut.invalid_reasons[0]
    choked = summary(health={"harness_bottleneck": True, "bottleneck_reasons": ["CPU 97 %"]})
    record = read_run(write_run(tmp_path / "choked", choked))
    assert not record.valid and "CPU 97 %" in record.invalid_reasons[0]
    failed = summary(calibration={"passed": False, "sentence": "latency 9 % off"})
    assert "latency 9 % off" in read_run(write_run(tmp_path / "cal", failed)).invalid_reasons[0]


def test_the_scenario_hash_ignores_key_order_but_not_values() -> None:
    reordered = dict(reversed(list(SCENARIO.items())))
    assert scenario_hash(reordered) == scenario_hash(SCENARIO)
    assert scenario_hash({**SCENARIO, "duration_s": 26}) != scenario_hash(SCENARIO)


def test_a_directory_that_is_not_a_run_names_the_missing_files(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"missing environment\.json, run-meta\.json"):
        read_run(tmp_path)


def test_a_real_target_is_named_by_its_host_without_credentials(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "real", summary(target="url"))
    environment = json.loads((run_dir / "environment.json").read_text())
    environment["target"] = "https://user:secret@api.dumgum.example:8443/base?x=1"
    (run_dir / "environment.json").write_text(json.dumps(environment))
    assert read_run(run_dir).target == "api.dumgum.example:8443"
