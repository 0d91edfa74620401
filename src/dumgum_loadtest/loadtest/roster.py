"""The master's record of its remote workers: who joined, who went missing, and when.

The Locust master (``run --expect-workers``) appends one JSON line per event to
``RUN_DIR/workers.jsonl``: ``joined`` when a worker connects, ``missing`` when it stopped
sending heartbeats (Locust's heartbeat: about 3 s of silence) before its final batch, i.e.
it died or lost the network. The run reads the file: how many joined while it waits for
them, and a note per missing worker. When the load ends the master asks every worker to
quit and waits, bounded, for each one's final batch of records before it exits.

The reading half (``read_roster``, ``roster_notes``) imports no locust: the run uses it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROSTER_FILE = "workers.jsonl"
WATCH_INTERVAL_S = 0.5


@dataclass(frozen=True)
class RosterEvent:
    event: str  # "joined" or "missing"
    client_id: str  # Locust's worker id: <hostname>_<hex>
    worker: str  # Locust's worker index, the suffix of its shards
    at_ns: int  # epoch ns


def append_event(run_dir: Path, event: RosterEvent) -> None:
    with (run_dir / ROSTER_FILE).open("ab") as roster:
        roster.write(orjson.dumps(event.__dict__, option=orjson.OPT_APPEND_NEWLINE))


def read_roster(run_dir: Path) -> list[RosterEvent]:
    """The events so far (none when the file is missing; a half-written last line skipped)."""
    try:
        lines = (run_dir / ROSTER_FILE).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    events = []
    for line in lines:
        try:
            events.append(RosterEvent(**orjson.loads(line)))
        except (orjson.JSONDecodeError, TypeError):
            continue
    return events


def joined_count(run_dir: Path) -> int:
    return len({e.client_id for e in read_roster(run_dir) if e.event == "joined"})


def roster_notes(run_dir: Path, load_started_ns: int | None) -> list[str]:
    """One note per worker that went missing during the run, naming it and when."""
    notes = []
    for event in read_roster(run_dir):
        if event.event != "missing":
            continue
        at = time.strftime("%H:%M:%S", time.gmtime(event.at_ns / 1e9))
        into = (
            f", {(event.at_ns - load_started_ns) / 1e9:.1f} s into the load"
            if (load_started_ns)
            else ""
        )
        notes.append(
            f"worker {event.worker} ({event.client_id}) stopped answering the master at"
            f" {at} UTC{into} (died or lost the network); its records up to its last batch"
            f" are kept in raw/requests-{event.worker}.jsonl, those of its last ~0.5 s may be"
            " lost, and its share of the schedule after that was not sent"
        )
    return notes


class MasterRoster:
    """Watches a Locust master's workers; writes the roster; waits for the final batches."""

    def __init__(self, run_dir: Path, runner: Any, final_from: set[str]) -> None:
        self.run_dir = run_dir
        self.runner = runner
        self.final_from = final_from  # the ShardWriter's: client ids whose last batch arrived
        self.missing: set[str] = set()
        self.seen: set[str] = set()

    def joined(self, client_id: str) -> None:
        if client_id in self.seen:
            return  # a worker repeats its "ready" until the master answers
        self.seen.add(client_id)
        index = str(self.runner.get_worker_index(client_id))
        append_event(self.run_dir, RosterEvent("joined", client_id, index, time.time_ns()))

    def watch(self) -> None:
        """Forever (a greenlet): note each worker that goes missing before its final batch."""
        import gevent

        while True:
            gevent.sleep(WATCH_INTERVAL_S)
            self.check()

    def check(self) -> None:
        for client in list(self.runner.clients.all):
            if client.state != "missing" or client.id in self.missing:
                continue
            if client.id in self.final_from:
                continue  # finished its work: silence now is not a death
            self.missing.add(client.id)
            index = str(self.runner.get_worker_index(client.id))
            append_event(self.run_dir, RosterEvent("missing", client.id, index, time.time_ns()))

    def collect_final_batches(self, timeout_s: float) -> list[str]:
        """Ask each worker still connected to quit, and wait until each sent its final batch
        (or went missing), at most ``timeout_s``; returns the ids still awaited then.

        Locust's master, at the end of the run time, sends its workers ``quit`` and exits half
        a second later; a worker finishes its requests in flight (the stop timeout) before its
        last records are sent. This runs first, from the master's ``test_stop``.
        """
        import gevent
        from locust.rpc import Message

        awaited = self._awaited()
        for client_id in awaited:
            quit_message = Message("quit", None, client_id)  # type: ignore[no-untyped-call]
            self.runner.server.send_to_client(quit_message)
        deadline = time.monotonic() + timeout_s
        while awaited and time.monotonic() < deadline:
            gevent.sleep(0.1)
            self.check()
            awaited = self._awaited()
        return awaited

    def _awaited(self) -> list[str]:
        return [
            client.id
            for client in self.runner.clients.all
            if client.id not in self.final_from
            and client.id not in self.missing
            and client.state != "missing"
        ]
