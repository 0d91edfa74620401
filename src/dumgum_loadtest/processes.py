"""Child processes a run starts (mock, receiver, Locust): started, watched, and ended by PID."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dumgum_loadtest.errors import TargetError


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGTERM it when the run process dies.

    A run killed with SIGKILL cannot stop its children itself; without this the mock and the
    receiver would outlive it.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass  # not Linux: children are still ended by stop() on every normal exit


PR_SET_PDEATHSIG = 1


def cli_command(*args: str) -> list[str]:
    """Run this package's CLI with the interpreter that runs us (no PATH lookup)."""
    return [sys.executable, "-m", "dumgum_loadtest.cli", *args]


class ManagedProcess:
    """A child process whose output goes to a log file; ended with SIGTERM, then SIGKILL."""

    def __init__(
        self, name: str, command: list[str], log_path: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.command = command
        self.log_path = log_path
        self._env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ManagedProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self._env,
                start_new_session=True,  # Ctrl-C reaches us, and we end children in order
                preexec_fn=die_with_parent if sys.platform == "linux" else None,
            )
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait(self, timeout_s: float | None = None) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL. Only ever our own child, by PID."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(grace_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def wait_healthy(process: ManagedProcess, url: str, timeout_s: float = 30.0) -> None:
    """Poll ``url`` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if not process.running():
                raise TargetError(
                    f"{process.name} exited before it was ready; its log"
                    f" ({process.log_path}) ends with:\n{process.log_tail()}"
                )
            try:
                if client.get(url).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise TargetError(f"{process.name} did not answer {url} within {timeout_s:g} s")


def child_env(**extra: str) -> dict[str, str]:
    """Our environment plus ``extra``, for a child process."""
    env = dict(os.environ)
    env.update(extra)
    return env
