"""A run whose mock is served by two processes (``--mock-processes 2``) counts what the mocks
did, as a run with one does: the summary's outcomes equal the merged ledger's. Each pair's
requests all reached one process: the one the routing hash names."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from tests.e2e.test_outcome_truth import assert_outcomes_match_the_ledger, run, saturating_scenario

from dumgum_loadtest.loadtest.routing import shard_index
from dumgum_loadtest.mock.ledger_merge import merge_ledgers
from dumgum_loadtest.records import RAW_DIR, SENT

pytestmark = pytest.mark.e2e

PROCESSES = 2
DURATION_S = "6"  # the saturation stages, shortened: each still queues and merges


def sent_requests(run_dir: Path) -> list[dict[str, Any]]:
    records = []
    for shard in sorted((run_dir / RAW_DIR).glob("requests-*.jsonl")):
        for line in shard.read_bytes().splitlines():
            record = orjson.loads(line)
            if record["send_state"] == SENT:
                records.append(record)
    return records


def test_two_mock_processes_count_what_one_would(tmp_path: Path) -> None:
    path = tmp_path / "sharded.yaml"
    path.write_text(yaml.safe_dump(saturating_scenario("queue", "latest"), sort_keys=False))
    run_dir = tmp_path / "run"
    summary = run(path, run_dir, "--duration", DURATION_S, "--mock-processes", str(PROCESSES))

    # The outcome equivalence of a single mock holds for the merged ledger.
    assert_outcomes_match_the_ledger(summary)
    assert summary["outcomes"]["answered"] > 0
    ledgers = [
        json.loads((run_dir / "mock-ledgers" / f"mock-{i}.json").read_text())
        for i in range(PROCESSES)
    ]
    merged = json.loads((run_dir / "mock-ledger.json").read_text())
    assert merged == merge_ledgers(ledgers)
    assert (run_dir / "logs" / "mock-0.log").is_file()
    assert (run_dir / "logs" / "mock-1.log").is_file()

    # Each process received exactly the requests the hash routes to it...
    requests = sent_requests(run_dir)
    routed = [0] * PROCESSES
    for record in requests:
        routed[shard_index(record["user_id"], record["persona_id"], PROCESSES)] += 1
    assert [ledger["enqueues_received"] for ledger in ledgers] == routed
    assert all(routed), f"a process got no pair: {routed}"
    # ...and no pair was split: the pairs each process holds add up to the distinct pairs.
    accepted_pairs = {(r["user_id"], r["persona_id"]) for r in requests if r["status"] == 204}
    held = [ledger["gauges"]["pairs"] for ledger in ledgers]
    assert sum(held) == len(accepted_pairs), f"pairs per process {held}"
