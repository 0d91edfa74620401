"""Synthetic run directories in the exact raw formats the generator and the receiver write.

Each request gets a known fate (answered, dropped, rejected, lost) and a known latency, so a
report can be checked without running any load.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dumgum_loadtest.records import SENT, TAG_REQUEST, TAG_RUN, RequestRecord

S = 1_000_000_000
T0_NS = 1_800_000_000 * S
REPO = Path(__file__).resolve().parents[3]
TIME_SCALE = 0.05
MODELS = ("dating-smart-1", "chat-2-pro")


@dataclass
class Plan:
    """What the synthetic run holds: stages of (name, duration_s, rate_rps) and the fates."""

    stages: Sequence[tuple[str, float, float]] = (("steady", 10.0, 4.0),)
    drop_every: int = 0  # every n-th request ends in conversation.dropped
    lost_every: int = 0  # every n-th request never hears back
    reject_every: int = 0  # every n-th request answers 422
    answers: bool = True  # False: no event at all (zero answers)
    capacity_rps: float | None = None  # answers at most this many a second, first come first
    status: str = "completed"
    cpu_pct: float | None = None
    notes: Sequence[str] = ()
    test_mode: bool = True  # False: live requests, billed at ``answer_cost`` each
    answer_cost: str = "0.0000"
    personas: int = 1  # persona ids p1..pN in turn
    generate_personality: bool = False


def _scenario_text(name: str) -> str:
    text = (REPO / "scenarios" / "smoke.yaml").read_text()
    text = re.sub(r"(?m)^name: .*$", f"name: {name}", text)
    text = re.sub(r"(?m)^duration_s: .*$", "duration_s: 10", text)
    return re.sub(r"(?m)^warmup_s: .*$", "warmup_s: 2", text)


def _latency_s(stage_index: int) -> float:
    # Later (faster) plateaus answer more slowly: a capacity curve with a knee.
    return (0.4, 0.5, 1.5, 4.0)[min(stage_index, 3)]


def _lines(records: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(record) + "\n" for record in records)


def _event(kind: str, request_id: str, run_id: str, recv_ns: int, **answer: Any) -> dict[str, Any]:
    tags = {TAG_RUN: run_id, TAG_REQUEST: request_id}
    if kind == "answer.created":
        data: dict[str, Any] = {
            "projectId": "proj_test",
            "answer": {"id": f"answer_{request_id}", "userProfileId": "u", "tags": tags, **answer},
        }
    else:
        data = {"projectId": "proj_test", "userProfileId": "u", "tags": tags}
    return {
        "recv_ns": recv_ns,
        "endpoint": "incoming",
        "status": 204,
        "body": {"event": kind, "data": data},
    }


def build_run(run_dir: Path, plan: Plan) -> Path:
    """Write scenario.yaml, environment.json, run-meta.json and the raw shards."""
    run_id = "synthetic-run"
    raw = run_dir / "raw"
    raw.mkdir(parents=True)
    (run_dir / "scenario.yaml").write_text(_scenario_text("synthetic"))
    environment = {"target": "mock", "time_scale": TIME_SCALE, "workers": 1, "run_id": run_id}
    (run_dir / "environment.json").write_text(json.dumps(environment))
    meta = {"run_id": run_id, "status": plan.status, "notes": list(plan.notes)}
    (run_dir / "run-meta.json").write_text(json.dumps(meta))
    requests, events, calls = [], [], []
    start_s, number = 0.0, 0
    next_free_ns = 0  # with a capacity: when the next answer can come at the earliest
    for stage_index, (stage, duration_s, rate_rps) in enumerate(plan.stages):
        for k in range(int(duration_s * rate_rps)):
            number += 1
            intended_ns = T0_NS + int((start_s + k / rate_rps) * S)
            request_id = f"0-{number}"
            rejected = bool(plan.reject_every) and number % plan.reject_every == 0
            record = RequestRecord(
                run_id=run_id, request_id=request_id, worker="0", conversation_id=f"c{number}",
                turn=0, burst_index=0, burst_size=1, stage=stage, user_id=f"u{number}",
                persona_id=f"p{1 + number % plan.personas}", intended_ns=intended_ns,
                sent_ns=intended_ns + 1_000_000, response_ns=intended_ns + 4_000_000,
                status=422 if rejected else 204, send_state=SENT, error=None,
                chat_model=MODELS[number % 2], language="EN", test_mode=plan.test_mode,
                buffer_s=5, max_processing_s=300, generate_personality=plan.generate_personality,
                vision=number % 3 == 0, shareable_pictures=0, multiple_messages=False,
                typing_delay="INSTANT", engage=None, pause=False, invalid=rejected,
            )  # fmt: skip
            requests.append(record.to_json())
            if rejected:
                continue
            calls.append(
                {"recv_ns": intended_ns + 2_000_000, "kind": "chat_history",
                 "params": {"userProfileId": f"u{number}", "personaProfileId": "p1"},
                 "status": 200, "duration_ns": 120_000, "response_bytes": 15}
            )  # fmt: skip
            if not plan.answers or (plan.lost_every and number % plan.lost_every == 0):
                continue
            events.append(_event("answer.processing", request_id, run_id, intended_ns + S // 10))
            done_ns = intended_ns + int(_latency_s(stage_index) * S)
            if plan.capacity_rps:
                done_ns = max(done_ns, next_free_ns)
                next_free_ns = done_ns + int(S / plan.capacity_rps)
            if plan.drop_every and number % plan.drop_every == 0:
                events.append(_event("conversation.dropped", request_id, run_id, done_ns))
            else:
                events.append(
                    _event("answer.created", request_id, run_id, done_ns, sequenceNumber=0,
                           cost=plan.answer_cost, responseTime=1)
                )  # fmt: skip
        start_s += duration_s
    (raw / "requests-0.jsonl").write_text(_lines(requests))
    (raw / "events-1.jsonl").write_text(_lines(sorted(events, key=lambda e: e["recv_ns"])))
    (raw / "calls-1.jsonl").write_text(_lines(calls))
    if plan.cpu_pct is not None:
        progress = {"worker": "0", "cpu_pct": plan.cpu_pct, "done": True}
        (raw / "progress-0.json").write_text(json.dumps(progress))
    return run_dir


@pytest.fixture
def make_run(tmp_path: Path) -> Callable[..., Path]:
    """``make_run(name, **plan)``: a fresh synthetic run directory under ``tmp_path``."""

    def make(name: str = "run", **plan: Any) -> Path:
        return build_run(tmp_path / name, Plan(**plan))

    return make
