"""Headless Chromium driven over the DevTools protocol, for tests that need a real browser.

The browser is Debian's ``chromium`` (``make browser`` installs it; ``CHROMIUM`` names another
binary). It talks over ``--remote-debugging-pipe``: JSON messages ended by a NUL byte on file
descriptors 3 (to the browser) and 4 (from it), so no port is opened and no package beyond
the standard library is needed. No browser build is ever downloaded.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# A safety net against a wedged browser, not a measurement: a healthy page answers in well
# under a second; the test fails with a message rather than hanging until pytest's timeout.
REPLY_WAIT_S = 60.0
INSTALL_HINT = (
    "Chromium is not installed: `make browser` installs Debian's chromium package (as root, "
    "or with password-less sudo), or set CHROMIUM to a Chromium binary."
)


class BrowserError(RuntimeError):
    """The browser failed, closed, or answered a command with an error."""


def find_chromium() -> str | None:
    """The Chromium binary: ``CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH."""
    named = os.environ.get("CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class Page:
    """One tab, attached in flat mode: commands carry its session id."""

    browser: Chromium
    target_id: str
    session_id: str
    console_errors: list[str] = field(default_factory=list)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, params, self.session_id)

    def open(self, url: str, width: int, height: int = 900) -> None:
        """Load ``url`` in a ``width`` x ``height`` CSS-pixel viewport; return once loaded."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width, height=height, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip
        self.browser.events.clear()
        self.send("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session_id)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited), as JSON."""
        reply = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in reply:
            raise BrowserError(f"script failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def collect_errors(self) -> list[str]:
        """Console errors, uncaught exceptions and failed loads reported so far."""
        self.browser.drain()
        for message in self.browser.events:
            if message.get("sessionId") != self.session_id:
                continue
            method, params = message.get("method"), message.get("params") or {}
            if method == "Runtime.exceptionThrown":
                self.console_errors.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Runtime.consoleAPICalled" and params.get("type") in {
                "error",
                "assert",
            }:
                self.console_errors.append(f"console.{params.get('type')}: {params.get('args')}")
            elif method == "Log.entryAdded" and (params.get("entry") or {}).get("level") == "error":
                entry = params["entry"]
                self.console_errors.append(f"{entry.get('source')}: {entry.get('text')}")
        self.browser.events.clear()
        return self.console_errors


class Chromium:
    """A headless Chromium process and its DevTools pipe."""

    def __init__(self, binary: str, profile: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        self._log = (profile / "chromium.log").open("wb")
        args = [
            binary,
            "--headless",
            "--remote-debugging-pipe",
            f"--user-data-dir={profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--hide-scrollbars",
            "--mute-audio",
            "about:blank",
        ]
        if os.geteuid() == 0:
            args.insert(2, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
        actions = [
            (os.POSIX_SPAWN_DUP2, to_browser_r, 3),
            (os.POSIX_SPAWN_DUP2, from_browser_w, 4),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 1),
            (os.POSIX_SPAWN_DUP2, self._log.fileno(), 2),
        ]
        self.pid = os.posix_spawn(binary, args, dict(os.environ), file_actions=actions)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.log_path = profile / "chromium.log"

    def _write(self, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            written = os.write(self._to_browser, data)
            data = data[written:]

    def _read(self, wait_s: float) -> dict[str, Any] | None:
        """The next message, or None when none came within ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                return None
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError(f"Chromium closed its pipe; see {self.log_path}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message: dict[str, Any] = json.loads(raw)
        return message

    def _next(self) -> dict[str, Any]:
        message = self._read(REPLY_WAIT_S)
        if message is None:
            raise BrowserError(f"Chromium sent nothing for {REPLY_WAIT_S:.0f} s")
        return message

    def drain(self) -> None:
        """Keep the events already sent (the browser is idle when this is called)."""
        while (message := self._read(0.0)) is not None:
            self.events.append(message)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session_id: str | None = None
    ) -> dict[str, Any]:
        """Run one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        self._write(message)
        while True:
            reply = self._next()
            if reply.get("id") != self._next_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise BrowserError(f"{method}: {reply['error']}")
            result: dict[str, Any] = reply.get("result") or {}
            return result

    def wait_for(self, method: str, session_id: str) -> dict[str, Any]:
        """The first event ``method`` of the session, among those kept or still to come."""
        for index, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session_id:
                return self.events.pop(index)
        while True:
            event = self._next()
            if event.get("method") == method and event.get("sessionId") == session_id:
                return event
            self.events.append(event)

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, target, session["sessionId"])
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        return page

    def close(self) -> None:
        with suppress(OSError):  # already gone
            self._write({"id": self._next_id + 1, "method": "Browser.close", "params": {}})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.05)
        else:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self._to_browser)
        os.close(self._from_browser)
        self._log.close()


@contextmanager
def chromium(binary: str) -> Iterator[Chromium]:
    with tempfile.TemporaryDirectory(prefix="dumgum-chromium-") as profile:
        browser = Chromium(binary, Path(profile))
        try:
            browser.send("Browser.getVersion")
            yield browser
        finally:
            browser.close()
