"""``dumgum-loadtest run`` past saturation: the capacity headline follows the answers.

A tiny stepped run against the embedded mock with a known capacity: 6 generation slots of a
constant 3.0 s simulated (0.3 s real at time scale 0.1), so at most 20 replies/s. Stages at
0.5x, 1x, 2x and 3x that capacity. Past it the queue (limit 30) fills and the excess is
dropped at once, which also keeps the settling after the load short.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pytest

from dumgum_loadtest.analysis.capacity import capacity_lines

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SLOTS = 6
GENERATION_S = 3.0
TIME_SCALE = 0.1
CAPACITY_RPS = SLOTS / (GENERATION_S * TIME_SCALE)  # 20 replies/s
QUEUE_LIMIT = 30
# Below this share of its capacity the mock's event loop lagged (a busy shared machine).
LOOP_SHARE_MIN = 0.85

SCENARIO = f"""
name: capacity-tiny
description: Rate steps from half to three times a mock of {CAPACITY_RPS:g} replies/s.
target: mock
seed: 5
warmup_s: 2
arrival:
  model: open
  process: poisson
  stages:
    - {{name: "0.5x", duration_s: 6, rate_rps: {0.5 * CAPACITY_RPS:g}}}
    - {{name: "1x", duration_s: 4, rate_rps: {CAPACITY_RPS:g}}}
    - {{name: "2x", duration_s: 4, rate_rps: {2 * CAPACITY_RPS:g}}}
    - {{name: "3x", duration_s: 4, rate_rps: {3 * CAPACITY_RPS:g}}}
  max_in_flight: 500
population:
  users: 5000
  personas: 100
  active_conversations: 2000
conversation:
  burst_size: {{1: 1.0}}
  engage_share: 0.0
mix:
  fields:
    language: {{EN: 1.0}}
    testMode: {{true: 1.0}}
    replyParameters.chatModel: {{dating-smart-1: 1.0}}
    replyParameters.bufferSeconds: {{"0": 1.0}}
    replyParameters.multipleMessagesPerReply: {{false: 1.0}}
    replyParameters.replyTypingDelay: {{INSTANT: 1.0}}
slos: {{}}
mock:
  time_scale: {TIME_SCALE}
  seed: 5
  guardrails:
    stop_rates:
      USER_MESSAGE_REPETITION: 0
      UNKNOWN_LANGUAGE: 0
      USER_HOSTILE: 0
      AI_SUSPICION: 0
      USER_UNDERAGE: 0
      USER_SUSPICIOUS: 0
      MALICIOUS_CONTENT: 0
  models:
    dating-smart-1:
      generation_s: {{kind: constant, value_s: {GENERATION_S}}}
      concurrency: {SLOTS}
      queue_limit: {QUEUE_LIMIT}
"""


def test_a_run_past_saturation_reports_the_capacity_its_answers_show(tmp_path: Path) -> None:
    scenario = tmp_path / "capacity-tiny.yaml"
    scenario.write_text(SCENARIO)
    out = tmp_path / "run"
    result = subprocess.run(
        [CLI, "run", str(scenario), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # no SLOs: nothing fails
    summary = json.loads((out / "summary.json").read_text())
    jsonschema_rs.validate(
        json.loads((ROOT / "schemas" / "summary.schema.json").read_text()), summary
    )
    capacity = summary["capacity"]
    plateaus = {p["stage"]: p for p in capacity["plateaus"]}
    stages = {s["stage"]: s for s in summary["stages"]}
    assert list(plateaus) == ["0.5x", "1x", "2x", "3x"]

    # Per stage, answers received per second in the steady window ~ min(offered, capacity).
    for name, stage in stages.items():
        window_s = stage["steady_to_s"] - stage["steady_from_s"]
        if name == "0.5x":
            # Below capacity the answers are the owed requests shifted by 0.3 s: equal but for
            # the two edge strips, well within the Poisson noise of the count.
            assert abs(stage["answers"] - stage["owed"]) <= 3 * math.sqrt(stage["owed"])
        if name in ("2x", "3x"):
            # Saturated, the slots finish 20 a second; a window edge cuts at most one
            # completion per slot. The mock cannot beat its slots; a lagging loop can lose some.
            edge_rps = (SLOTS + 1) / window_s
            assert stage["answers_rps"] <= CAPACITY_RPS + edge_rps
            assert stage["answers_rps"] >= LOOP_SHARE_MIN * CAPACITY_RPS - edge_rps
            assert stage["drops_rps"] > 0  # the queue was full: the excess was shed at once

    # Twice and three times the capacity: answers flat at 20/s, the excess owed and unmet.
    for name in ("2x", "3x"):
        assert not plateaus[name]["keeps_up"] and not plateaus[name]["sustainable"]
        assert any("short of" in reason for reason in plateaus[name]["reasons"])
    assert plateaus["0.5x"]["sustainable"]
    # The 1x stage is at the capacity: either verdict is right. A plateau passes when its
    # owed replies exceed its answers (at most the capacity, plus one completion per slot at
    # each window edge) by up to 3 sqrt(owed): the largest rate the rule can call sustainable.
    best = capacity["max_sustainable_rps"]
    assert best in (plateaus["0.5x"]["offered_rps"], plateaus["1x"]["offered_rps"])
    one_x = stages["1x"]
    one_x_window_s = one_x["steady_to_s"] - one_x["steady_from_s"]
    limit_rps = CAPACITY_RPS + (SLOTS + 1 + 3 * math.sqrt(one_x["owed"])) / one_x_window_s
    assert best <= 1.1 * limit_rps  # offered over the whole stage, owed over its window: ±10 %
    # The knee: no later than where answers stop keeping up.
    assert capacity["knee_rps"] is not None
    assert best <= capacity["knee_rps"] <= plateaus["2x"]["offered_rps"]
    assert capacity["sentence"].startswith("No SLOs set: ")

    # The terminal says what summary.json says.
    for line in capacity_lines(capacity):
        assert line in result.stdout
    assert f"{best:,.1f} requests/s" in result.stdout
