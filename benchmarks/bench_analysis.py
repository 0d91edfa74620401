"""How fast ``analyse`` turns a big run into summary.json and the reports (run by hand).

Generates synthetic run directories (requests.parquet, events.parquet, calls.parquet and the
small JSON files) of 1 M and 10 M requests with about 3 events each, then analyses each in a
fresh subprocess, timing it and reading its peak RSS. Prints time per million rows, so a
flat line from 1 M to 10 M shows the analysis scales linearly.

    .venv/bin/python benchmarks/bench_analysis.py [--sizes 1000000,10000000] [--keep DIR]

``--keep DIR`` keeps the generated runs; run again with the same DIR, they are analysed
again without being generated again (the generation takes about 70 s at 10 M).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from _common import run_child  # the sibling module: scripts run by path

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000_000
MODELS = ["dating-smart-1", "dating-pro-1", "chat-2-smart", "chat-2-pro"]
LANGUAGES = ["EN", "FR", "DE", "ES", "IT", "NL", "PT_BR", "PL_PL", "SV_SE", "JA"]
MERGED_SHARE = 0.25


def _ids(prefix: str, numbers: np.ndarray) -> pa.Array:
    text = pc.cast(pa.array(numbers), pa.string())
    return pc.binary_join_element_wise(pa.scalar(prefix), text, pa.scalar(""))


def _choice(rng: np.random.Generator, values: list[str], n: int, p: list[float]) -> pa.Array:
    codes = rng.choice(len(values), size=n, p=p).astype("int32")
    return pa.DictionaryArray.from_arrays(pa.array(codes), pa.array(values)).cast(pa.string())


def make_run(run_dir: Path, requests_n: int, seed: int = 1) -> int:
    """A synthetic finished run of ``requests_n`` requests; returns the number of events."""
    rng = np.random.default_rng(seed)
    rate_rps = 2000.0
    t0 = 1_790_000_000 * S
    intended = t0 + np.sort(rng.uniform(0, requests_n / rate_rps, requests_n) * S).astype("int64")
    lateness = rng.exponential(0.0005, requests_n) * S
    sent = intended + lateness.astype("int64")
    response = sent + (rng.lognormal(np.log(0.002), 0.5, requests_n) * S).astype("int64")
    status = np.where(rng.random(requests_n) < 0.01, 429, 204).astype("int64")
    ids = np.arange(requests_n)
    users = rng.integers(0, 500_000, requests_n)
    personas = rng.integers(0, 2000, requests_n)
    buffer_s = rng.choice([0, 5, 15], requests_n, p=[0.1, 0.7, 0.2])
    # A quarter of the requests open a burst: the next request (0.5 ms later at 2,000/s) is of
    # the same pair, and DumGum's one reply names that one. So the merge replay has work.
    opens_burst = np.zeros(requests_n, bool)
    opens_burst[:-1] = rng.random(requests_n - 1) < MERGED_SHARE
    opens_burst[1:][opens_burst[:-1]] = False  # bursts of two: the second carries the reply
    users[np.flatnonzero(opens_burst)] = users[np.flatnonzero(opens_burst) + 1]
    personas[np.flatnonzero(opens_burst)] = personas[np.flatnonzero(opens_burst) + 1]
    buffer_s[np.flatnonzero(opens_burst)] = 5
    requests = pa.table(
        {
            "run_id": pa.array(np.full(requests_n, "bench"), pa.string()),
            "request_id": _ids("w0-", ids),
            "worker": pa.array(np.full(requests_n, "0"), pa.string()),
            "conversation_id": _ids("c", users),
            "turn": pa.array(rng.integers(0, 6, requests_n)),
            "burst_index": pa.array(np.zeros(requests_n, "int64")),
            "burst_size": pa.array(np.ones(requests_n, "int64")),
            "stage": pa.array(np.full(requests_n, "steady"), pa.string()),
            "user_id": _ids("u", users),
            "persona_id": _ids("p", personas),
            "intended_ns": pa.array(intended),
            "sent_ns": pa.array(sent),
            "response_ns": pa.array(response),
            "status": pa.array(status),
            "send_state": pa.array(np.full(requests_n, "sent"), pa.string()),
            "error": pa.nulls(requests_n, pa.string()),
            "chat_model": _choice(rng, MODELS, requests_n, [0.6, 0.15, 0.15, 0.1]),
            "language": _choice(rng, LANGUAGES, requests_n, [0.1] * 10),
            "test_mode": pa.array(rng.random(requests_n) < 0.5),
            "buffer_s": pa.array(buffer_s),
            "max_processing_s": pa.array(np.full(requests_n, 300, "int64")),
            "generate_personality": pa.array(rng.random(requests_n) < 0.2),
            "vision": pa.array(rng.random(requests_n) < 0.1),
            "shareable_pictures": pa.array(rng.integers(0, 3, requests_n)),
            "multiple_messages": pa.array(rng.random(requests_n) < 0.3),
            "typing_delay": _choice(
                rng, ["INSTANT", "FAST", "NORMAL"], requests_n, [0.6, 0.3, 0.1]
            ),
            "engage": pa.nulls(requests_n, pa.string()),
            "pause": pa.array(np.zeros(requests_n, bool)),
            "invalid": pa.array(np.zeros(requests_n, bool)),
        }
    )
    pq.write_table(requests, run_dir / "requests.parquet")
    accepted = ids[(status == 204) & ~opens_burst]  # a burst's first gets no reply of its own
    dropped = rng.random(accepted.size) < 0.01
    generation = rng.lognormal(np.log(3.0), 0.45, accepted.size) * S
    processing_ns = sent[accepted] + (buffer_s[accepted] * S).astype("int64")
    created_ns = processing_ns + generation.astype("int64")
    answered = accepted[~dropped]
    # Half the replies are split in two with a typing delay: processing, created, processing,
    # created; about 3 events per request in all, as the 10 M / 30 M sizes assume.
    split = rng.random(answered.size) < 0.5
    follow = answered[split]
    follow_ns = created_ns[~dropped][split] + S
    kinds = np.concatenate(
        [
            np.zeros(accepted.size, "int8"),  # processing
            np.ones(answered.size, "int8"),  # first answer
            np.zeros(follow.size, "int8"),  # processing before the follow-up
            np.ones(follow.size, "int8"),  # follow-up message
            np.full(int(dropped.sum()), 2, "int8"),  # dropped
        ]
    )
    req = np.concatenate([accepted, answered, follow, follow, accepted[dropped]])
    recv = np.concatenate(
        [
            processing_ns,
            created_ns[~dropped],
            follow_ns - S // 2,
            follow_ns,
            processing_ns[dropped] + 300 * S,
        ]
    )
    seq = np.concatenate(
        [
            np.zeros(accepted.size),
            np.zeros(answered.size),
            np.full(follow.size, np.nan),
            np.ones(follow.size),
            np.full(int(dropped.sum()), np.nan),
        ]
    )
    names = pa.array(["answer.processing", "answer.created", "conversation.dropped"])
    events_n = int(req.size)
    order = np.argsort(recv, kind="stable")
    answer_numbers = np.arange(events_n)[order]
    events = pa.table(
        {
            "recv_ns": pa.array(recv[order]),
            "endpoint": pa.array(np.full(events_n, "incoming"), pa.string()),
            "http_status": pa.array(np.full(events_n, 204, "int64")),
            "event": pa.DictionaryArray.from_arrays(pa.array(kinds[order]), names).cast(
                pa.string()
            ),
            "project_id": pa.array(np.full(events_n, "proj_bench"), pa.string()),
            "user_id": requests["user_id"].take(pa.array(req[order])),
            "persona_id": requests["persona_id"].take(pa.array(req[order])),
            "answer_id": _ids("answer_", answer_numbers),
            "sequence_number": pa.array(seq[order]),
            "parent_answer_id": pa.nulls(events_n, pa.string()),
            "cost": pa.array(np.full(events_n, "0.0250"), pa.string()),
            "response_time_s": pa.array(np.full(events_n, 3.0)),
            "stop_reason": pa.nulls(events_n, pa.string()),
            "stopped_until": pa.nulls(events_n, pa.string()),
            "tag_run": pa.array(np.full(events_n, "bench"), pa.string()),
            "tag_request": requests["request_id"].take(pa.array(req[order])),
        }
    )
    pq.write_table(events, run_dir / "events.parquet")
    enqueued = ids[status == 204]  # DumGum calls chat history on every enqueue
    calls = pa.table(
        {
            "recv_ns": pa.array(sent[enqueued]),
            "kind": pa.array(np.full(enqueued.size, "chat_history"), pa.string()),
            "status": pa.array(np.full(enqueued.size, 200, "int64")),
            "duration_ns": pa.array(rng.integers(50_000, 500_000, enqueued.size)),
            "response_bytes": pa.array(rng.integers(15, 4000, enqueued.size)),
            "profile_id": pa.nulls(enqueued.size, pa.string()),
            "user_id": requests["user_id"].take(pa.array(enqueued)),
            "persona_id": requests["persona_id"].take(pa.array(enqueued)),
            "last_message_date": pa.nulls(enqueued.size, pa.string()),
        }
    )
    pq.write_table(calls, run_dir / "calls.parquet")
    duration_s = requests_n / rate_rps
    scenario = (ROOT / "scenarios" / "smoke.yaml").read_text()
    scenario = scenario.replace("duration_s: 25", f"duration_s: {duration_s:.0f}")
    (run_dir / "scenario.yaml").write_text(scenario)
    (run_dir / "environment.json").write_text(json.dumps({"time_scale": 1.0, "workers": 1}))
    (run_dir / "run-meta.json").write_text(json.dumps({"run_id": "bench", "status": "completed"}))
    return events_n


ANALYSE = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from dumgum_loadtest.analysis.analyse import analyse
run_dir = Path(sys.argv[1])
analysis = analyse(run_dir)
analysed = time.perf_counter()
(run_dir / "summary.json").write_text(json.dumps(analysis.summary, default=str))
try:
    from dumgum_loadtest.report import write_reports
    write_reports(run_dir, analysis)
except ImportError:
    pass
done = time.perf_counter()
# VmHWM, not ru_maxrss: Linux carries the parent's high-water mark into ru_maxrss through the
# vfork + exec that started us, so right after a 10 M generation (9 GB in the parent) it
# reported the parent's peak. VmHWM belongs to this process's own memory map.
status = Path("/proc/self/status").read_text()
peak_kib = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
figures = {"analyse_s": analysed - started, "total_s": done - started}
merged = analysis.summary["outcomes"]["merged"]
print(json.dumps({**figures, "peak_mib": peak_kib / 1024, "merged": merged}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--keep", type=Path, default=None, help="Keep the run dirs here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="bench-analysis-"))
    base.mkdir(parents=True, exist_ok=True)
    print(
        f"{'requests':>10} {'events':>10} {'gen s':>7} {'analyse s':>10} {'total s':>8}"
        f" {'s per M':>8} {'peak MiB':>9} {'merged':>9}"
    )
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            run_dir = base / f"run-{size}"
            run_dir.mkdir(exist_ok=True)
            started = time.perf_counter()
            if (run_dir / "run-meta.json").exists():  # generated by an earlier --keep run
                events_n = pq.ParquetFile(run_dir / "events.parquet").metadata.num_rows
            else:
                events_n = make_run(run_dir, size)
            generated_s = time.perf_counter() - started
            figures = run_child(ANALYSE, str(run_dir))
            per_m = figures["total_s"] / (size / 1e6)
            print(
                f"{size:>10} {events_n:>10} {generated_s:>7.1f} {figures['analyse_s']:>10.1f}"
                f" {figures['total_s']:>8.1f} {per_m:>8.2f} {figures['peak_mib']:>9.0f}"
                f" {figures['merged']:>9}"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
