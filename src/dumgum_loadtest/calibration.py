"""Calibration: does the harness recover what it is told? A short run before the load.

``run --calibrate`` (or a scenario's ``calibrate:`` block) first runs a small scenario built
here against the embedded mock, through the same code as any run, into
``RUN_DIR/calibration/``. Its mock is set so that the figures are known in advance:

* every reply takes exactly ``generation_s`` simulated seconds (``kind: constant``) and
  nothing else adds to the time to first answer: bufferSeconds 0 (no buffer window),
  replyTypingDelay INSTANT (no typing pause), one message per reply, no guardrail stops, one
  request per conversation (no merging, no queueing behind the pair's previous reply). So
  the median time from the send to the first ``answer.created`` is ``generation_s`` times the
  time scale, plus only the loopback round trips (milliseconds);
* a known share of replies fails with ``conversation.dropped`` (the mock's
  ``faults.generation_failure_rate``).

``judge`` then checks, from the calibration run's summary:

* latency: the measured median (p50) time to first answer, from the actual send, of the
  answered requests is within ``latency_tolerance`` (2 %) of the known one;
* drop rate: the known drop rate lies inside the measured rate's Wilson interval at 99.9 %
  (at the summary's 95 %, a sound harness would fail about one night in twenty: the mock's
  draws are random, and their order varies with timing even under a fixed seed);
* accounting: every request ends answered or dropped (none lost, unresolved, unsent or
  rejected), and the drops the harness counted are the drops the mock's ledger made.

The verdict goes to ``RUN_DIR/calibration.json``; ``analyse`` copies it into summary.json as
``calibration``, and a failed one makes the run invalid in the history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dumgum_loadtest.analysis.stats import wilson_interval
from dumgum_loadtest.mock.config import merge_patch
from dumgum_loadtest.scenarios.model import Calibrate, Scenario, parse_scenario
from dumgum_loadtest.schema.enums import StopReason

CALIBRATION_DIR = "calibration"
"""The calibration run's own run directory, inside the run's."""
CALIBRATION_RESULT = "calibration.json"
"""The verdict, next to the run's summary.json."""
CALIBRATION_SEED = 20261207
DROP_INTERVAL_CONFIDENCE = 0.999
DROP_INTERVAL_Z = 3.2905267314919255  # the standard normal quantile at 1 - 0.001 / 2
CALIBRATION_SETTLE_QUIET_S = 0.3
CALIBRATION_CHAT_MODEL = "dating-smart-1"
CHAT_MODELS = ("dating-smart-1", "dating-pro-1", "chat-2-smart", "chat-2-pro")
UNACCOUNTED_OUTCOMES = ("lost", "unresolved", "send_failed", "not_sent", "rejected")


def calibration_mock(settings: Calibrate) -> dict[str, Any]:
    """The calibration's mock model: constant generation, a known drop share, nothing random
    that could add time (stops, memory events, shared pictures), then ``mock_overrides``."""
    generation = {"kind": "constant", "value_s": settings.generation_s}
    model: dict[str, Any] = {
        "time_scale": settings.time_scale,
        "seed": CALIBRATION_SEED,
        "models": {name: {"generation_s": generation} for name in CHAT_MODELS},
        # Each rate named: an empty mapping would merge into the defaults and change nothing.
        "guardrails": {"stop_rates": {reason.value: 0.0 for reason in StopReason}},
        "behaviour": {
            "memory_update_rate": 0.0,
            "picture_share_rate": 0.0,
            "image_rejection_rate": 0.0,
        },
        "faults": {"generation_failure_rate": settings.drop_rate},
    }
    return merge_patch(model, settings.mock_overrides)


def calibration_scenario(settings: Calibrate) -> Scenario:
    """One-request conversations of new users at ``rate_rps`` for ``duration_s``: nothing
    buffered, merged or typed, every reply on one chat model."""
    data: dict[str, Any] = {
        "name": "calibration",
        "description": "Known generation time and drop rate; the harness must recover both.",
        "target": "mock",
        "duration_s": settings.duration_s,
        "seed": CALIBRATION_SEED,
        "arrival": {"model": "open", "process": "poisson", "rate_rps": settings.rate_rps},
        # So many pairs that a new conversation never meets one still being answered.
        "population": {"users": 1_000_000, "personas": 1000, "pictures_per_persona": 0},
        "conversation": {"burst_size": {1: 1.0}, "turns": {1: 1.0}, "engage_share": 0.0},
        "mix": {
            "fields": {
                "testMode": {True: 1.0},
                "replyParameters.chatModel": {CALIBRATION_CHAT_MODEL: 1.0},
                "replyParameters.bufferSeconds": {0: 1.0},
                "replyParameters.replyTypingDelay": {"INSTANT": 1.0},
                "replyParameters.multipleMessagesPerReply": {False: 1.0},
            }
        },
        "mock": calibration_mock(settings),
    }
    return parse_scenario(data, "the calibration scenario")


@dataclass(frozen=True, slots=True)
class CalibrationCheck:
    name: str  # first_answer_latency, drop_rate, accounting
    passed: bool
    rule: str  # one line: what was expected, what was measured, and the rule


@dataclass(frozen=True, slots=True)
class CalibrationExpected:
    generation_s: float  # simulated seconds
    time_scale: float
    first_answer_s: float  # real seconds: generation_s x time_scale
    latency_tolerance: float  # share of first_answer_s
    drop_rate: float
    drop_interval_confidence: float  # of the Wilson interval the drop rate must lie in


@dataclass(frozen=True, slots=True)
class CalibrationMeasured:
    first_answer_p50_s: float | None  # from the send, answered requests
    processing_p50_s: float | None  # to answer.processing: the loopback overhead
    drop_rate: float | None
    drop_rate_low: float | None  # Wilson interval at DROP_INTERVAL_CONFIDENCE
    drop_rate_high: float | None
    dropped: int
    awaited: int  # answered + dropped + lost
    scheduled: int
    unaccounted: int  # lost, unresolved, send_failed, not_sent or rejected
    mock_dropped: int | None  # by the mock's ledger (None: unreadable)
    status: str
    harness_bottleneck: bool


@dataclass(frozen=True, slots=True)
class CalibrationResult:
    passed: bool
    sentence: str
    expected: CalibrationExpected
    measured: CalibrationMeasured
    checks: tuple[CalibrationCheck, ...]
    run_dir: str = CALIBRATION_DIR  # relative to the run directory
    wall_s: float = 0.0
    notes: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [asdict(check) for check in self.checks]
        data["notes"] = list(self.notes)
        return data


def _at(data: Mapping[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def measured_of(summary: Mapping[str, Any]) -> CalibrationMeasured:
    """The figures calibration judges, from the calibration run's summary."""
    outcomes = _at(summary, "outcomes") or {}
    awaited = int(_at(summary, "drop_rate", "of") or 0)
    dropped = int(outcomes.get("dropped", 0))
    drop = wilson_interval(dropped, awaited, DROP_INTERVAL_Z)
    ledger_drops = _at(summary, "mock_ledger", "dropped")
    mock_dropped = int(sum(ledger_drops.values())) if isinstance(ledger_drops, Mapping) else None
    return CalibrationMeasured(
        first_answer_p50_s=_number(
            _at(summary, "latency_s", "first_answer", "from_sent", "answered", "p50")
        ),
        processing_p50_s=_number(
            _at(summary, "latency_s", "processing", "from_sent", "answered", "p50")
        ),
        drop_rate=_number(drop.get("rate")),
        drop_rate_low=_number(drop.get("low")),
        drop_rate_high=_number(drop.get("high")),
        dropped=dropped,
        awaited=awaited,
        scheduled=int(_at(summary, "requests", "scheduled") or 0),
        unaccounted=sum(int(outcomes.get(name, 0)) for name in UNACCOUNTED_OUTCOMES),
        mock_dropped=mock_dropped,
        status=str(summary.get("status") or "unknown"),
        harness_bottleneck=bool(_at(summary, "health", "harness_bottleneck")),
    )


def _pct(share: float | None) -> str:
    return "none" if share is None else f"{share * 100:.1f} %"


def _latency_check(
    expected: CalibrationExpected, measured: CalibrationMeasured
) -> CalibrationCheck:
    known_s = expected.first_answer_s
    allowed = f"within {expected.latency_tolerance * 100:g} %"
    p50_s = measured.first_answer_p50_s
    if p50_s is None:
        return CalibrationCheck(
            "first_answer_latency",
            False,
            f"no answered request: no median time to first answer to compare with the known"
            f" {known_s:.3f} s",
        )
    off = (p50_s - known_s) / known_s
    passed = abs(off) <= expected.latency_tolerance
    return CalibrationCheck(
        "first_answer_latency",
        passed,
        f"median time to first answer {p50_s:.3f} s, known {known_s:.3f} s: {off * 100:+.1f} %"
        f" ({allowed}: {'yes' if passed else 'NO'})",
    )


def _drop_check(expected: CalibrationExpected, measured: CalibrationMeasured) -> CalibrationCheck:
    low, high = measured.drop_rate_low, measured.drop_rate_high
    known = _pct(expected.drop_rate)
    if low is None or high is None:
        return CalibrationCheck(
            "drop_rate", False, f"no request awaited a reply: no drop rate to compare with {known}"
        )
    passed = low <= expected.drop_rate <= high
    return CalibrationCheck(
        "drop_rate",
        passed,
        f"drop rate {_pct(measured.drop_rate)} of {measured.awaited},"
        f" {expected.drop_interval_confidence * 100:g} % interval"
        f" [{_pct(low)}, {_pct(high)}], known {known} ({'inside' if passed else 'OUTSIDE'})",
    )


def _accounting_check(measured: CalibrationMeasured) -> CalibrationCheck:
    problems = []
    if measured.status != "completed":
        problems.append(f"the calibration run did not complete ({measured.status})")
    if measured.scheduled == 0:
        problems.append("no request was scheduled")
    if measured.unaccounted:
        problems.append(
            f"{measured.unaccounted} of {measured.scheduled} requests neither answered nor"
            f" dropped ({', '.join(UNACCOUNTED_OUTCOMES)})"
        )
    if measured.mock_dropped is None:
        problems.append("the mock's ledger was not read")
    elif measured.mock_dropped != measured.dropped:
        problems.append(
            f"{measured.dropped} drops counted, the mock's ledger made {measured.mock_dropped}"
        )
    if problems:
        return CalibrationCheck("accounting", False, "; ".join(problems))
    return CalibrationCheck(
        "accounting",
        True,
        f"all {measured.scheduled} requests answered or dropped; {measured.dropped} drops,"
        " as the mock's ledger",
    )


def judge(
    settings: Calibrate, summary: Mapping[str, Any], wall_s: float = 0.0
) -> CalibrationResult:
    """The verdict on a calibration run's summary."""
    expected = CalibrationExpected(
        generation_s=settings.generation_s,
        time_scale=settings.time_scale,
        first_answer_s=round(settings.first_answer_s, 6),
        latency_tolerance=settings.latency_tolerance,
        drop_rate=settings.drop_rate,
        drop_interval_confidence=DROP_INTERVAL_CONFIDENCE,
    )
    measured = measured_of(summary)
    checks = (
        _latency_check(expected, measured),
        _drop_check(expected, measured),
        _accounting_check(measured),
    )
    passed = all(check.passed for check in checks)
    if passed:
        sentence = "calibration passed: " + "; ".join(check.rule for check in checks)
    else:
        failed = [check for check in checks if not check.passed]
        sentence = "calibration FAILED: " + "; ".join(check.rule for check in failed)
    notes = []
    if measured.harness_bottleneck:
        notes.append("the calibration run's health names a harness bottleneck; see its summary")
    return CalibrationResult(
        passed=passed,
        sentence=sentence,
        expected=expected,
        measured=measured,
        checks=checks,
        wall_s=round(wall_s, 1),
        notes=tuple(notes),
    )


def write_result(run_dir: Path, result: CalibrationResult) -> None:
    (run_dir / CALIBRATION_RESULT).write_text(json.dumps(result.to_json(), indent=2) + "\n")


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """The calibration verdict of the run at ``run_dir``; None when it was not calibrated."""
    path = run_dir / CALIBRATION_RESULT
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = [
    "CALIBRATION_DIR",
    "CALIBRATION_RESULT",
    "CalibrationResult",
    "calibration_scenario",
    "judge",
    "read_result",
    "write_result",
]
