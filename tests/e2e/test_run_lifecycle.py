"""``dumgum-loadtest run`` from start to end: settling, watched children, signals, exit codes.

Every run here is bounded (a short scenario, a subprocess timeout) and every process a test
kills is one it started (the run) or a child of that run, by PID.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import psutil
import pytest
import yaml

from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")
EXIT_INTERRUPTED = 3


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env or dict(os.environ),
        check=False,
    )


def start_run(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [CLI, "run", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_sending(out: Path, process: subprocess.Popen[str]) -> None:
    """Until the generator has written its first request records (the load is on)."""
    deadline = time.monotonic() + 60
    while not any(p.stat().st_size for p in (out / "raw").glob("requests-*.jsonl")):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never started sending"
        time.sleep(0.1)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=180)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stdout, stderr


def meta_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "run-meta.json").read_text())
    return data


def test_a_real_url_run_records_every_follow_up_the_api_delivered(tmp_path: Path) -> None:
    # Every reply splits into two messages, the second 5 s after the first (NORMAL typing):
    # the run must keep recording after the last first answer until no event came for 10 s.
    token = "sk-proj-e2e-followups"
    receiver_port = free_port()
    receiver = f"http://127.0.0.1:{receiver_port}"
    stand_in = MockConfig().patched(
        {
            "time_scale": 0.01,
            "models": {"dating-smart-1": {"generation_s": {"kind": "constant", "value_s": 50}}},
            "split": {
                "default_probability": 1.0,
                "probability_by_frequency": {"FREQUENT": 1.0},
                "three_message_share": 0.0,
            },
            "typing": {"normal_s": {"kind": "constant", "value_s": 500}},  # 5 s of wall clock
            "guardrails": {"stop_rates": {}},
            "behaviour": {"memory_update_rate": 0.0, "picture_share_rate": 0.0},
            "endpoints": {
                "incoming_content_url": f"{receiver}/incoming",
                "profile_url": f"{receiver}/profile",
                "chat_history_url": f"{receiver}/chat-history",
            },
        }
    )
    scenario = {
        "name": "followups",
        "duration_s": 4,
        "warmup_s": 1,
        "seed": 5,
        "arrival": {"model": "open", "process": "constant", "rate_rps": 3},
        "population": {"users": 500, "personas": 20},
        "conversation": {"burst_size": {1: 1.0}, "engage_share": 0.0, "turns": {1: 1.0}},
        "mix": {
            "fields": {
                "language": {"EN": 1.0},
                "testMode": {True: 1.0},
                "replyParameters.chatModel": {"dating-smart-1": 1.0},
                "replyParameters.bufferSeconds": {0: 1.0},
                "replyParameters.replyTypingDelay": {"NORMAL": 1.0},
                "replyParameters.multipleMessagesPerReply": {True: 1.0},
                "replyParameters.multipleMessagesPerReplyFrequency": {"FREQUENT": 1.0},
            }
        },
    }
    path = tmp_path / "followups.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    with BackgroundServer(create_mock_app(stand_in, [token])) as api:
        out = tmp_path / "run"
        env = {**os.environ, "DUMGUM_API_TOKEN": token}
        result = run_cli(
            "run",
            str(path),
            "--target",
            api.url,
            "--receiver-port",
            str(receiver_port),
            "--workers",
            "1",
            "--out",
            str(out),
            env=env,
        )
        ledger = httpx.get(
            f"{api.url}/_mock/ledger", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert result.returncode in (0, 1), result.stdout + result.stderr
    events = pd.read_parquet(out / "events.parquet")
    follow_ups = events[(events["event"] == "answer.created") & (events["sequence_number"] > 0)]
    assert ledger["followup_messages"] > 0
    assert ledger["split_messages_abandoned"] == 0  # every follow-up reached the receiver
    assert len(follow_ups) == ledger["followup_messages"]
    settle = meta_of(out)["settle"]
    assert settle["ended_by"] == "all_resolved"
    assert settle["quiet_period_s"] == 10.0  # a real URL runs on DumGum's own clock


def test_out_onto_an_existing_run_directory_is_refused_before_anything_starts(
    tmp_path: Path,
) -> None:
    out = tmp_path / "earlier"
    (out / "raw").mkdir(parents=True)
    (out / "run-meta.json").write_text('{"status": "completed"}\n')
    result = run_cli("run", SMOKE, "--duration", "5", "--out", str(out))
    assert result.returncode == 2
    assert str(out) in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["raw", "run-meta.json"]
    assert not any((out / "raw").iterdir())
    assert (out / "run-meta.json").read_text() == '{"status": "completed"}\n'


def test_run_help_documents_the_exit_codes() -> None:
    result = run_cli("run", "--help")
    text = " ".join(result.stdout.split())
    for meaning in (
        "0: every SLO holds",
        "1: an SLO failed",
        "2: a usage or setup error",
        "3: interrupted",
    ):
        assert meaning in text


def test_sigterm_stops_the_run_like_ctrl_c_and_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "run"
    process = start_run(SMOKE, "--duration", "60", "--workers", "1", "--out", str(out))
    wait_sending(out, process)
    process.send_signal(signal.SIGTERM)
    code, stdout, stderr = finish(process)
    assert code == EXIT_INTERRUPTED, stdout + stderr
    meta = meta_of(out)
    assert meta["status"] == "interrupted"
    assert meta["interrupted_by"] == "SIGTERM"
    assert meta["settle"]["ended_by"] in ("quiet", "bound")  # one signal: it still settled
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert (out / "report.html").is_file()
    assert meta["load_started_ns"] <= meta["load_ended_ns"] <= meta["observed_until_ns"]


def test_a_second_ctrl_c_cuts_settling_short_but_still_writes_the_summary(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    process = start_run(SMOKE, "--duration", "60", "--workers", "1", "--out", str(out))
    wait_sending(out, process)
    process.send_signal(signal.SIGINT)
    # Two signals sent back to back may reach the process as one: wait until it says it
    # stopped the load, then press Ctrl-C again.
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if "stopping the load" in line:
            break
    process.send_signal(signal.SIGINT)
    code, stdout, stderr = finish(process)
    stdout = "".join(seen) + stdout
    assert code == EXIT_INTERRUPTED, stdout + stderr
    assert "Traceback" not in stderr
    meta = meta_of(out)
    assert meta["status"] == "interrupted"
    assert meta["interrupted_by"] == "SIGINT"
    assert meta["settle"]["ended_by"] == "interrupted"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
    outcomes = summary["outcomes"]
    assert sum(outcomes.values()) == summary["requests"]["scheduled"] > 0
    # Replies still on their way when settling was cut short are unresolved, not lost: the
    # only losses are requests the mock itself silenced (banned or paused pairs).
    assert outcomes["unresolved"] > 0
    ledger = summary["mock_ledger"]
    assert outcomes["lost"] <= ledger["suppressed_banned"] + ledger["suppressed_paused"]
    assert summary["loss_rate"]["rate"] * 100 < 5


def test_a_receiver_killed_mid_run_ends_the_run_as_interrupted_naming_it(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    process = start_run(SMOKE, "--duration", "60", "--workers", "1", "--out", str(out))
    wait_sending(out, process)
    receivers = [
        child
        for child in psutil.Process(process.pid).children(recursive=True)
        if "receiver" in child.cmdline()
    ]
    assert len(receivers) == 1
    receivers[0].send_signal(signal.SIGKILL)
    code, stdout, stderr = finish(process)
    assert code == EXIT_INTERRUPTED, stdout + stderr
    meta = meta_of(out)
    assert meta["status"] == "interrupted"
    assert meta["interrupted_by"] == "receiver died (signal 9)"
    assert meta["settle"]["ended_by"] == "receiver_died"
    assert any("receiver" in note and "signal 9" in note for note in meta["notes"])
    assert "receiver died" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["interrupted"] is True
