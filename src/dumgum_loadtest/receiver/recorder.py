"""Append-only JSONL shards: one line per event or call, handed to the OS before the answer.

Each process writes its own ``events-<host>-<pid>.jsonl`` and ``calls-<host>-<pid>.jsonl``,
so several receiver processes share one directory, on one machine or from several (pods of a
Deployment on one shared volume: their pids are all alike, their host names are not), and
analysis merges the shards.
"""

from __future__ import annotations

import base64
import os
import re
import socket
from pathlib import Path

import orjson

EVENTS_STEM = "events"
CALLS_STEM = "calls"

# Read as well as write: opening checks the file's last byte (see ``_start_on_fresh_line``).
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
_LF, _CR = ord("\n"), ord("\r")


def shard_writer_id() -> str:
    """``<host>-<pid>``: unique among the processes writing into one directory, whether on
    one machine or in several pods sharing a volume (where every pid may be 1)."""
    host = _UNSAFE_IN_NAME.sub("_", socket.gethostname()) or "host"
    return f"{host}-{os.getpid()}"


class JsonlShard:
    """One append-only file; every record is a single ``os.write`` of a whole line.

    ``O_APPEND`` plus one write per record means a record is either in the file whole or not
    at all, and it is in the OS (safe from a crash of this process) once ``append`` returns.
    The file is named when first opened, so it carries the host name and pid of the process
    that writes it (``shard_writer_id``).
    """

    def __init__(self, out_dir: Path, stem: str, *, fsync: bool = False) -> None:
        self.out_dir = out_dir
        self.stem = stem
        self.fsync = fsync
        self.path: Path | None = None
        self.bytes_written = 0
        self.records = 0
        self._fd: int | None = None
        self._may_end_mid_line = False  # a write failed: the file may end with part of a line

    def open(self) -> Path:
        """Create the directory and the file if needed; idempotent. Returns the file's path."""
        self._open_fd()
        assert self.path is not None  # set by _open_fd
        return self.path

    def _open_fd(self) -> int:
        if self._fd is None:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            self.path = self.out_dir / f"{self.stem}-{shard_writer_id()}.jsonl"
            self._fd = os.open(self.path, _OPEN_FLAGS, 0o644)
            self._start_on_fresh_line(self._fd)
        return self._fd

    @staticmethod
    def _start_on_fresh_line(fd: int) -> None:
        """End a half-written last line, left by a process killed mid-write or a failed write.

        The file name carries the host name and pid, and a restarted receiver can have both
        the same (PID 1 in a restarted container of the same pod): without this its first
        record would be glued onto the partial line and lost with it. The partial line
        stays, one unreadable line that analysis skips.
        """
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.write(fd, b"\n")

    def append(self, line: bytes) -> None:
        """Append one record; ``line`` must be one JSON document ending with a newline.

        Raises the write's ``OSError`` (a full disk): the caller answers no 2xx, and the next
        record starts on a line of its own, never glued onto what this one left.
        """
        fd = self._fd if self._fd is not None else self._open_fd()
        try:
            if self._may_end_mid_line:
                self._start_on_fresh_line(fd)
                self._may_end_mid_line = False
            written = os.write(fd, line)
            if written != len(line):
                # Only a full disk or a signal cuts a regular-file write short: finish the line
                # rather than leave half a record (the file is ours alone, so nothing interleaves).
                self._write_rest(fd, line, written)
            if self.fsync:
                os.fdatasync(fd)
        except OSError:
            self._may_end_mid_line = True
            raise
        self.bytes_written += len(line)
        self.records += 1

    @staticmethod
    def _write_rest(fd: int, line: bytes, written: int) -> None:
        view = memoryview(line)
        while written < len(line):
            written += os.write(fd, view[written:])

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def event_line(recv_ns: int, endpoint: bytes, status: int, body_json: bytes) -> bytes:
    """The record of a POSTed event whose body is valid JSON, embedded verbatim.

    Raw newlines can only be insignificant whitespace in valid JSON (inside strings they must
    be escaped), so turning them into spaces keeps the body's meaning and one record per line.
    """
    # Byte values, not one-byte strings: ``10 in`` is a plain memchr, 4x faster here.
    if _LF in body_json or _CR in body_json:
        body_json = body_json.replace(b"\n", b" ").replace(b"\r", b" ")
    return b'{"recv_ns":%d,"endpoint":"%s","status":%d,"body":%s}\n' % (
        recv_ns,
        endpoint,
        status,
        body_json,
    )


def invalid_event_line(recv_ns: int, endpoint: str, status: int, body: bytes) -> bytes:
    """The record of a POSTed body that is not JSON: kept as a string, never dropped.

    Bytes that are not UTF-8 cannot go into a JSON string unchanged, so such a body is also
    kept whole in ``body_base64``.
    """
    record: dict[str, object] = {"recv_ns": recv_ns, "endpoint": endpoint, "status": status}
    try:
        record["body"] = body.decode("utf-8")
    except UnicodeDecodeError:
        record["body"] = body.decode("utf-8", errors="replace")
        record["body_base64"] = base64.b64encode(body).decode("ascii")
    return orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)


def call_line(
    recv_ns: int,
    kind: str,
    params: dict[str, str],
    status: int,
    duration_ns: int,
    response_bytes: int,
) -> bytes:
    """The record of one profile or chat-history call served."""
    return orjson.dumps(
        {
            "recv_ns": recv_ns,
            "kind": kind,
            "params": params,
            "status": status,
            "duration_ns": duration_ns,
            "response_bytes": response_bytes,
        },
        option=orjson.OPT_APPEND_NEWLINE,
    )


class Recorder:
    """The two shards of one receiver process: events received and calls served."""

    def __init__(self, out_dir: Path, *, fsync: bool = False) -> None:
        self.events = JsonlShard(out_dir, EVENTS_STEM, fsync=fsync)
        self.calls = JsonlShard(out_dir, CALLS_STEM, fsync=fsync)

    def open(self) -> None:
        self.events.open()
        self.calls.open()

    def close(self) -> None:
        self.events.close()
        self.calls.close()
