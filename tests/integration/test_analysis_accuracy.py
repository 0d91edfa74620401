"""The analysis against a mock with known parameters, through the real ``run`` command.

Constant generation time, a fixed failure (drop) rate, a fixed split rate and no jitter: the
reported figures must equal what the mock was told to do.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema_rs
import pandas as pd
import psutil
import pytest
import yaml

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
GENERATION_S = 10.0  # DumGum seconds; x 0.1 time scale = 1.0 s of wall clock
TIME_SCALE = 0.1


def scenario(name: str, **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "duration_s": 10,
        "warmup_s": 1,
        "seed": 3,
        "arrival": {"model": "open", "process": "constant", "rate_rps": 20},
        "population": {"users": 2000, "personas": 50, "active_conversations": 400},
        "conversation": {"burst_size": {1: 1.0}, "engage_share": 0.0, "turns": {1: 1.0}},
        "mix": {
            "fields": {
                "language": {"EN": 1.0},
                "testMode": {True: 1.0},
                "replyParameters.chatModel": {"dating-smart-1": 1.0},
                "replyParameters.bufferSeconds": {0: 1.0},
                "replyParameters.replyTypingDelay": {"INSTANT": 1.0},
                "replyParameters.multipleMessagesPerReply": {True: 1.0},
            }
        },
        "mock": {
            "time_scale": TIME_SCALE,
            "models": {
                "dating-smart-1": {"generation_s": {"kind": "constant", "value_s": GENERATION_S}}
            },
            "split": {"default_probability": 0.3, "three_message_share": 0.0},
            "faults": {"generation_failure_rate": 0.1},
            "guardrails": {"stop_rates": {}},
            "behaviour": {"memory_update_rate": 0.0, "picture_share_rate": 0.0},
        },
    }
    for key, value in changes.items():
        data[key] = value
    return data


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run(path: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "run", str(path), "--out", str(out), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def test_reported_figures_equal_the_configured_mock(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run(write(tmp_path, scenario("known")), out)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    ledger = summary["mock_ledger"]
    expected_s = GENERATION_S * TIME_SCALE
    first = summary["latency_s"]["first_answer"]["from_sent"]["answered"]
    assert first["p50"] == pytest.approx(expected_s, rel=0.02)
    assert first["p90"] == pytest.approx(expected_s, rel=0.02)
    processing = summary["latency_s"]["processing"]["from_sent"]["answered"]
    assert processing["p50"] < 0.02 * expected_s  # processing is sent as generation starts
    # The configured failure rate lies inside the drop rate's 95 % interval.
    drop = summary["drop_rate"]
    assert drop["low"] <= 0.1 <= drop["high"]
    assert summary["outcomes"]["dropped"] == sum(ledger["dropped"].values())
    assert summary["outcomes"]["merged"] == ledger["merged"]
    events = pd.read_parquet(out / "events.parquet")
    follow_ups = events[(events["event"] == "answer.created") & (events["sequence_number"] > 0)]
    assert len(follow_ups) == ledger["followup_messages"] > 0
    # Outputs open: the schema holds, the HTML parses, every PNG decodes.
    schema = json.loads((ROOT / "schemas" / "summary.schema.json").read_text())
    jsonschema_rs.validate(schema, summary)
    from html.parser import HTMLParser

    HTMLParser().feed((out / "report.html").read_text())
    import matplotlib.image

    pngs = list((out / "plots").glob("*.png"))
    assert pngs
    for png in pngs:
        assert matplotlib.image.imread(png).size > 0


def test_a_stall_raises_the_intended_time_p99_not_just_the_max(tmp_path: Path) -> None:
    # No drops here; the enqueue stalls 5 s for 2 s of the run (10 % of the requests).
    base = scenario("steady")
    base["mock"]["faults"] = {}
    stalled = scenario("stalled")
    stalled["mock"]["faults"] = {}
    stalled["timeline"] = [
        {
            "at_s": 5,
            "patch": {"faults": {"enqueue_added_latency_s": {"kind": "constant", "value_s": 5}}},
        },
        {"at_s": 7, "patch": {"faults": {"enqueue_added_latency_s": None}}},
    ]
    stalled["arrival"]["max_in_flight"] = 500
    summaries = {}
    for data in (base, stalled):
        out = tmp_path / data["name"]
        result = run(write(tmp_path, data), out)
        assert result.returncode in (0, 1), result.stdout + result.stderr
        summaries[data["name"]] = json.loads((out / "summary.json").read_text())
    calm = summaries["steady"]["latency_s"]["first_answer"]["from_intended"]["censored"]
    hit = summaries["stalled"]["latency_s"]["first_answer"]["from_intended"]["censored"]
    assert hit["max"] > calm["max"] + 4.0
    assert hit["p99"] > calm["p99"] + 3.0  # the stall shows in the percentile, not only the max
    assert hit["p50"] == pytest.approx(calm["p50"], rel=0.1)  # and leaves the median alone


def test_a_run_killed_halfway_still_gives_a_report_that_says_so(tmp_path: Path) -> None:
    data = scenario("killed", duration_s=30)
    out = tmp_path / "run"
    process = subprocess.Popen(
        [CLI, "run", str(write(tmp_path, data)), "--out", str(out), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not list((out / "raw").glob("requests-*.jsonl")):
            assert time.monotonic() < deadline, "the run never started sending"
            time.sleep(0.2)
        time.sleep(6)
        children = psutil.Process(process.pid).children(recursive=True)
        process.send_signal(signal.SIGKILL)
        process.wait(10)
        _, alive = psutil.wait_procs(children, timeout=20)
        for child in alive:
            child.kill()
        assert not alive, "children outlived the killed run"
    finally:
        if process.poll() is None:
            process.kill()
    report = subprocess.run(
        [CLI, "report", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert report.returncode == 3, report.stderr  # interrupted: the figures are incomplete
    assert "cut short" in report.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["status"] == "interrupted"  # run-meta.json said "running": nobody finished it
    assert json.loads((out / "run-meta.json").read_text())["status"] == "interrupted"
    # The header says how long the load ran before the kill, not the scenario's 30 s.
    ran_s = summary["health"]["load_ran_s"]
    assert 0 < ran_s < 30
    header = (out / "report.html").read_text().split("<nav>")[0]
    assert f"{ran_s:g} s of load ran" in header
    assert "30 s of load (" not in header
    assert summary["requests"]["scheduled"] > 50
    assert sum(summary["outcomes"].values()) == summary["requests"]["scheduled"]
    assert "cut short" in (out / "report.html").read_text()
    assert (out / "report.md").exists()
