"""``dumgum-loadtest run`` as a user runs it: the whole chain, and the real-URL safety rules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema_rs
import pandas as pd
import pytest

from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_run_smoke_accounts_for_every_request(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_cli("run", SMOKE, "--duration", "8", "--out", str(out), env=dict(os.environ))
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    schema = json.loads((ROOT / "schemas" / "summary.schema.json").read_text())
    jsonschema_rs.validate(schema, summary)
    requests = pd.read_parquet(out / "requests.parquet")
    assert len(requests) == summary["requests"]["scheduled"] > 50
    assert requests["request_id"].is_unique
    assert sum(summary["outcomes"].values()) == summary["requests"]["scheduled"]
    assert summary["outcomes"]["answered"] > 0
    assert summary["outcomes"]["lost"] == 0  # the default mock answers everything it accepts
    ledger = summary["mock_ledger"]
    assert ledger["enqueues_received"] == summary["requests"]["sent"]
    assert ledger["replies"] == summary["outcomes"]["answered"] + summary["outcomes"]["dropped"]
    for name in ("scenario.yaml", "environment.json", "events.parquet", "calls.parquet"):
        assert (out / name).exists()
    assert "outcomes: answered" in result.stdout


def test_real_url_without_token_refuses_to_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DUMGUM_API_TOKEN"}
    out = tmp_path / "run"
    result = run_cli("run", SMOKE, "--target", "http://127.0.0.1:9", "--out", str(out), env=env)
    assert result.returncode == 2
    assert "DUMGUM_API_TOKEN is not set" in result.stderr
    assert "export DUMGUM_API_TOKEN=" in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists()  # refused before anything was started or written


def test_billable_needs_a_cap_and_rate_guard_holds(tmp_path: Path) -> None:
    env = {**os.environ, "DUMGUM_API_TOKEN": "sk-proj-e2e-guard"}
    target = "http://127.0.0.1:9"
    billable = run_cli("run", SMOKE, "--target", target, "--allow-billable", env=env)
    assert billable.returncode == 2 and "--spend-cap-eur" in billable.stderr
    too_fast = run_cli("run", SMOKE, "--target", target, "--rate", "50", env=env)
    assert too_fast.returncode == 2 and "--max-rate" in too_fast.stderr


def test_real_url_run_sends_only_test_mode_and_never_writes_the_token(tmp_path: Path) -> None:
    token = "sk-proj-e2e-secret-4d1f"
    receiver_port = free_port()
    receiver = f"http://127.0.0.1:{receiver_port}"
    # The mock stands in for the real API; its dashboard points at the run's receiver.
    stand_in = MockConfig().patched(
        {
            "time_scale": 0.01,
            "endpoints": {
                "incoming_content_url": f"{receiver}/incoming",
                "profile_url": f"{receiver}/profile",
                "chat_history_url": f"{receiver}/chat-history",
            },
        }
    )
    with BackgroundServer(create_mock_app(stand_in, [token])) as api:
        out = tmp_path / "run"
        env = {**os.environ, "DUMGUM_API_TOKEN": token}
        result = run_cli(
            "run",
            SMOKE,
            "--target",
            api.url,
            "--receiver-port",
            str(receiver_port),
            "--duration",
            "5",
            "--rate",
            "4",
            "--out",
            str(out),
            env=env,
        )
        import httpx

        ledger = httpx.get(
            f"{api.url}/_mock/ledger", headers={"Authorization": f"Bearer {token}"}
        ).json()
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert "Incoming Content Endpoint" in result.stdout  # what to configure in the dashboard
    assert ledger["enqueues_accepted"] > 0
    assert ledger["replies"] > 0
    assert ledger["test_mode_replies"] == ledger["replies"]  # the mix's testMode false was forced
    assert ledger["billed_replies"] == 0
    assert token not in result.stdout and token not in result.stderr
    for path in out.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), f"token written to {path}"
