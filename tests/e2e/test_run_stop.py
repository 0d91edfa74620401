"""How a closed-model run ends: requests in flight at the stop finish and are recorded with
their status, nothing the target received is recorded as failed, and the run ends promptly
(the subprocess timeouts below are the bound, far above what a healthy run needs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import yaml

from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.records import SENT, TRANSPORT_ERROR
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.e2e

CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
DURATION_S = 6
# Every enqueue takes this long to answer (not time-scaled), so at the stop most users are
# in the middle of one: an exchange that ends well within the stop's grace.
ENQUEUE_LATENCY_S = 1.0
SLOW_ENQUEUE: dict[str, Any] = {
    "faults": {"enqueue_added_latency_s": {"kind": "constant", "value_s": ENQUEUE_LATENCY_S}}
}
# A real run waits for the answers of every accepted request, up to the longest deadline
# (five minutes at DumGum's time); a request wrongly left unanswered shows as a timeout.
RUN_TIMEOUT_S = 150


def closed_scenario(tmp_path: Path, mock: dict[str, Any]) -> Path:
    """Four conversation users sending one- or two-message turns back to back."""
    scenario = {
        "name": "closed-stop",
        "target": "mock",
        "seed": 5,
        "duration_s": DURATION_S,
        "warmup_s": 1,
        "arrival": {"model": "closed", "users": 4, "spawn_rate_per_s": 100},
        "population": {"users": 200, "personas": 10},
        "conversation": {
            "burst_size": {1: 0.5, 2: 0.5},
            "burst_gap_s": {"kind": "constant", "value_s": 0.2},
            "wait_for_answer": True,
            "think_time_s": {"kind": "constant", "value_s": 0.2},
            "turns": {20: 1.0},
            "engage_share": 0.0,
        },
        "mix": {"fields": {"testMode": {"true": 1.0}}},
        "mock": mock,
    }
    path = tmp_path / "closed-stop.yaml"
    path.write_text(yaml.safe_dump(scenario, sort_keys=False))
    return path


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "run", *args, "--duration", str(DURATION_S)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        env=env,
        check=False,
    )


def check_requests_at_the_stop(out: Path, received: int) -> pd.DataFrame:
    """Every request the target received is recorded SENT with its status; none was cut off
    at the stop; and some were still in flight when the load stopped."""
    requests = pd.read_parquet(out / "requests.parquet")
    errors = requests["error"].dropna().astype(str)
    assert not errors.str.contains("stopped before the response").any(), errors.tolist()
    assert not (requests["send_state"] == TRANSPORT_ERROR).any(), errors.tolist()
    sent = requests[requests["send_state"] == SENT]
    assert sent["status"].notna().all() and sent["response_ns"].notna().all()
    assert received == len(sent) > 0
    # The stop came no later than the run's duration after the first intended send: a
    # response after that was in flight at the stop, and finished.
    stop_by_ns = requests["intended_ns"].min() + DURATION_S * 1_000_000_000
    assert (sent["response_ns"] > stop_by_ns).any()
    return requests


def test_a_closed_model_run_lets_requests_in_flight_finish(tmp_path: Path) -> None:
    scenario = closed_scenario(tmp_path, {"time_scale": 0.01, **SLOW_ENQUEUE})
    out = tmp_path / "run"
    result = run_cli(str(scenario), "--out", str(out), env=dict(os.environ))
    assert result.returncode in (0, 1), result.stdout + result.stderr
    summary = pd.read_json(out / "summary.json", typ="series")
    ledger = summary["mock_ledger"]
    check_requests_at_the_stop(out, ledger["enqueues_received"])
    assert summary["requests"]["transport_errors"] == 0


def test_a_closed_model_run_against_a_url_ends_promptly_with_every_request_sent(
    tmp_path: Path,
) -> None:
    token = "sk-proj-e2e-stop-7c2a"
    receiver_port = free_port()
    receiver = f"http://127.0.0.1:{receiver_port}"
    stand_in = MockConfig().patched(
        {
            "time_scale": 0.01,
            "endpoints": {
                "incoming_content_url": f"{receiver}/incoming",
                "profile_url": f"{receiver}/profile",
                "chat_history_url": f"{receiver}/chat-history",
            },
            **SLOW_ENQUEUE,
        }
    )
    scenario = closed_scenario(tmp_path, {"time_scale": 0.01})
    out = tmp_path / "run"
    env = {**os.environ, "DUMGUM_API_TOKEN": token}
    with BackgroundServer(create_mock_app(stand_in, [token])) as api:
        result = run_cli(
            str(scenario),
            "--target",
            api.url,
            "--receiver-port",
            str(receiver_port),
            "--out",
            str(out),
            env=env,
        )
        ledger = httpx.get(
            f"{api.url}/_mock/ledger", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "settling stopped at its bound" not in result.stdout
    check_requests_at_the_stop(out, ledger["enqueues_received"])
