"""The run directory: resolved scenario, environment, raw shards, Parquet tables, summary."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from dumgum_loadtest.analysis.shards import CALLS, EVENTS, REQUESTS, LineCount, shard_tables
from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.scenarios import Scenario

ROW_GROUP_ROWS = 1 << 20  # rows per Parquet row group: what the analysis reads at a time
VERSIONED_PACKAGES = ("dumgum-loadtest", "locust", "pandas", "pyarrow", "pydantic", "aiohttp")
GIT_TIMEOUT_S = 2.0


def new_run_id(scenario_name: str) -> str:
    return f"{scenario_name}-{time.strftime('%Y%m%d-%H%M%S')}"


def run_dir_for(out: Path | None, run_id: str) -> Path:
    return out if out is not None else Path("reports") / run_id


def refuse_occupied_run_dir(run_dir: Path, *, external_receiver: bool = False) -> None:
    """A run directory must be new or empty: a second run written into an earlier one would
    merge both runs' raw shards into one analysis, silently. With an external receiver
    (``run --receiver-url``) it may hold ``raw/`` with the empty shards that receiver opened
    when it started, and nothing else."""
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise ConfigError(f"--out {run_dir}: exists and is not a directory")
    if external_receiver and [p.name for p in run_dir.iterdir()] == [RAW_DIR]:
        from dumgum_loadtest.external_receiver import unused_shards_only

        if unused_shards_only(run_dir / RAW_DIR):
            return
        raise ConfigError(
            f"--out {run_dir}: {RAW_DIR}/ holds records already (an earlier run's, or events"
            " the receiver took before this run); start the receiver afresh on a new run"
            " directory"
        )
    if any(run_dir.iterdir()):
        raise ConfigError(
            f"--out {run_dir}: the directory is not empty (an earlier run's files would mix"
            " with this one's); choose a new directory, or remove this one first"
        )


def create_run_dir(run_dir: Path, *, external_receiver: bool = False) -> list[Path]:
    """Create the run directory (new, or empty); returns the directories this created,
    outermost first, for ``remove_created``."""
    from dumgum_loadtest.outputs import make_output_dir

    refuse_occupied_run_dir(run_dir, external_receiver=external_receiver)
    created = make_output_dir(run_dir, "--out")
    try:
        (run_dir / RAW_DIR).mkdir(parents=True, exist_ok=True)
        (run_dir / "logs").mkdir(exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {run_dir}: cannot create the run directory: {exc}") from exc
    return created


def remove_created(
    run_dir: Path, created: list[Path], *, keep: frozenset[str] = frozenset()
) -> None:
    """Undo ``create_run_dir`` after a failed start: the directories it created go; a run
    directory that existed (it was empty, see ``refuse_occupied_run_dir``) is emptied, but
    for the entries named in ``keep`` (an external receiver's open ``raw/`` shards)."""
    if created:
        shutil.rmtree(created[0], ignore_errors=True)
        return
    for child in run_dir.iterdir() if run_dir.is_dir() else ():
        if child.name in keep:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def write_scenario(run_dir: Path, scenario: Scenario) -> None:
    """The scenario as it ran, after command-line overrides."""
    data = scenario.model_dump(mode="json", exclude_defaults=False)
    if data.get("calibrate") is None:
        # Absent, as before the block existed: the history's scenario hash of an uncalibrated
        # scenario stays what it was, so its nights remain comparable across the upgrade.
        data.pop("calibrate", None)
    text = f"# resolved scenario of this run\n{yaml.safe_dump(data, sort_keys=False)}"
    (run_dir / "scenario.yaml").write_text(text)


def environment(
    target: str, time_scale: float, workers: int, extra: dict[str, Any]
) -> dict[str, Any]:
    versions: dict[str, str | None] = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "target": target,
        "time_scale": time_scale,
        "workers": workers,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "hostname": platform.node(),
        "versions": versions,
        "git_commit": git_commit(),
        "clock": {
            "source": "time.time_ns on one machine: every process shares the clock",
            "monotonic_resolution_s": time.get_clock_info("monotonic").resolution,
        },
        **extra,
    }


def git_commit(source_dir: Path | None = None) -> str | None:
    """The commit the harness's code was checked out at, when it runs from a git checkout
    (an editable install); None when installed from a package or git is missing or slow.

    ``--error-unmatch`` makes sure the package's own files are tracked there: a package
    installed into a virtual environment inside some checkout is not that checkout.
    """
    source_dir = source_dir or Path(__file__).resolve().parent
    try:
        tracked = subprocess.run(
            ["git", "-C", str(source_dir), "ls-files", "--error-unmatch", "__init__.py"],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
        if tracked.returncode != 0:
            return None
        head = subprocess.run(
            ["git", "-C", str(source_dir), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    return commit if head.returncode == 0 and commit else None


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_tables(run_dir: Path) -> int:
    """requests.parquet, events.parquet, calls.parquet from the raw shards, streamed a block
    of lines at a time (memory stays bounded at any run length); returns the lines skipped
    as unreadable. Rows keep the shards' order: the analysis never relies on another.

    Each table is written beside its place and renamed there once all three are complete:
    the analysis reads the tables only when all three exist, else the shards.
    """
    count = LineCount()
    written = []
    for kind in (REQUESTS, EVENTS, CALLS):
        final = run_dir / f"{kind.stem}.parquet"
        partial = final.with_name(f".{final.name}.partial")
        with pq.ParquetWriter(partial, kind.schema) as writer:
            pending: list[pa.Table] = []
            pending_rows = 0
            for table in shard_tables(run_dir, kind, count):
                pending.append(table)
                pending_rows += table.num_rows
                if pending_rows >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending, pending_rows = [], 0
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
        written.append((partial, final))
    for partial, final in written:
        partial.replace(final)
    return count.unreadable


RUN_META = "run-meta.json"
ABANDONED = "the run process ended without finishing (killed?)"


def mark_abandoned(run_dir: Path) -> bool:
    """Mark a run ``interrupted`` when run-meta.json says ``running`` but its process is gone.

    ``run`` killed outright (kill -9, out of memory, a lost machine) never writes its final
    status. The times it would have written are estimated from the raw files' last writes.
    Returns whether the run was marked.
    """
    path = run_dir / RUN_META
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False  # no status at all: the analysis already treats it as cut short
    if not isinstance(meta, dict) or meta.get("status") != "running" or _run_alive(meta):
        return False
    meta["status"] = "interrupted"
    meta["interrupted_by"] = meta.get("interrupted_by") or ABANDONED
    raw = run_dir / RAW_DIR
    if meta.get("load_ended_ns") is None:
        meta["load_ended_ns"] = _last_write_ns(raw, ("requests-*.jsonl",))
    if meta.get("observed_until_ns") is None:
        # Every child got SIGTERM when the run died (PDEATHSIG), the receiver too: it was
        # recording until the last shard was written, whichever process wrote it.
        meta["observed_until_ns"] = _last_write_ns(
            raw, ("events-*.jsonl", "calls-*.jsonl", "requests-*.jsonl")
        )
    notes = meta.get("notes")
    if not isinstance(notes, list):
        notes = []
    pid = meta.get("pid")
    notes.append(
        f"run-meta.json still said running, but the run process{f' (pid {pid})' if pid else ''}"
        " is gone: marked interrupted when the report was rebuilt; the load's end and the"
        " observation's end are the raw files' last modification times"
    )
    meta["notes"] = notes
    meta["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    write_json(path, meta)
    return True


def _run_alive(meta: dict[str, Any]) -> bool:
    """Whether the process that wrote ``meta`` still runs (same machine, same pid). A pid
    reused by another process reads as alive: the run is then left as it is, never wrongly
    marked while it may still be writing."""
    pid = meta.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or meta.get("host") != platform.node():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _last_write_ns(raw: Path, patterns: tuple[str, ...]) -> int | None:
    times = []
    for pattern in patterns:
        for shard in raw.glob(pattern):
            try:
                times.append(shard.stat().st_mtime_ns)
            except OSError:
                continue
    return max(times) if times else None
