"""Mock DumGum throughput with the full lifecycle: enqueues/s one mock core sustains, zero loss.

The mock (``dumgum-loadtest mock``, pinned to core 1) and the receiver (``dumgum-loadtest
receiver``, pinned to core 0) run as subprocesses through the real CLI on 127.0.0.1. This
process, on core 0 with the receiver, offers enqueues open-loop at a fixed rate per step. Each
enqueue names a new user (and by default a new persona), so the mock calls chat history and
both profiles, then POSTs answer.processing and answer.created to the receiver. After each
step the script waits for the mock's ledger to settle and checks that every accepted enqueue
produced exactly one answer.created line in the receiver's files. A bare 204 ASGI app on
uvicorn, on the same core and driven by the same generator, is the reference ceiling.

    python benchmarks/bench_mock.py [--rates 500,750,1000,1500,2000,2500,3000] [--step-s 10]
        [--mock-cli OTHER_TREE/dumgum-loadtest] [--mock-processes 2 --mock-cores 1,0] [--floor]

With ``--floor`` the same steps first run against ``_floor.py``: the mock's network work per
enqueue (the incoming POST, chat history, two profiles, two webhooks, on the mock's own server
settings and client) with none of its logic, on the same rig and zero-loss check. Its CPU per
enqueue is the floor under the mock's; the difference is what the mock's own work costs.

With ``--mock-processes N`` the mock runs as N processes (pinned to ``--mock-cores`` in turn),
each pair sent to one of them by the routing ``run`` uses, and the ledgers merged as ``run``
merges them; the mock CPU columns sum the processes.

Every load stays on loopback, each step lasts at most 15 s, and the whole run stops by itself
in under 5 minutes (it skips steps it has no time left for).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil
import uvloop
from _bare import bare_app  # the sibling modules: scripts run by path
from _common import HOST, wait_listening

from dumgum_loadtest.loadtest.routing import shard_index
from dumgum_loadtest.mock import DEFAULT_TOKEN, ENQUEUE_PATH
from dumgum_loadtest.mock.ledger_merge import merge_ledgers
from dumgum_loadtest.serving import free_port, serve_forever

CLI = str(Path(sys.executable).with_name("dumgum-loadtest"))
FLOOR = Path(__file__).with_name("_floor.py")
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}", "Content-Type": "application/json"}
MAX_STEP_S = 15.0
MAX_TOTAL_S = 290.0
SETTLE_TIMEOUT_S = 15.0
MISSING = "-"
LEDGER_DELTAS = (
    "enqueues_accepted",
    "replies",
    "deliveries",
    "deliveries_given_up",
    "deliveries_retried",
    "delivery_attempts_failed",
    "chat_history_calls",
    "profile_calls",
    "customer_call_failures",
)
KEEPALIVE_S = 2.0
TICK_S = 0.001  # the generator launches whatever is due every millisecond


# -- the request ------------------------------------------------------------------------------

_REPLY_PARAMETERS = {
    "chatModel": "dating-smart-1",
    "bufferSeconds": "0",
    "maxProcessingTimeSeconds": "300",
    "fixedResponseLength": False,
    "emojis": "FREQUENT",
    "multipleMessagesPerReply": False,
    "questionFrequency": 0.5,
    "replyTypingDelay": "INSTANT",
    "preventAggressiveTone": True,
    "guardrails": {
        "maliciousContent": True,
        "aiSuspicion": True,
        "underageDetection": True,
        "unknownLanguage": True,
        "messageRepetition": True,
    },
    "personaProfileOverrides": {"sexualDrive": "HIGH"},
}


def pair_of(i: int, run_id: str, personas: int) -> tuple[str, str]:
    """(userProfileId, personaProfileId) of enqueue ``i``."""
    persona = i if personas == 0 else i % personas
    return f"user_{run_id}_{i}", f"persona_{run_id}_{persona}"


def enqueue_body(user_id: str, persona_id: str, i: int) -> bytes:
    """One realistic enqueue (~600 bytes); tags carry the index and the send time."""
    return orjson.dumps(
        {
            "userProfileId": user_id,
            "personaProfileId": persona_id,
            "language": "EN",
            "userProfileVersion": "v1",
            "personaProfileVersion": "v1",
            "tags": {"i": i, "sent_ns": time.time_ns()},
            "testMode": False,
            "replyParameters": _REPLY_PARAMETERS,
        }
    )


# -- processes --------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    # The mock and receiver read DUMGUM_* variables; the bench must not inherit stray ones.
    return {k: v for k, v in os.environ.items() if not k.startswith("DUMGUM_")}


@contextlib.contextmanager
def pinned(command: list[str], core: int, log_path: Path) -> Iterator[psutil.Process]:
    """Run ``command`` on ``core`` (taskset execs it: same pid); SIGINT it on the way out."""
    with log_path.open("wb") as log:
        child = subprocess.Popen(
            ["taskset", "-c", str(core), *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
        )
        try:
            yield psutil.Process(child.pid)
        finally:
            child.send_signal(signal.SIGINT)
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def cpu_busy_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def machine_busy_s() -> float:
    """CPU seconds the whole machine has spent busy, all cores together."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def wait_for_quiet(max_busy_pct: float, timeout_s: float) -> float:
    """Wait until the machine (which may be shared) is nearly idle; returns the last busy %."""
    deadline = time.monotonic() + timeout_s
    busy_pct = float(psutil.cpu_percent(interval=1.0))
    while busy_pct > max_busy_pct and time.monotonic() < deadline:
        busy_pct = float(psutil.cpu_percent(interval=1.0))
    return busy_pct


# -- the open-loop generator ------------------------------------------------------------------


@dataclass
class Offered:
    """What one step sent and how the enqueue endpoint answered."""

    accepted: set[int] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    shed: int = 0  # not sent: too many requests already in flight
    ack_ms: list[float] = field(default_factory=list)
    max_lag_ms: float = 0.0
    sent: int = 0
    elapsed_s: float = 0.0


async def offer(
    session: aiohttp.ClientSession,
    urls: list[str],
    rate_rps: float,
    duration_s: float,
    first_i: int,
    run_id: str,
    personas: int,
    max_inflight: int,
) -> Offered:
    """Send ``rate_rps * duration_s`` enqueues on a fixed schedule, whatever the answers do.

    With several ``urls`` (mock processes), each pair goes to one, as ``run`` routes it.
    """
    loop = asyncio.get_running_loop()
    out = Offered()
    total = int(rate_rps * duration_s)
    inflight: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        started = time.perf_counter()
        user_id, persona_id = pair_of(i, run_id, personas)
        url = urls[shard_index(user_id, persona_id, len(urls))]
        try:
            async with session.post(
                url, data=enqueue_body(user_id, persona_id, i), headers=AUTH
            ) as response:
                await response.read()
                out.statuses[response.status] += 1
                if response.status == 204:
                    out.accepted.add(i)
                    out.ack_ms.append((time.perf_counter() - started) * 1000)
        except (aiohttp.ClientError, TimeoutError):
            out.errors += 1

    start = loop.time()
    launched = 0
    while launched < total:
        now = loop.time()
        due = min(total, int((now - start) * rate_rps) + 1)
        if due > launched:
            out.max_lag_ms = max(out.max_lag_ms, (now - start - launched / rate_rps) * 1000)
        while launched < due:
            if len(inflight) >= max_inflight:
                out.shed += 1
            else:
                task = loop.create_task(one(first_i + launched))
                inflight.add(task)
                task.add_done_callback(inflight.discard)
                out.sent += 1
            launched += 1
        await asyncio.sleep(TICK_S)
    if inflight:
        await asyncio.wait(inflight, timeout=SETTLE_TIMEOUT_S)
    out.elapsed_s = loop.time() - start
    return out


# -- the receiver's files and the mock's ledger -----------------------------------------------


@dataclass
class Answers:
    created: Counter[int] = field(default_factory=Counter)
    processing: Counter[int] = field(default_factory=Counter)
    latency_ms: list[float] = field(default_factory=list)
    last_recv_ns: int = 0


class EventTail:
    """Reads the receiver's events-*.jsonl shards from where the previous step stopped."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = out_dir
        self._offsets: dict[Path, int] = {}

    def read_new(self) -> Answers:
        answers = Answers()
        for path in sorted(self.out_dir.glob("events-*.jsonl")):
            with path.open("rb") as handle:
                handle.seek(self._offsets.get(path, 0))
                data = handle.read()
            end = data.rfind(b"\n") + 1  # a line still being written waits for the next read
            self._offsets[path] = self._offsets.get(path, 0) + end
            for line in data[:end].splitlines():
                _count(answers, orjson.loads(line))
        return answers


def _count(answers: Answers, record: dict[str, Any]) -> None:
    body = record.get("body")
    if not isinstance(body, dict):
        return
    event, data = body.get("event"), body.get("data") or {}
    if event == "answer.created":
        tags = (data.get("answer") or {}).get("tags") or {}
        answers.created[tags["i"]] += 1
        answers.latency_ms.append((record["recv_ns"] - tags["sent_ns"]) / 1e6)
        answers.last_recv_ns = max(answers.last_recv_ns, record["recv_ns"])
    elif event == "answer.processing":
        answers.processing[(data.get("tags") or {})["i"]] += 1


async def ledger(session: aiohttp.ClientSession, base_urls: list[str]) -> dict[str, Any]:
    """The mock's ledger, merged over its processes as ``run`` merges it."""
    return merge_ledgers([await process_ledger(session, url) for url in base_urls])


async def process_ledger(session: aiohttp.ClientSession, base_url: str) -> dict[str, Any]:
    for attempt in range(3):
        try:
            async with session.get(f"{base_url}/_mock/ledger", headers=AUTH) as response:
                document: dict[str, Any] = await response.json(loads=orjson.loads)
                return document
        except aiohttp.ClientConnectionError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _finished(snapshot: dict[str, Any]) -> int:
    """Accepted enqueues the mock is done with: replied, dropped, merged or suppressed."""
    return (
        snapshot["replies"]
        + sum(snapshot["dropped"].values())
        + snapshot["merged"]
        + snapshot["suppressed_banned"]
        + snapshot["suppressed_paused"]
        + snapshot["ignored_while_inflight"]
    )


async def settle(
    session: aiohttp.ClientSession, base_urls: list[str]
) -> tuple[dict[str, Any], float, bool]:
    """Poll the ledger until every accepted enqueue is finished and nothing is in flight."""
    started = time.monotonic()
    while True:
        snapshot = await ledger(session, base_urls)
        gauges = snapshot["gauges"]
        done = (
            _finished(snapshot) >= snapshot["enqueues_accepted"]
            and gauges["replies_in_progress"] == 0
            and gauges["buffered_enqueues"] == 0
        )
        waited_s = time.monotonic() - started
        if done or waited_s > SETTLE_TIMEOUT_S:
            return snapshot, waited_s, done
        await asyncio.sleep(0.1)


# -- steps ------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Step:
    target: str
    offered_rps: float
    achieved_rps: float
    answers_rps: float | None
    server_cpu_pct: float
    receiver_cpu_pct: float | None
    generator_cpu_pct: float
    others_cpu_pct: float
    server_cpu_ms_per_enqueue: float
    ack_p50_ms: float
    ack_p99_ms: float
    answer_p50_ms: float | None
    answer_p99_ms: float | None
    verdict: str
    detail: str
    settled: bool = True


@dataclass
class Rig:
    """The processes of one target and how to reach them."""

    target: str
    base_urls: list[str]  # one per server process
    servers: list[psutil.Process]
    receiver: psutil.Process | None = None
    tail: EventTail | None = None

    @property
    def enqueue_urls(self) -> list[str]:
        return [url + ENQUEUE_PATH for url in self.base_urls]

    def server_busy_s(self) -> float:
        return sum(cpu_busy_s(server) for server in self.servers)

    def server_kernel_s(self) -> float:
        return sum(server.cpu_times().system for server in self.servers)


@dataclass
class Lifecycle:
    """What the receiver got for one step's accepted enqueues, and the verdict on it."""

    verdict: str = ""
    detail: str = ""
    answers_rps: float | None = None
    answer_p50_ms: float | None = None
    answer_p99_ms: float | None = None
    settled: bool = True


async def check_lifecycle(
    rig: Rig,
    session: aiohttp.ClientSession,
    load: Offered,
    ledger_before: dict[str, Any],
    start_ns: int,
    achieved_rps: float,
    verdict: str,
    args: argparse.Namespace,
) -> Lifecycle:
    """Wait for the mock to settle; then exactly one answer.created per accepted enqueue?"""
    assert rig.tail is not None
    snapshot, waited_s, settled = await settle(session, rig.base_urls)
    answers = rig.tail.read_new()
    delta = {k: snapshot[k] - ledger_before[k] for k in LEDGER_DELTAS}
    missing = load.accepted - answers.created.keys()
    doubled = sum(1 for n in answers.created.values() if n > 1)
    unexpected = answers.created.keys() - load.accepted
    no_processing = load.accepted - answers.processing.keys()
    lossless = (
        not missing
        and not doubled
        and not unexpected
        and delta["deliveries_given_up"] == 0
        and delta["enqueues_accepted"] == len(load.accepted)
    )
    if not lossless or not settled:
        verdict = "LOSS"
    elif verdict == "ok":
        verdict = "zero loss"
    span_s = (answers.last_recv_ns - start_ns) / 1e9 if answers.last_recv_ns else load.elapsed_s
    answers_rps = sum(answers.created.values()) / span_s
    answer_p50 = percentile(answers.latency_ms, 0.50)
    answer_p99 = percentile(answers.latency_ms, 0.99)
    # Zero loss alone can hide a backlog that drains after the step: sustained also means the
    # answers kept pace and their tail stayed near the simulated generation time.
    if verdict == "zero loss" and (
        answer_p99 > args.sustained_p99_ms or answers_rps < 0.95 * achieved_rps
    ):
        verdict = "zero loss, backlog"
    detail = (
        f"; settled in {waited_s:.1f} s; answer.created {sum(answers.created.values())}"
        f" for {len(load.accepted)} accepted (missing {len(missing)}, doubled {doubled},"
        f" unexpected {len(unexpected)}, without answer.processing {len(no_processing)});"
        f" ledger delta {delta}; dropped {snapshot['dropped']}"
    )
    return Lifecycle(verdict, detail, answers_rps, answer_p50, answer_p99, settled)


async def run_step(
    rig: Rig, session: aiohttp.ClientSession, rate_rps: float, args: argparse.Namespace, i0: int
) -> Step:
    me = psutil.Process()
    busy_pct = wait_for_quiet(args.quiet_pct, args.quiet_timeout_s)
    if busy_pct > args.quiet_pct:
        print(f"warning: machine {busy_pct:.0f} % busy before the step; measuring anyway")
    before = {"server": rig.server_busy_s(), "me": cpu_busy_s(me), "all": machine_busy_s()}
    before["server_kernel"] = rig.server_kernel_s()
    if rig.receiver is not None:
        before["receiver"] = cpu_busy_s(rig.receiver)
    ledger_before = await ledger(session, rig.base_urls) if rig.receiver else None
    start_ns = time.time_ns()
    load = await offer(
        session,
        rig.enqueue_urls,
        rate_rps,
        args.step_s if rig.receiver else args.bare_step_s,
        i0,
        args.run_id,
        args.personas,
        args.max_inflight,
    )
    window_s = load.elapsed_s
    server_s = rig.server_busy_s() - before["server"]
    me_s = cpu_busy_s(me) - before["me"]
    receiver_s = cpu_busy_s(rig.receiver) - before["receiver"] if rig.receiver else None
    # Whatever else ran meanwhile (the machine may be shared): it competes for the two cores.
    others_s = machine_busy_s() - before["all"] - server_s - me_s - (receiver_s or 0.0)
    achieved = len(load.accepted) / window_s
    rejected = {s: n for s, n in load.statuses.items() if s != 204}
    detail = f"sent {load.sent}, shed {load.shed}, errors {load.errors}, non-204 {rejected}"
    detail += f", generator lag max {load.max_lag_ms:.0f} ms"
    verdict = "ok" if not (load.shed or load.errors or rejected) else "enqueue failures"
    server_total_s = server_s
    lifecycle = Lifecycle()
    if rig.receiver is not None and rig.tail is not None and ledger_before is not None:
        lifecycle = await check_lifecycle(
            rig, session, load, ledger_before, start_ns, achieved, verdict, args
        )
        # Includes the drain after the step: the work the step's enqueues caused.
        server_total_s = rig.server_busy_s() - before["server"]
        verdict = lifecycle.verdict
        detail += lifecycle.detail
    kernel_s = rig.server_kernel_s() - before["server_kernel"]
    detail += f"; server CPU in the kernel {100 * kernel_s / max(server_total_s, 1e-9):.0f} %"
    return Step(
        target=rig.target,
        offered_rps=rate_rps,
        achieved_rps=achieved,
        answers_rps=lifecycle.answers_rps,
        server_cpu_pct=100 * server_s / window_s,
        receiver_cpu_pct=100 * receiver_s / window_s if receiver_s is not None else None,
        generator_cpu_pct=100 * me_s / window_s,
        others_cpu_pct=max(0.0, 100 * others_s / window_s),
        server_cpu_ms_per_enqueue=1000 * server_total_s / max(len(load.accepted), 1),
        ack_p50_ms=percentile(load.ack_ms, 0.50),
        ack_p99_ms=percentile(load.ack_ms, 0.99),
        answer_p50_ms=lifecycle.answer_p50_ms,
        answer_p99_ms=lifecycle.answer_p99_ms,
        verdict=verdict,
        detail=detail,
        settled=lifecycle.settled,
    )


async def run_steps(rig: Rig, args: argparse.Namespace, t0: float, i0: int) -> list[Step]:
    steps: list[Step] = []
    # Below uvicorn's 5 s keep-alive, so the generator never reuses a connection the server
    # is closing (a reset that would count as a failed enqueue).
    connector = aiohttp.TCPConnector(limit=args.connections, keepalive_timeout=KEEPALIVE_S)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm-up: connections open, code paths hot; not measured (nor checked for loss).
        await offer(session, rig.enqueue_urls, 200, 1.0, 10**9, "warm", 0, 1000)
        if rig.receiver is not None:
            await settle(session, rig.base_urls)
            assert rig.tail is not None
            rig.tail.read_new()
        for n, rate_rps in enumerate(args.rates):
            step_s = args.step_s if rig.receiver else args.bare_step_s
            worst_s = step_s + args.quiet_timeout_s + (SETTLE_TIMEOUT_S if rig.receiver else 0)
            if time.monotonic() - t0 + worst_s > MAX_TOTAL_S:
                print(f"{rig.target}: time budget spent, {rate_rps:.0f}/s and up skipped")
                break
            step = await run_step(rig, session, rate_rps, args, i0 + n * 10_000_000)
            steps.append(step)
            print(_line(step), flush=True)
            if not step.settled:
                print(f"{rig.target}: did not settle; higher rates skipped")
                break
    return steps


def _line(step: Step) -> str:
    def fmt(value: float | None, spec: str = ".0f") -> str:
        return MISSING if value is None else format(value, spec)

    return (
        f"{step.target:5s} offered {step.offered_rps:6.0f}/s  achieved {step.achieved_rps:7.0f}/s"
        f"  answers {fmt(step.answers_rps)}/s  server CPU {step.server_cpu_pct:3.0f} %"
        f"  receiver CPU {fmt(step.receiver_cpu_pct)} %  generator CPU"
        f" {step.generator_cpu_pct:3.0f} %  others {step.others_cpu_pct:3.0f} %"
        f"  {step.server_cpu_ms_per_enqueue:.3f} ms CPU/enqueue"
        f"  ack p50/p99 {step.ack_p50_ms:.1f}/{step.ack_p99_ms:.1f} ms  answer p50/p99"
        f" {fmt(step.answer_p50_ms, '.0f')}/{fmt(step.answer_p99_ms, '.0f')} ms"
        f"  {step.verdict}\n      {step.detail}"
    )


def table(steps: list[Step], args: argparse.Namespace) -> str:
    def fmt(value: float | None, spec: str = ",.0f") -> str:
        return MISSING if value is None else format(value, spec)

    rows = [
        "| target (cores) | offered /s | achieved enqueue /s | answers /s"
        " | server CPU % | receiver CPU % | generator CPU % | other processes CPU %"
        " | server CPU ms / enqueue"
        " | ack p50 / p99 ms | enqueue→answer.created p50 / p99 ms | result |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |",
    ]
    for s in steps:
        answer = (
            MISSING
            if s.answer_p50_ms is None
            else f"{fmt(s.answer_p50_ms)} / {fmt(s.answer_p99_ms)}"
        )
        rows.append(
            f"| {s.target} | {s.offered_rps:,.0f} | {s.achieved_rps:,.0f} | {fmt(s.answers_rps)}"
            f" | {s.server_cpu_pct:.0f} | {fmt(s.receiver_cpu_pct)} | {s.generator_cpu_pct:.0f}"
            f" | {s.others_cpu_pct:.0f}"
            f" | {s.server_cpu_ms_per_enqueue:.3f} | {s.ack_p50_ms:.1f} / {s.ack_p99_ms:.1f}"
            f" | {answer} | {s.verdict} |"
        )
    return "\n".join(rows)


def mock_command(args: argparse.Namespace, port: int, customer: str, floor: bool) -> list[str]:
    serves = [sys.executable, str(FLOOR)] if floor else [args.mock_cli or CLI]
    command = [*serves, "mock", "--port", str(port)]
    command += ["--time-scale", str(args.time_scale)]
    command += ["--seed", "1", "--incoming-content-url", f"{customer}/incoming"]
    command += ["--profile-url", f"{customer}/profile"]
    command += ["--chat-history-url", f"{customer}/chat-history"]
    return command


def run_mock_rig(
    args: argparse.Namespace, tmp_dir: Path, t0: float, i0: int, *, floor: bool
) -> list[Step]:
    """The receiver and the mock (or the floor, ``_floor.py``) on their cores, all steps."""
    tmp_dir.mkdir()
    steps: list[Step] = []
    receiver_port = free_port(HOST)
    mock_ports = [free_port(HOST) for _ in range(args.mock_processes)]
    out_dir = tmp_dir / "receiver"
    customer = f"http://{HOST}:{receiver_port}"
    receiver_cmd = [CLI, "receiver", "--port", str(receiver_port), "--out", str(out_dir)]
    mock_logs = [f"mock-{index}.log" for index in range(args.mock_processes)]
    with contextlib.ExitStack() as stack:
        receiver = stack.enter_context(
            pinned(receiver_cmd, args.receiver_core, tmp_dir / "receiver.log")
        )
        mocks = [
            stack.enter_context(
                pinned(
                    mock_command(args, port, customer, floor),
                    args.mock_cores[index % len(args.mock_cores)],
                    tmp_dir / mock_logs[index],
                )
            )
            for index, port in enumerate(mock_ports)
        ]
        for port in (receiver_port, *mock_ports):
            wait_listening(port)
        urls = [f"http://{HOST}:{port}" for port in mock_ports]
        cores = ",".join(str(args.mock_cores[i % len(args.mock_cores)]) for i in range(len(urls)))
        name = "floor" if floor else "mock"
        target = name if len(urls) == 1 else f"{name} x{len(urls)}"
        target += f" ({cores})"
        rig = Rig(target, urls, mocks, receiver, EventTail(out_dir))
        steps += uvloop.run(run_steps(rig, args, t0, i0))
    for name in (*mock_logs, "receiver.log"):
        text = (tmp_dir / name).read_text(errors="replace").strip()
        if "Traceback" in text or "ERROR" in text:
            print(f"--- {name} (last 2000 chars)\n{text[-2000:]}", file=sys.stderr)
    return steps


def run(args: argparse.Namespace) -> list[Step]:
    t0 = time.monotonic()
    os.sched_setaffinity(0, {args.generator_core})
    busy_pct = wait_for_quiet(args.quiet_pct, args.initial_quiet_timeout_s)
    print(f"machine {busy_pct:.0f} % busy at the start (others may share it)")
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="bench-mock-") as tmp:
        tmp_dir = Path(tmp)
        if not args.skip_bare:
            port = free_port(HOST)
            bare_cmd = [sys.executable, __file__, "--serve-bare", "--port", str(port)]
            with pinned(bare_cmd, args.server_core, tmp_dir / "bare.log") as server:
                wait_listening(port)
                rig = Rig(f"bare ({args.server_core})", [f"http://{HOST}:{port}"], [server])
                steps += uvloop.run(run_steps(rig, args, t0, 0))
        if args.floor:
            steps += run_mock_rig(args, tmp_dir / "floor", t0, 50_000_000, floor=True)
        steps += run_mock_rig(args, tmp_dir / "mock", t0, 100_000_000, floor=False)
    print(f"\nwall time {time.monotonic() - t0:.0f} s")
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="500,750,1000,1500,2000,2500,3000")
    parser.add_argument("--step-s", type=float, default=10.0)
    parser.add_argument("--bare-step-s", type=float, default=5.0, help="per step, reference")
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument(
        "--personas", type=int, default=0, help="persona population (0: a new one per enqueue)"
    )
    parser.add_argument("--connections", type=int, default=256)
    parser.add_argument("--max-inflight", type=int, default=4000)
    parser.add_argument("--server-core", type=int, default=1)
    parser.add_argument("--receiver-core", type=int, default=0)
    parser.add_argument("--generator-core", type=int, default=0)
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run the mock's I/O without its logic (_floor.py) on the same rig, before it",
    )
    parser.add_argument(
        "--mock-processes",
        type=int,
        default=1,
        help="mock processes, each pair routed to one as run routes it (loadtest.routing)",
    )
    parser.add_argument(
        "--mock-cores",
        default=None,
        help="cores of the mock processes, comma-separated, used in turn [default: --server-core]",
    )
    parser.add_argument(
        "--mock-cli",
        default=None,
        help="the dumgum-loadtest executable that serves the mock [default: this venv's]; an"
        " older tree's launcher compares its mock with this one on the same rig",
    )
    parser.add_argument(
        "--quiet-pct", type=float, default=10.0, help="wait for the machine to be this idle"
    )
    parser.add_argument(
        "--quiet-timeout-s", type=float, default=10.0, help="longest wait for quiet per step"
    )
    parser.add_argument("--initial-quiet-timeout-s", type=float, default=60.0)
    parser.add_argument(
        "--sustained-p99-ms",
        type=float,
        default=1000.0,
        help="a step is sustained when its enqueue-to-answer p99 stays below this",
    )
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_forever(bare_app, HOST, args.port)
        return 0
    args.rates = [float(r) for r in args.rates.split(",")]
    if args.mock_processes < 1:
        parser.error("--mock-processes: give 1 or more")
    cores = args.mock_cores or str(args.server_core)
    args.mock_cores = [int(core) for core in cores.split(",")]
    if max(args.step_s, args.bare_step_s) > MAX_STEP_S:
        parser.error(f"a step may last at most {MAX_STEP_S:.0f} s")
    args.run_id = f"r{os.getpid()}"
    steps = run(args)
    print()
    print(table(steps, args))
    return 0 if all(s.verdict != "LOSS" for s in steps) else 1


if __name__ == "__main__":
    sys.exit(main())
