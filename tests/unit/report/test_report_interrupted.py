"""Reports of runs that did not end as planned: a killed run process, a failing receiver."""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from pathlib import Path

from dumgum_loadtest.report import rebuild


def _meta(run_dir: Path) -> dict[str, object]:
    data: dict[str, object] = json.loads((run_dir / "run-meta.json").read_text())
    return data


def test_a_run_whose_process_is_gone_is_marked_interrupted(
    make_run: Callable[..., Path],
) -> None:
    # What kill -9 of `run` leaves: run-meta.json says "running" and nobody will finish it.
    run_dir = make_run(status="running")
    analysis = rebuild(run_dir)
    meta = _meta(run_dir)
    assert meta["status"] == "interrupted"
    assert meta["interrupted_by"]
    assert analysis.summary["status"] == "interrupted"
    assert analysis.summary["interrupted"] is True


def test_a_run_still_going_is_not_marked_interrupted(make_run: Callable[..., Path]) -> None:
    run_dir = make_run(status="running")
    meta = _meta(run_dir)
    # This very process plays the run still in progress on this machine.
    meta.update(pid=os.getpid(), host=platform.node())
    (run_dir / "run-meta.json").write_text(json.dumps(meta))
    rebuild(run_dir)
    assert _meta(run_dir)["status"] == "running"


def test_the_header_of_a_cut_short_run_says_how_long_the_load_ran(
    make_run: Callable[..., Path],
) -> None:
    # 4 s of requests (16 at 4/s) in a scenario planned for 10 s.
    run_dir = make_run(status="running", stages=(("steady", 4.0, 4.0),))
    analysis = rebuild(run_dir)
    ran_s = analysis.summary["health"]["load_ran_s"]
    assert ran_s == 3.8  # last sent (3.75 s + 1 ms) minus the first intended, to 0.1 s
    html_header = (run_dir / "report.html").read_text().split("<nav>")[0]
    assert "3.8 s of load ran" in html_header
    assert "10 s of load (" not in html_header
    md_header = (run_dir / "report.md").read_text().split("## ")[0]
    assert "3.8 s of load ran" in md_header


def test_webhooks_the_mock_gave_up_on_raise_the_harness_banner(
    make_run: Callable[..., Path],
) -> None:
    run_dir = make_run()
    ledger = {"deliveries_given_up": 7, "customer_call_failures": 3, "gauges": {}}
    (run_dir / "mock-ledger.json").write_text(json.dumps(ledger))
    analysis = rebuild(run_dir)
    health = analysis.summary["health"]
    assert health["deliveries_given_up"] == 7
    assert health["customer_call_failures"] == 3
    assert health["harness_bottleneck"] is True
    page = (run_dir / "report.html").read_text()
    banner = page[page.index("<body>") : page.index("<h1")]
    assert "gave up delivering 7 webhook events" in banner
    assert "3 calls to the customer endpoints" in banner


def test_a_healthy_receiver_raises_no_banner(make_run: Callable[..., Path]) -> None:
    run_dir = make_run()
    ledger = {"deliveries_given_up": 0, "customer_call_failures": 0, "gauges": {}}
    (run_dir / "mock-ledger.json").write_text(json.dumps(ledger))
    health = rebuild(run_dir).summary["health"]
    assert health["deliveries_given_up"] == 0
    assert health["harness_bottleneck"] is False
