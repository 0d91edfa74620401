"""How fast a finished run's raw shards become its Parquet tables (run by hand).

Writes synthetic raw shards shaped as the generator and the receiver write them (one request
line per request; answer.processing and answer.created with their tags, text and cost; a
chat-history call and, for new users, profile calls), then times ``rundir.write_tables`` in
a fresh process, side by side with the same conversion forced through the line-by-line
reader (what the run used before Arrow's JSON reader, and what it falls back to on a bad
block), and reads each one's peak RSS.

    .venv/bin/python benchmarks/bench_tables.py [--requests 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import orjson
from _common import run_child  # the sibling module: scripts run by path

S = 1_000_000_000

CONVERT = """
import json, resource, sys, time
from pathlib import Path
from dumgum_loadtest.analysis import shards
from dumgum_loadtest.rundir import write_tables
if sys.argv[2] == "python":
    def refuse(*args, **kwargs):
        raise shards.pa.ArrowInvalid("line by line")
    shards.pj.read_json = refuse
started = time.perf_counter()
write_tables(Path(sys.argv[1]))
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s": time.perf_counter() - started, "peak_mib": peak_mib}))
"""


def make_shards(run_dir: Path, requests_n: int) -> int:
    """Raw shards of ``requests_n`` requests; returns the number of lines written."""
    raw = run_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    t0 = 1_790_000_000 * S
    lines = 0
    with (
        (raw / "requests-0.jsonl").open("wb") as requests,
        (raw / "events-1.jsonl").open("wb") as events,
        (raw / "calls-1.jsonl").open("wb") as calls,
    ):
        for i in range(requests_n):
            sent = t0 + i * 500_000
            user, persona = f"u{i % 50_000}", f"p{i % 200}"
            tags = {"dlt_run": "bench", "dlt_req": f"0-{i}"}
            record = {
                "run_id": "bench",
                "request_id": f"0-{i}",
                "worker": "0",
                "conversation_id": f"0-c{i // 3}",
                "turn": i % 3,
                "burst_index": 0,
                "burst_size": 1,
                "stage": "steady",
                "user_id": user,
                "persona_id": persona,
                "intended_ns": sent - 1000,
                "sent_ns": sent,
                "response_ns": sent + 2_000_000,
                "status": 204,
                "send_state": "sent",
                "error": None,
                "chat_model": "dating-smart-1",
                "language": "EN",
                "test_mode": True,
                "buffer_s": 5,
                "max_processing_s": 300,
                "generate_personality": False,
                "vision": False,
                "shareable_pictures": 0,
                "multiple_messages": False,
                "typing_delay": "NORMAL",
                "engage": None,
                "pause": False,
                "invalid": False,
            }
            requests.write(orjson.dumps(record) + b"\n")
            data = {"projectId": "proj_bench", "userProfileId": user, "personaProfileId": persona}
            processing = {"event": "answer.processing", "data": {**data, "tags": tags}}
            answer = {
                "id": f"answer_{i}",
                **data,
                "type": "TEXT",
                "replyMode": "AI",
                "text": "Sure, I would love to hear more about your weekend plans!",
                "tags": tags,
                "cost": "0.0000",
                "responseTime": 3,
                "sequenceNumber": 0,
                "createdAt": "2026-11-26T08:00:00Z",
            }
            created = {
                "event": "answer.created",
                "data": {"projectId": "proj_bench", "answer": answer},
            }
            for offset_s, body in ((5, processing), (8, created)):
                event = {"recv_ns": sent + offset_s * S, "endpoint": "incoming", "status": 204}
                events.write(orjson.dumps({**event, "body": body}) + b"\n")
            params = {"userProfileId": user, "personaProfileId": persona}
            call = {"recv_ns": sent + S, "kind": "chat_history", "params": params, "status": 200}
            calls.write(orjson.dumps({**call, "duration_ns": 90_000, "response_bytes": 15}) + b"\n")
            lines += 4
            if i < 50_000:  # a new user: its profile is fetched once
                profile = {"recv_ns": sent + S, "kind": "profile", "params": {"profileId": user}}
                calls.write(
                    orjson.dumps({**profile, "status": 200, "duration_ns": 400_000}) + b"\n"
                )
                lines += 1
    return lines


def convert(run_dir: Path, reader: str) -> dict[str, float]:
    for table in run_dir.glob("*.parquet"):
        table.unlink()
    return run_child(CONVERT, str(run_dir), reader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the shards here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-tables-"))
    run_dir = base / f"run-{args.requests}"
    try:
        lines = make_shards(run_dir, args.requests)
        size_mb = sum(p.stat().st_size for p in (run_dir / "raw").iterdir()) / 1e6
        print(f"{args.requests} requests, {lines} lines, {size_mb:.0f} MB of shards")
        print(f"{'reader':>14} {'s':>7} {'µs per line':>12} {'peak MiB':>9}")
        for reader in ("arrow", "python", "arrow", "python"):  # interleaved
            figures = convert(run_dir, reader)
            seconds, peak_mib = figures["s"], figures["peak_mib"]
            per_line_us = seconds / lines * 1e6
            print(f"{reader:>14} {seconds:>7.1f} {per_line_us:>12.2f} {peak_mib:>9.0f}")
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
