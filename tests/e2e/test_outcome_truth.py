"""The summary's outcomes equal the mock's own ledger, for every shipped scenario and past
saturation: answered = replies, merged = merged, dropped = drops, and lost = what the mock
suppressed (banned or paused pairs, or ignored while a reply was in progress).

The mock knows the truth: it counts what it did with every enqueue. The analysis only sees
the records (sends, responses, webhook events) and must reach the same counts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
# Short runs: long enough for every scenario's mix to show merging, splits and bans.
SHIPPED_DURATION_S = "8"
# capacity-steps offers up to this much: 3x the ~160 replies/s its mock sustains.
CAPACITY_STEPS_PEAK_RPS = "480"


def run(scenario: Path, out: Path, *extra: str) -> dict[str, Any]:
    result = subprocess.run(
        [CLI, "run", str(scenario), "--out", str(out), *extra],
        capture_output=True,
        text=True,
        timeout=400,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    return summary


def assert_outcomes_match_the_ledger(summary: dict[str, Any]) -> None:
    outcomes, ledger = summary["outcomes"], summary["mock_ledger"]
    assert summary["status"] == "completed", summary["notes"]
    assert ledger["deliveries_given_up"] == 0  # else a reply the mock counted never arrived
    truth = {
        "answered": ledger["replies"],
        "merged": ledger["merged"],
        "dropped": sum(ledger["dropped"].values()),
        "rejected": sum(ledger["enqueues_rejected"].values()),
        "lost": ledger["suppressed_banned"]
        + ledger["suppressed_paused"]
        + ledger["ignored_while_inflight"],
        "send_failed": 0,
        "unresolved": 0,
    }
    found = {name: outcomes[name] for name in truth}
    assert found == truth, f"summary {found} vs mock ledger {truth}"
    assert sum(outcomes.values()) == summary["requests"]["scheduled"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[path.stem for path in SCENARIOS])
def test_every_shipped_scenario_counts_what_the_mock_did(scenario: Path, tmp_path: Path) -> None:
    extra = ["--duration", SHIPPED_DURATION_S]
    if scenario.stem == "capacity-steps":
        extra += ["--rate", CAPACITY_STEPS_PEAK_RPS]  # its steps end at 3x saturation
    summary = run(scenario, tmp_path / "run", *extra)
    assert_outcomes_match_the_ledger(summary)
    outcomes = summary["outcomes"]
    assert outcomes["answered"] > 0
    if outcomes["dropped"] == 0:  # every merged request was covered by an answer
        per_message = summary["latency_s"]["first_answer"]["from_intended"]["per_message"]
        assert per_message["count"] == outcomes["answered"] + outcomes["merged"]


def saturating_scenario(policy: str, tags: str) -> dict[str, Any]:
    """Few pairs, a mock of about 5 replies/s, offered 0.5x to 3x that: replies queue for a
    slot, a pair's next enqueues pile up behind its reply in progress, some are dropped.

    Time scale 0.05: buffer windows of 0.25 s and more, against burst gaps of 25-150 ms and
    timing noise of a few ms (at 0.02 a 2 s buffer is a 40 ms window, and the noise of the
    clocks alone decides a request near its edge).
    """
    return {
        "name": f"saturation-{policy}-{tags}",
        "target": "mock",
        "seed": 5,
        "warmup_s": 1,
        "arrival": {
            "model": "open",
            "process": "poisson",
            "stages": [
                {"name": "0.5x", "duration_s": 5, "rate_rps": 2.5},
                {"name": "1x", "duration_s": 5, "rate_rps": 5},
                {"name": "2x", "duration_s": 5, "rate_rps": 10},
                {"name": "3x", "duration_s": 5, "rate_rps": 15},
            ],
        },
        "population": {"users": 20, "personas": 2, "active_conversations": 40},
        "conversation": {
            "burst_size": {1: 0.5, 2: 0.3, 3: 0.2},
            "burst_gap_s": {"kind": "uniform", "low_s": 0.5, "high_s": 3.0},
            "engage_share": 0.0,
        },
        "mix": {
            "fields": {
                "testMode": {True: 1.0},
                "replyParameters.chatModel": {"dating-smart-1": 1.0},
                "replyParameters.bufferSeconds": {"5": 0.5, "15": 0.5},
                "replyParameters.maxProcessingTimeSeconds": {"300": 1.0},
                "replyParameters.multipleMessagesPerReply": {True: 0.5, False: 0.5},
                "replyParameters.replyTypingDelay": {"INSTANT": 0.5, "FAST": 0.5},
            }
        },
        "slos": {},
        "mock": {
            "time_scale": 0.05,
            "seed": 5,
            "guardrails": {"stop_rates": {}},
            "buffer": {"merge": True, "inflight_policy": policy, "merged_tags": tags},
            "models": {
                "dating-smart-1": {
                    "generation_s": {"kind": "lognormal", "median_s": 8.0, "p99_s": 16.0},
                    "concurrency": 2,
                    "queue_limit": 8,
                }
            },
        },
    }


@pytest.mark.parametrize(
    ("policy", "tags"), [("queue", "latest"), ("coalesce", "latest"), ("ignore", "first")]
)
def test_past_saturation_the_outcomes_still_match_the_ledger(
    policy: str, tags: str, tmp_path: Path
) -> None:
    path = tmp_path / "saturation.yaml"
    path.write_text(yaml.safe_dump(saturating_scenario(policy, tags), sort_keys=False))
    summary = run(path, tmp_path / "run")
    assert_outcomes_match_the_ledger(summary)
    ledger = summary["mock_ledger"]
    # The run really went past saturation and really merged: the check means something.
    assert sum(ledger["dropped"].values()) > 0
    assert ledger["merged"] > 0
