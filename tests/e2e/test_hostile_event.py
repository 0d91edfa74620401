"""A hostile webhook event POSTed to the run's receiver while the run goes: the run still
ends with its summary and reports, the event is counted as invalid, and its cost is in no
total."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")
# As a receiver gets them: the cost as text, and as JSON numbers where DumGum sends text.
HOSTILE = [
    b'"Infinity"',
    b'"NaN"',
    b'"-5.0000"',
    b"1e308",
    b"123456789012345678901234567",
]


def _hostile_body(number: int, cost: bytes) -> bytes:
    return (
        b'{"event":"answer.created","data":{"projectId":"p","answer":{"id":"answer_hostile_%d",'
        b'"userProfileId":"u","personaProfileId":"p","sequenceNumber":0,"cost":%s,'
        b'"tags":{}}}}' % (number, cost)
    )


def test_hostile_costs_posted_during_a_run_are_counted_not_summed(tmp_path: Path) -> None:
    token = "sk-proj-e2e-hostile-51b0"
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
        }
    )
    out = tmp_path / "run"
    env = {**os.environ, "DUMGUM_API_TOKEN": token}
    argv = [CLI, "run", SMOKE, "--target", "", "--receiver-port", str(receiver_port)]
    argv += ["--duration", "5", "--rate", "4", "--out", str(out)]
    with BackgroundServer(create_mock_app(stand_in, [token])) as api:
        argv[argv.index("--target") + 1] = api.url
        with subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as run:
            try:
                _post_when_up(receiver, [_hostile_body(n, c) for n, c in enumerate(HOSTILE)])
                output, _ = run.communicate(timeout=150)
            finally:
                if run.poll() is None:
                    run.kill()
                    run.wait()
    assert run.returncode in (0, 1), output
    assert "Traceback" not in output, output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["hygiene"]["invalid_cost"] == len(HOSTILE)
    assert "Infinity" in summary["hygiene"]["invalid_cost_examples"]
    # testMode answers cost 0.0000: the hostile values would have made it inf, NaN or -5
    assert summary["cost"]["measured"]["total_eur"] == "0.0000"
    assert (out / "report.html").is_file()
    events = pq.read_table(out / "events.parquet", columns=["answer_id", "cost"]).to_pylist()
    kept = {row["answer_id"]: row["cost"] for row in events}
    assert kept["answer_hostile_4"] == "123456789012345678901234567"  # as received


def _post_when_up(receiver: str, bodies: list[bytes]) -> None:
    """POST the bodies to the receiver's incoming endpoint as soon as it answers."""
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{receiver}/health", timeout=1)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    for body in bodies:
        response = httpx.post(
            f"{receiver}/incoming",
            content=body,
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
        assert response.status_code < 300, response.text
