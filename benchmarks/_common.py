"""What several benchmarks do alike: wait for a server to listen, run a measured step in a
fresh process and read the figures it prints."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

HOST = "127.0.0.1"


def wait_listening(port: int, timeout_s: float = 20.0) -> None:
    """Return once something accepts connections on ``HOST:port``; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {HOST}:{port} after {timeout_s} s")


def run_child(code: str, *args: str) -> dict[str, Any]:
    """Run ``code`` in a fresh Python process; the JSON object on its last line of output.

    A failed child stops the benchmark with the end of its error output.
    """
    result = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        print(result.stderr[-3000:])
        raise SystemExit(1)
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures
