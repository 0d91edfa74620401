"""``run`` with a receiver others can reach: a secret path, known to the run's own children,
printed in the announced URLs and written to no file of the run directory (issue 10)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from dumgum_loadtest.mock import MockConfig, create_mock_app
from dumgum_loadtest.processes import ManagedProcess, cli_command, wait_healthy
from dumgum_loadtest.serving import BackgroundServer, free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "dumgum-loadtest")
SMOKE = str(ROOT / "scenarios" / "smoke.yaml")
SECRET = "e2e-receiver-secret-5b7c9d1e"


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DUMGUM_RECEIVER_")}
    return {**env, **extra}


def assert_written_nowhere(secret: str, run_dir: Path) -> None:
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret written to {path}"


def test_real_url_run_serves_its_receiver_under_the_secret_path_it_announces(
    tmp_path: Path,
) -> None:
    token = "sk-proj-e2e-exposed"
    receiver_port = free_port()
    public = f"http://127.0.0.1:{receiver_port}"
    receiver = f"{public}/{SECRET}"
    # The stand-in API's dashboard holds the URLs the run announces, secret included.
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
        env = clean_env(DUMGUM_API_TOKEN=token, DUMGUM_RECEIVER_SECRET_PATH=SECRET)
        result = run_cli(
            "run",
            SMOKE,
            "--target",
            api.url,
            "--receiver-port",
            str(receiver_port),
            "--public-receiver-url",
            public,
            "--duration",
            "5",
            "--rate",
            "4",
            "--out",
            str(out),
            env=env,
        )
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert f"Incoming Content Endpoint  {receiver}/incoming" in result.stdout
    assert f"Profile Endpoint           {receiver}/profile" in result.stdout
    assert f"GET {receiver}/health -> 200" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcomes"]["answered"] > 0  # DumGum's calls got through the secret path
    assert summary["outcomes"]["lost"] == 0
    assert_written_nowhere(SECRET, out)


def test_mock_run_with_a_reachable_receiver_hands_the_drawn_secret_to_the_mock(
    tmp_path: Path,
) -> None:
    out = tmp_path / "run"
    result = run_cli(
        "run",
        SMOKE,
        "--duration",
        "5",
        "--public-receiver-url",
        "http://127.0.0.1:9",
        "--out",
        str(out),
        env=clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["outcomes"]["answered"] > 0
    assert summary["outcomes"]["lost"] == 0
    assert "<secret-path>" in (out / "logs" / "receiver.log").read_text()


def test_a_stranger_gets_404_from_a_receiver_with_a_secret(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "receiver.log"
    receiver = ManagedProcess(
        "receiver",
        cli_command("receiver", "--port", str(port), "--out", str(tmp_path / "raw")),
        log,
        env=clean_env(DUMGUM_RECEIVER_SECRET_PATH=SECRET),  # as a run hands it over
    ).start()
    try:
        wait_healthy(receiver, f"{url}/health")
        assert httpx.post(f"{url}/incoming", json={"event": "x"}).status_code == 404
        assert httpx.post(f"{url}/{SECRET}/incoming", json={"event": "x"}).status_code == 204
    finally:
        receiver.stop()
    banner = log.read_text()
    assert "/<secret-path>" in banner
    assert SECRET not in banner  # its banner names the secret path, never shows it
