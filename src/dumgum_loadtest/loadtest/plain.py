"""The run directory's own files when Locust runs without ``dumgum-loadtest run``.

``dumgum-loadtest run`` writes ``scenario.yaml``, ``environment.json`` and ``run-meta.json``
itself; under plain ``locust -f locustfiles/enqueue.py`` nobody would, and ``dumgum-loadtest
report RUN_DIR`` could not read the run. Imported by that locustfile only (never by the one
``run`` starts), these listeners write them from the master or the standalone process: the
resolved scenario and the environment when a test starts, ``run-meta.json`` as ``running``
then ``completed`` when it stops. The receiver runs on its own (``dumgum-loadtest receiver
--out RUN_DIR/raw``) and nobody settles it: ``report`` counts what it recorded by then.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

from locust import events
from locust.runners import WorkerRunner

from dumgum_loadtest.errors import HarnessError
from dumgum_loadtest.loadtest.options import listen
from dumgum_loadtest.loadtest.settings import GeneratorOptions, resolve_options
from dumgum_loadtest.records import RAW_DIR
from dumgum_loadtest.rundir import RUN_META, environment, write_json, write_scenario
from dumgum_loadtest.scenarios.schedule import time_scale_for

logger = logging.getLogger("dumgum_loadtest.loadtest")

NOT_SETTLED = (
    "plain Locust run: the harness did not settle the receiver; events that arrived after"
    " `report` ran are not counted (wait until answers stop arriving, then report again)"
)


class PlainRun:
    """What the master (or the standalone process) knows of the run it writes."""

    def __init__(self) -> None:
        self.options: GeneratorOptions | None = None
        self.load_started_ns: int | None = None
        self.load_ended_ns: int | None = None
        self.workers = 1

    def write_meta(self, status: str) -> None:
        options = self.options
        if options is None:
            return
        write_json(
            options.run_dir / RUN_META,
            {
                "run_id": options.run_id,
                "status": status,
                "updated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "pid": os.getpid(),  # `report` marks a "running" run whose process is gone
                "host": platform.node(),
                "interrupted_by": None,
                "load_started_ns": self.load_started_ns,
                "load_ended_ns": self.load_ended_ns,
                "observed_until_ns": None,
                "settle": None,
                "notes": [NOT_SETTLED],
                "servers": {},
                "generator": "locust -f locustfiles/enqueue.py",
            },
        )


_run = PlainRun()


def _on_test_start(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    try:
        options = resolve_options(environment.parsed_options, environment.host)
    except HarnessError as exc:
        logger.error("dumgum-loadtest: %s", exc)
        return
    _run.options = options
    _run.load_started_ns, _run.load_ended_ns = time.time_ns(), None
    _run.workers = max(1, int(getattr(environment.runner, "worker_count", 1) or 1))
    run_dir = options.run_dir
    earlier = _earlier_run_id(run_dir)
    if earlier is not None and earlier != options.run_id:
        logger.warning(
            "dumgum-loadtest: %s holds run %s: its raw records will mix with %s's in the"
            " report (use a new --run-dir per run)",
            run_dir,
            earlier,
            options.run_id,
        )
    (run_dir / RAW_DIR).mkdir(parents=True, exist_ok=True)
    write_scenario(run_dir, options.scenario)
    target = "mock" if options.scenario.target == "mock" else options.target_url
    write_json(run_dir / "environment.json", _environment(options, target))
    _run.write_meta("running")


def _earlier_run_id(run_dir: Path) -> str | None:
    """The run id of a run already in ``run_dir`` (not pandas' reader: Locust stays light)."""
    try:
        meta = json.loads((run_dir / RUN_META).read_text())
    except (OSError, ValueError):
        return None
    run_id = meta.get("run_id") if isinstance(meta, dict) else None
    return str(run_id) if run_id is not None else None


def _environment(options: GeneratorOptions, target: str) -> dict[str, Any]:
    return environment(
        target,
        time_scale_for(options.scenario),
        _run.workers,
        {
            "run_id": options.run_id,
            "force_test_mode": options.force_test_mode,
            "target_url": options.target_url,
            "generator": "plain locust",
        },
    )


def _on_test_stop(environment: Any, **_: Any) -> None:
    if isinstance(environment.runner, WorkerRunner) or _run.options is None:
        return
    if _run.load_ended_ns is None:
        _run.load_ended_ns = time.time_ns()
        _run.write_meta("completed")


listen(events.test_start, _on_test_start)
listen(events.test_stop, _on_test_stop)
