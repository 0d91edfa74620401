"""Records of remote workers, sent over Locust's message channel to the master's run directory.

A remote worker (``dumgum-loadtest worker``) shares no filesystem with the run: its
``ChannelRecorder`` sends what a local worker would append to its shards as one
``RECORDS_MESSAGE`` every ``FLUSH_INTERVAL_S`` (msgpack-friendly: lists of JSON lines and
the progress document), and a last one, marked final, when the test stops. The master's
``ShardWriter`` appends them to ``RUN_DIR/raw/requests-<worker>.jsonl`` (and ``turns-``,
``progress-``) exactly as a local worker writes them, so analysis reads them unchanged. A
worker that dies loses the batch it had not sent yet: at most ``FLUSH_INTERVAL_S`` of records.

Locust's channel (ZeroMQ, msgpack) is not encrypted: it carries request records, the
resolved scenario and the run's receiver URL, never the API token.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gevent
import orjson

from dumgum_loadtest.clock import now_ns
from dumgum_loadtest.loadtest.counters import PROGRESS_STEM, TURNS_STEM
from dumgum_loadtest.loadtest.recorder import FLUSH_INTERVAL_S, Recorder
from dumgum_loadtest.records import RAW_DIR, REQUESTS_STEM

RECORDS_MESSAGE = "dlt_records"

__all__ = ["FLUSH_INTERVAL_S", "RECORDS_MESSAGE", "ChannelRecorder", "ShardWriter"]


class ChannelRecorder(Recorder):
    """A worker's recorder that sends its batches to the master instead of writing files."""

    def __init__(self, runner: Any, worker: str) -> None:
        super().__init__(Path(), worker)  # no path is ever opened
        self.runner = runner
        self.batches_sent = 0
        self.final_sent = False

    def start(self) -> ChannelRecorder:
        self.counters.sample_cpu()
        self._send(final=False)
        self._greenlet = gevent.spawn(self._loop)
        return self

    def flush(self) -> None:
        self._send(final=False)

    def write_progress(self) -> None:
        self._send(final=False)

    def close(self) -> None:
        """Stop the flusher and send what is left, marked final (the master waits for it).
        Closed again (``test_stop``, then ``quitting``): only records made since are sent."""
        if self._greenlet is not None:
            self._greenlet.kill(block=True)
            self._greenlet = None
        if self.final_sent and not (self._requests or self._turns):
            return
        self._send(final=True)
        self.final_sent = True

    def _send(self, *, final: bool) -> None:
        requests, self._requests = self._requests, []
        turns, self._turns = self._turns, []
        self.counters.sample_cpu()
        self.runner.send_message(
            RECORDS_MESSAGE,
            {
                "worker": self.worker,
                # JSON lines as text: msgpack carries them as they are, the master appends
                "requests": [line.decode() for line in requests],
                "turns": [line.decode() for line in turns],
                "progress": self.counters.document(now_ns()),
                "final": final,
            },
        )
        self.records_written += len(requests)
        self.batches_sent += 1


class ShardWriter:
    """The master's side: appends every worker's batches to its shards in ``RUN_DIR/raw``."""

    def __init__(self, run_dir: Path) -> None:
        self.raw_dir = run_dir / RAW_DIR
        self.final_from: set[str] = set()  # Locust client ids whose final batch arrived
        self.workers: dict[str, str] = {}  # client id -> worker label (its shard's suffix)

    def receive(self, data: dict[str, Any], client_id: str) -> None:
        worker = _safe_label(str(data["worker"]))
        self.workers[client_id] = worker
        self.raw_dir.mkdir(parents=True, exist_ok=True)
        self._append(self.raw_dir / f"{REQUESTS_STEM}-{worker}.jsonl", data.get("requests"))
        self._append(self.raw_dir / f"{TURNS_STEM}-{worker}.jsonl", data.get("turns"))
        progress = self.raw_dir / f"{PROGRESS_STEM}-{worker}.json"
        temporary = progress.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_bytes(orjson.dumps(data.get("progress") or {}))
        temporary.replace(progress)  # readers never see half a file
        if data.get("final"):
            self.final_from.add(client_id)

    @staticmethod
    def _append(path: Path, lines: list[str] | None) -> None:
        if not lines:
            return
        with path.open("ab") as shard:
            shard.write("".join(f"{line.rstrip(chr(10))}\n" for line in lines).encode())


def _safe_label(label: str) -> str:
    """A worker label as a file-name part: Locust's worker index, digits only."""
    if not label.isdigit():
        raise ValueError(f"worker label {label!r}: expected Locust's worker index (digits)")
    return label
