"""A worker's raw shards: request records, closed-model turns, and the live progress file.

Records are kept in memory and appended to ``<run_dir>/raw/requests-<worker>.jsonl`` (and
``turns-<worker>.jsonl``) by a greenlet every ``FLUSH_INTERVAL_S`` and at close, so the
request path never waits on the disk; ``progress-<worker>.json`` is rewritten (atomically)
on the same tick.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

import gevent
import orjson

from dumgum_loadtest.clock import now_ns
from dumgum_loadtest.loadtest.counters import PROGRESS_STEM, TURNS_STEM, Counters
from dumgum_loadtest.records import RAW_DIR, REQUESTS_STEM, RequestRecord

FLUSH_INTERVAL_S = 0.5
"""Records reach the file at most this long after they were made (well inside 1 s)."""


class Recorder:
    """Buffers one worker's records and flushes them from its own greenlet."""

    def __init__(self, run_dir: Path, worker: str) -> None:
        self.raw_dir = run_dir / RAW_DIR
        self.worker = worker
        self.counters = Counters(worker)
        self.requests_path = self.raw_dir / f"{REQUESTS_STEM}-{worker}.jsonl"
        self.turns_path = self.raw_dir / f"{TURNS_STEM}-{worker}.jsonl"
        self.progress_path = self.raw_dir / f"{PROGRESS_STEM}-{worker}.json"
        self._requests: list[bytes] = []
        self._turns: list[bytes] = []
        self._requests_file: IO[bytes] | None = None
        self._turns_file: IO[bytes] | None = None
        self._greenlet: gevent.Greenlet[Any, None] | None = None
        self.records_written = 0

    def start(self) -> Recorder:
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        self._requests_file = self.requests_path.open("ab")
        self.counters.sample_cpu()
        self.write_progress()
        self._greenlet = gevent.spawn(self._loop)
        return self

    def add(self, record: RequestRecord | dict[str, Any]) -> None:
        """One scheduled request's record (exactly one per scheduled request)."""
        self._requests.append(orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE))

    def add_turn(self, turn: dict[str, Any]) -> None:
        """One closed-model turn: its requests, the wait for the answer and how it ended."""
        self._turns.append(orjson.dumps(turn, option=orjson.OPT_APPEND_NEWLINE))

    def _loop(self) -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            self.flush()

    def flush(self) -> None:
        """Append what is buffered and rewrite the progress file."""
        if self._requests:
            if self._requests_file is None:  # a record after close: reopen, never drop it
                self._requests_file = self.requests_path.open("ab")
            lines, self._requests = self._requests, []
            self._requests_file.write(b"".join(lines))
            self._requests_file.flush()
            self.records_written += len(lines)
        if self._turns:
            if self._turns_file is None:
                self._turns_file = self.turns_path.open("ab")
            lines, self._turns = self._turns, []
            self._turns_file.write(b"".join(lines))
            self._turns_file.flush()
        self.write_progress()

    def write_progress(self) -> None:
        self.counters.sample_cpu()
        temporary = self.progress_path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(orjson.dumps(self.counters.document(now_ns())))
        temporary.replace(self.progress_path)  # readers never see half a file

    def close(self) -> None:
        """Stop the flusher, write everything left and close the files (idempotent)."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        self.flush()
        if self._requests_file is not None:
            self._requests_file.close()
            self._requests_file = None
        if self._turns_file is not None:
            self._turns_file.close()
            self._turns_file = None
