"""Load generator speed: the scenario-driven open model against a bare FastHttpUser, one core.

Side by side in one run, against the same bare 204 endpoint (uvicorn + a bare ASGI app,
pinned to core 1), the generator pinned to core 0:

a. a bare FastHttpUser posting one fixed (drawn) body in a loop: the reference;
b. the open-model generator offered twice (a)'s rate with no lateness limit: its capacity;
c. the open-model generator at half of (b)'s median: schedule lag p50/p99/max;
d. (b) with ``--processes 1`` (core 0) and ``--processes 2`` (cores 0 and 1, so one worker
   shares the endpoint's core).

Runs are interleaved per repeat, so machine noise hits every variant alike. Every Locust run
is the command line the orchestrator uses (``locust_command``). Loopback only; each load
lasts at most ``--duration-s`` + 3 s; the script ends only what it started.

    python benchmarks/bench_generator.py [--duration-s 8] [--repeats 3] [--users 50]
        [--retries 1 --busy-pct 25]   # on a shared machine: rerun a load others disturbed
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psutil  # type: ignore[import-untyped]  # no stubs in the lock file
import yaml
from _bare import bare_app  # the sibling modules: scripts run by path
from _common import HOST, wait_listening

from dumgum_loadtest.loadtest.command import TOKEN_ENV, locust_command
from dumgum_loadtest.mock import DEFAULT_TOKEN, ENQUEUE_PATH
from dumgum_loadtest.records import TAG_REQUEST, TAG_RUN
from dumgum_loadtest.scenarios import load_scenario
from dumgum_loadtest.scenarios.draw import RequestFactory
from dumgum_loadtest.serving import free_port, serve_forever

ROOT = Path(__file__).resolve().parents[1]
MIX_SCENARIO = ROOT / "scenarios" / "nightly.yaml"  # a realistic mix: the generator's real work
QUIET_PCT = 10.0

BARE_LOCUSTFILE = f'''
import os
from locust import FastHttpUser, constant, task

BODY = open(os.environ["BENCH_BODY"], "rb").read()
HEADERS = {{"Content-Type": "application/json", "Authorization": "Bearer {DEFAULT_TOKEN}"}}


class Bare(FastHttpUser):
    wait_time = constant(0)

    @task
    def post(self):
        self.client.post("{ENQUEUE_PATH}", data=BODY, headers=HEADERS, name="enqueue")
'''


def served(connection: http.client.HTTPConnection) -> int:
    connection.request("GET", "/count")
    return int(connection.getresponse().read())


def machine_busy_s() -> float:
    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def tree_busy_s(process: psutil.Process) -> float:
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        with contextlib.suppress(psutil.NoSuchProcess):
            times = member.cpu_times()
            total += times.user + times.system
    return total


@dataclass
class Result:
    variant: str
    rate_rps: float  # POSTs the endpoint answered per second, in the steady window
    generator_cpu_pct: float
    endpoint_cpu_pct: float
    others_cpu_pct: float
    offered_rps: float = 0.0
    lag_ms: dict[str, float] = field(default_factory=dict)
    late: int = 0
    not_sent: int = 0
    scheduled: int = 0


class Bench:
    def __init__(self, args: argparse.Namespace, tmp: Path) -> None:
        self.args = args
        self.tmp = tmp
        self.port = free_port(HOST)
        self.url = f"http://{HOST}:{self.port}"
        self.endpoint: subprocess.Popen[bytes] | None = None
        self.runs = 0
        base = yaml.safe_load(MIX_SCENARIO.read_text())
        base.update(name="bench", target="mock", mock={}, timeline=[], warmup_s=0)
        base["duration_s"] = args.duration_s
        base["mix"]["invalid_share"] = 0.0  # every request is a 204 for both sides
        self.base = base
        scenario = load_scenario(self.write_scenario("body", 1.0, 1.0))
        drawn = RequestFactory(scenario, random.Random(1)).draw("u1", "p1")
        body = {**drawn.body, "tags": {TAG_RUN: "bench", TAG_REQUEST: "0-123456"}}
        (tmp / "body.json").write_bytes(orjson.dumps(body))
        (tmp / "bare.py").write_text(BARE_LOCUSTFILE)

    def write_scenario(self, name: str, rate_rps: float, max_lateness_s: float) -> Path:
        data = dict(self.base)
        data["arrival"] = {
            "model": "open",
            "process": "poisson",
            "rate_rps": rate_rps,
            "max_in_flight": self.args.in_flight,
            "max_lateness_s": max_lateness_s,
        }
        path = self.tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def start_endpoint(self) -> None:
        self.endpoint = subprocess.Popen(
            [sys.executable, __file__, "--serve", "--port", str(self.port)]
        )
        wait_listening(self.port)

    def stop_endpoint(self) -> None:
        if self.endpoint is None:
            return
        self.endpoint.send_signal(signal.SIGINT)
        try:
            self.endpoint.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.endpoint.kill()
            self.endpoint.wait()
        self.endpoint = None

    def measure(
        self, variant: str, argv: list[str], cores: set[int], env: dict[str, str]
    ) -> Result:
        """Run one Locust command pinned to ``cores``; rate and CPU in its steady window.

        Every 0.25 s: the endpoint's count of answered POSTs, and the CPU time of the
        generator, the endpoint and the whole machine. The window runs from 2 s after the
        first answer to 1 s before the last one: no spawn, no stop.
        """
        assert self.endpoint is not None
        self.runs += 1
        argv = [*argv, "--loglevel", "WARNING"]
        endpoint = psutil.Process(self.endpoint.pid)
        counter = http.client.HTTPConnection(HOST, self.port, timeout=5)
        child = subprocess.Popen(
            argv,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: os.sched_setaffinity(0, cores),  # inherited by forked workers
        )
        generator = psutil.Process(child.pid)
        # time, answered, generator CPU s, endpoint CPU s, machine CPU s
        samples: list[tuple[float, float, float, float, float]] = []
        try:
            while child.poll() is None:
                with contextlib.suppress(psutil.NoSuchProcess):
                    samples.append(
                        (
                            time.monotonic(),
                            served(counter),
                            tree_busy_s(generator),
                            tree_busy_s(endpoint),
                            machine_busy_s(),
                        )
                    )
                time.sleep(0.25)
            _, stderr = child.communicate(timeout=self.args.duration_s + 60)
        finally:
            counter.close()
            if child.poll() is None:
                child.kill()
                child.wait()
        if child.returncode != 0:
            raise RuntimeError(f"{variant}: Locust exited {child.returncode}: {stderr[-2000:]!r}")
        first = next(i for i, sample in enumerate(samples) if sample[1] > samples[0][1])
        last = max(i for i, sample in enumerate(samples) if sample[1] > samples[i - 1][1])
        start_s, end_s = samples[first][0] + 2.0, samples[last][0] - 1.0
        if end_s - start_s < 2.0:
            raise RuntimeError(f"{variant}: too short a steady window")
        window_s = end_s - start_s

        def per_s(column: int) -> float:
            series = [(sample[0], sample[column]) for sample in samples]
            return (at(series, end_s) - at(series, start_s)) / window_s

        generator_pct, endpoint_pct = 100 * per_s(2), 100 * per_s(3)
        result = Result(
            variant=variant,
            rate_rps=per_s(1),
            generator_cpu_pct=generator_pct,
            endpoint_cpu_pct=endpoint_pct,
            others_cpu_pct=max(100 * per_s(4) - generator_pct - endpoint_pct, 0.0),
        )
        return result

    def quiet(self, run: Callable[[], Result]) -> Result:
        """``run``, repeated (at most ``--retries`` times) while other processes took more than
        ``--busy-pct`` of a core during it: the machine may be shared."""
        for _ in range(self.args.retries):
            result = run()
            if result.others_cpu_pct <= self.args.busy_pct:
                return result
            print(f"  ({result.variant}: others took {result.others_cpu_pct:.0f} %, again)")
            wait_for_quiet(QUIET_PCT, self.args.quiet_timeout_s)
        return run()

    def bare(self) -> Result:
        argv = [sys.executable, "-m", "locust", "-f", str(self.tmp / "bare.py"), "--headless"]
        argv += ["--users", str(self.args.users), "--spawn-rate", str(self.args.users)]
        argv += ["--run-time", f"{self.args.duration_s:g}s", "--host", self.url]
        argv += ["--only-summary", "--stop-timeout", "0"]
        env = {"BENCH_BODY": str(self.tmp / "body.json")}
        return self.measure("a bare FastHttpUser", argv, {self.args.generator_core}, env)

    def generator(
        self, variant: str, rate_rps: float, max_lateness_s: float, workers: int, cores: set[int]
    ) -> Result:
        run_dir = self.tmp / f"gen{self.runs + 1}"
        path = self.write_scenario(f"gen{self.runs + 1}", rate_rps, max_lateness_s)
        scenario = load_scenario(path)
        argv = locust_command(
            scenario_path=path,
            run_dir=run_dir,
            run_id="bench",
            target_url=self.url,
            receiver_url=None,
            workers=workers,
            scenario=scenario,
            force_test_mode=False,
        )
        if workers == 1 and variant.startswith("d"):  # a master and one forked worker
            port = str(free_port(HOST))
            argv[-1:-1] = ["--processes", "1", "--master-bind-host", HOST]
            argv[-1:-1] = ["--master-bind-port", port, "--master-port", port]
        result = self.measure(variant, argv, cores, {TOKEN_ENV: DEFAULT_TOKEN})
        result.offered_rps = rate_rps
        lag_statistics(run_dir, result)
        return result


def at(series: list[tuple[float, float]], when: float) -> float:
    """``series`` (time-ordered) linearly interpolated at ``when``."""
    for (t0, v0), (t1, v1) in itertools.pairwise(series):
        if t0 <= when <= t1:
            return v0 if t1 == t0 else v0 + (v1 - v0) * (when - t0) / (t1 - t0)
    raise ValueError(f"{when} is outside the series ({series[0][0]} .. {series[-1][0]})")


def lag_statistics(run_dir: Path, result: Result) -> None:
    """Exact schedule lag of the sent requests, from the generator's own records."""
    lags: list[int] = []
    for path in (run_dir / "raw").glob("requests-*.jsonl"):
        for line in path.read_bytes().splitlines():
            record = orjson.loads(line)
            result.scheduled += 1
            if record["sent_ns"] is None:
                result.not_sent += 1
            else:
                lags.append(record["sent_ns"] - record["intended_ns"])
    lags.sort()
    if not lags:
        return
    result.late = sum(1 for lag in lags if lag > 10_000_000)

    def at(fraction: float) -> float:
        return lags[min(len(lags) - 1, int(fraction * len(lags)))] / 1e6

    result.lag_ms = {"p50": at(0.5), "p99": at(0.99), "p99.9": at(0.999), "max": lags[-1] / 1e6}


def report(result: Result, repeat: int) -> None:
    lag = ""
    if result.lag_ms and result.variant.startswith("c"):  # at capacity, lag only grows
        lag = (
            f"  lag p50 {result.lag_ms['p50']:.2f} p99 {result.lag_ms['p99']:.2f}"
            f" max {result.lag_ms['max']:.1f} ms  late {result.late}  not sent {result.not_sent}"
        )
    offered = f" (offered {result.offered_rps:,.0f}/s)" if result.offered_rps else ""
    print(
        f"run {repeat + 1} {result.variant:28s} {result.rate_rps:7,.0f} req/s{offered}"
        f"  CPU generator {result.generator_cpu_pct:3.0f} %"
        f" ({result.rate_rps / (result.generator_cpu_pct / 100):,.0f} req/CPU-s) endpoint"
        f" {result.endpoint_cpu_pct:3.0f} % others {result.others_cpu_pct:3.0f} %{lag}",
        flush=True,
    )


def wait_for_quiet(max_busy_pct: float, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    busy_pct = float(psutil.cpu_percent(interval=0.5))
    while busy_pct > max_busy_pct and time.monotonic() < deadline:
        busy_pct = float(psutil.cpu_percent(interval=0.5))
    if busy_pct > max_busy_pct:
        print(f"warning: the machine is {busy_pct:.0f} % busy; measuring anyway", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=8.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--users", type=int, default=50, help="bare FastHttpUser users")
    parser.add_argument("--in-flight", type=int, default=50, help="generator max_in_flight")
    parser.add_argument("--generator-core", type=int, default=0)
    parser.add_argument("--endpoint-core", type=int, default=1)
    parser.add_argument("--quiet-timeout-s", type=float, default=5.0)
    parser.add_argument(
        "--busy-pct", type=float, default=25.0, help="rerun a load if others took more CPU"
    )
    parser.add_argument("--retries", type=int, default=0, help="reruns of a busy load")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        os.sched_setaffinity(0, {args.endpoint_core})
        with contextlib.suppress(KeyboardInterrupt):
            serve_forever(bare_app, HOST, args.port)
        return 0
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    results: list[Result] = []
    gen_core, both = {args.generator_core}, {args.generator_core, args.endpoint_core}
    with tempfile.TemporaryDirectory(prefix="bench-generator-") as tmp:
        bench = Bench(args, Path(tmp))
        bench.start_endpoint()
        try:
            for repeat in range(args.repeats):
                wait_for_quiet(QUIET_PCT, args.quiet_timeout_s)
                bare = bench.quiet(bench.bare)
                offered = 2 * bare.rate_rps  # above the generator's capacity
                results.append(bare)
                report(bare, repeat)
                for variant, rate_rps, workers, cores in (
                    ("b generator at capacity", offered, 1, gen_core),
                    ("d --processes 1", offered, 1, gen_core),
                    ("d --processes 2", 2 * offered, 2, both),
                ):
                    run = partial(bench.generator, variant, rate_rps, 3600, workers, cores)
                    result = bench.quiet(run)
                    results.append(result)
                    report(result, repeat)
            capacity = median(results, "b generator at capacity")
            for repeat in range(args.repeats):
                wait_for_quiet(QUIET_PCT, args.quiet_timeout_s)
                half = partial(
                    bench.generator, "c generator at half", capacity / 2, 1.0, 1, gen_core
                )
                result = bench.quiet(half)
                results.append(result)
                report(result, repeat)
        finally:
            bench.stop_endpoint()
    summary(results, args)
    return 0


def median(results: list[Result], variant: str, metric: str = "rate_rps") -> float:
    return float(statistics.median(getattr(r, metric) for r in results if r.variant == variant))


def per_cpu_s(results: list[Result], variant: str) -> float:
    """Median requests per CPU-second of the generator: its cost, whatever else ran."""
    return float(
        statistics.median(
            r.rate_rps / (r.generator_cpu_pct / 100) for r in results if r.variant == variant
        )
    )


def summary(results: list[Result], args: argparse.Namespace) -> None:
    """Markdown tables of the medians, ready for RESULTS-generator.md."""
    bare = median(results, "a bare FastHttpUser")
    print(
        f"\n{args.repeats} interleaved repeats, {args.duration_s:g} s loads; generator on core"
        f" {args.generator_core}, endpoint on core {args.endpoint_core}; medians.\n"
    )
    print(
        "| variant | req/s | runs | vs (a) | generator CPU | req per generator CPU-s | vs (a)"
        " | endpoint CPU | others' CPU |"
    )
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    bare_per_cpu_s = per_cpu_s(results, "a bare FastHttpUser")
    variants = list(dict.fromkeys(r.variant for r in results))
    for variant in variants:
        rates = " / ".join(f"{r.rate_rps:,.0f}" for r in results if r.variant == variant)
        rate = median(results, variant)
        print(
            f"| {variant} | {rate:,.0f} | {rates} | {100 * rate / bare:.0f} %"
            f" | {median(results, variant, 'generator_cpu_pct'):.0f} %"
            f" | {per_cpu_s(results, variant):,.0f}"
            f" | {100 * per_cpu_s(results, variant) / bare_per_cpu_s:.0f} %"
            f" | {median(results, variant, 'endpoint_cpu_pct'):.0f} %"
            f" | {median(results, variant, 'others_cpu_pct'):.0f} % |"
        )
    half = [r for r in results if r.variant == "c generator at half"]
    header = "| (c) run | offered req/s | sent | late > 10 ms | not sent"
    print(f"\n{header} | lag ms p50 / p99 / p99.9 / max |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for number, r in enumerate(half, start=1):
        lag: Any = r.lag_ms
        print(
            f"| {number} | {r.offered_rps:,.0f} | {r.scheduled - r.not_sent:,} | {r.late}"
            f" | {r.not_sent} | {lag['p50']:.2f} / {lag['p99']:.2f} / {lag['p99.9']:.2f}"
            f" / {lag['max']:.1f} |"
        )


if __name__ == "__main__":
    sys.exit(main())
