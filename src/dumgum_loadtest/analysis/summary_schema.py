"""The schema of ``summary.json`` as pydantic models; ``schemas/summary.schema.json`` is made
from them (``python -m dumgum_loadtest.analysis.summary_schema > schemas/summary.schema.json``)
and a test keeps the two equal. Bump ``SUMMARY_SCHEMA_VERSION`` on any incompatible change.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dumgum_loadtest.analysis.analyse import SUMMARY_SCHEMA_VERSION
from dumgum_loadtest.analysis.hygiene import EXAMPLE_CHARS, INVALID_COST_EXAMPLES
from dumgum_loadtest.cost.rules import MAX_ANSWER_COST_EUR


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Percentiles(_Strict):
    """Exact percentiles from raw timestamps, in seconds (None when no value)."""

    p50: float | None
    p90: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None
    count: int


class Rate(_Strict):
    """A share with its 95 % Wilson interval."""

    rate: float | None
    low: float | None
    high: float | None
    count: int
    of: int


class Requests(_Strict):
    scheduled: int
    sent: int
    accepted: int
    rejected: int
    not_sent: int
    transport_errors: int


class Outcomes(_Strict):
    """Exactly one per scheduled request: they add up to ``requests.scheduled``."""

    answered: int
    merged: int
    dropped: int
    rejected: int
    not_sent: int
    send_failed: int = Field(description="The send did not complete and no event names it.")
    unresolved: int = Field(
        description="No reply yet when the observation ended, before the reply deadline:"
        " the run was cut short or settling hit its bound. Not in the loss rate."
    )
    lost: int


class EnqueueViews(_Strict):
    answered: Percentiles
    all_sent: Percentiles


class ReplyViews(_Strict):
    answered: Percentiles
    censored: Percentiles = Field(description="Dropped and lost count as their deadline.")


class FirstAnswerViews(ReplyViews):
    per_message: Percentiles = Field(
        description="Answered and merged requests, each to the answer that covered it."
    )


class FirstAnswerStage(_Strict):
    from_intended: FirstAnswerViews
    from_sent: FirstAnswerViews


class EnqueueStage(_Strict):
    from_intended: EnqueueViews
    from_sent: EnqueueViews


class ReplyStage(_Strict):
    from_intended: ReplyViews
    from_sent: ReplyViews


class Latency(_Strict):
    enqueue: EnqueueStage
    processing: ReplyStage
    first_answer: FirstAnswerStage
    last_message: ReplyStage


class Little(_Strict):
    in_flight_mean: float | None
    rate_rps: float | None = None
    mean_time_to_answer_s: float | None = None
    predicted: float | None
    deviation: float | None


class Stage(_Strict):
    """One load stage, warm-up left out. The steady-window fields were added within version 1
    (defaults: summaries written before them still validate); ``answers_rps`` then changed
    from the stage's requests answered eventually to answers received per second."""

    stage: str
    requests: int
    offered_rps: float
    sent_rps: float
    steady_from_s: float | None = Field(
        default=None,
        description="start of the steady window, s since the first intended send: the"
        " stage's first send plus a transition (the stage's own p99 time to first answer, at"
        " most a quarter of the stage)",
    )
    steady_to_s: float | None = Field(
        default=None, description="end of the steady window: the stage's last intended send"
    )
    owed: int | None = Field(
        default=None,
        description="requests of the stage scheduled in the steady window that are owed a reply"
        " of their own (answered, dropped or lost; not merged, rejected or unsent)",
    )
    answers: int | None = Field(
        default=None, description="first answer.created received in the steady window"
    )
    drops: int | None = Field(
        default=None, description="conversation.dropped received in the steady window"
    )
    answers_rps: float = Field(
        description="answers (first answer.created) received per second in the steady window"
    )
    drops_rps: float | None = Field(
        default=None, description="conversation.dropped received per second in the window"
    )
    backlog_start: int | None = Field(
        default=None,
        description="requests sent and awaiting a reply (no answer or drop yet), any stage,"
        " at the steady window's start",
    )
    backlog_end: int | None = Field(default=None, description="the same at the window's end")
    covered_share: float
    drop_rate: Rate
    loss_rate: Rate
    first_answer_s: Percentiles


class Plateau(_Strict):
    stage: str
    offered_rps: float
    owed_rps: float | None = Field(default=None, description="replies owed per second")
    answers_rps: float = Field(description="answers received per second, steady window")
    drops_rps: float | None = None
    backlog_growth: int | None = Field(
        default=None, description="backlog at the steady window's end minus at its start"
    )
    p99_s: float | None
    drop_rate: float | None
    keeps_up: bool | None = Field(
        default=None,
        description="answers within 3 sqrt(owed) of the replies owed and backlog growth"
        " within 3 sqrt(backlog at start + at end): Poisson noise, one-sided",
    )
    meets_slos: bool = Field(description="meets the SLOs that apply per plateau (none: true)")
    sustainable: bool | None = Field(default=None, description="keeps up and meets the SLOs")
    reasons: list[str] = Field(default_factory=list, description="why not sustainable")


class Capacity(_Strict):
    plateaus: list[Plateau]
    knee_rps: float | None = Field(
        description="the first plateau, from the lowest offered rate up, that does not keep up"
        " or whose p99 time to first answer is twice the lowest plateau's"
    )
    max_sustainable_rps: float | None = Field(
        description="the highest offered rate of the plateaus, from the lowest up, before the"
        " first that is not sustainable"
    )
    judged_by: str | None = Field(
        default=None,
        description="'under the SLOs', 'no SLOs set' or 'none of the SLOs applies per plateau'",
    )
    sentence: str


class BreakdownRow(_Strict):
    value: str
    requests: int
    outcomes: Outcomes
    drop_rate: Rate
    first_answer_s: Percentiles


class EndpointLoad(_Strict):
    calls: int
    per_enqueue: float | None
    errors: int
    handler_s: Percentiles
    response_bytes: Percentiles


class CustomerEndpoints(_Strict):
    chat_history: EndpointLoad
    profile: EndpointLoad


class Hygiene(_Strict):
    duplicates: int
    out_of_order: int
    unmatched: int
    late: int
    events: int
    lost_after_stop: int = Field(
        default=0,  # added within version 1: summaries written before it still validate
        description="lost requests sent to a conversation DumGum had stopped (a stop reason"
        " received before the send, within its conversationStoppedUntil)",
    )
    # both added within version 1: summaries written before them still validate
    invalid_cost: int = Field(
        default=0,
        description="answer.created deliveries whose answer.cost is missing or not a finite"
        f" decimal from 0 to {MAX_ANSWER_COST_EUR} EUR (Infinity, NaN, negative, absurd, not a"
        " number): in no total, kept in events.parquet as received",
    )
    invalid_cost_examples: list[str] = Field(
        default_factory=list,
        description=f"up to {INVALID_COST_EXAMPLES} distinct invalid values as received, each"
        f" cut to {EXAMPLE_CHARS} characters ('(missing)': no cost at all)",
    )


class GeneratorCpu(_Strict):
    max: float | None
    workers: int


class Health(_Strict):
    schedule_lateness_s: Percentiles
    not_sent: int
    generator_cpu_pct: GeneratorCpu
    servers: dict[str, Any]
    harness_bottleneck: bool
    bottleneck_reasons: list[str]
    # Added within version 1: summaries written before them still validate.
    load_ran_s: float | None = Field(
        default=None,
        description="seconds of load by the records: the last intended or sent time minus"
        " the first intended time (less than duration_s for a run cut short)",
    )
    deliveries_given_up: int | None = Field(
        default=None,
        description="webhook events the mock gave up delivering to the receiver (null: no"
        " mock ledger)",
    )
    customer_call_failures: int | None = Field(
        default=None,
        description="the mock's calls to the customer endpoints that failed (null: no mock ledger)",
    )


class SloRow(_Strict):
    objective: str
    target: float
    measured: float | None
    # "pass" is a Python keyword: the field keeps its JSON name through the alias.
    passed: bool = Field(alias="pass")
    source: str
    view: str = Field(description="Which requests the measured figure counts, in words.")


class CalibrationCheck(_Strict):
    name: str = Field(description="first_answer_latency, drop_rate or accounting")
    passed: bool
    rule: str = Field(description="What was expected, what was measured, and the rule.")


class CalibrationExpected(_Strict):
    generation_s: float = Field(description="constant generation time, simulated seconds")
    time_scale: float
    first_answer_s: float = Field(description="known time to first answer, real seconds")
    latency_tolerance: float = Field(description="allowed distance, share of first_answer_s")
    drop_rate: float = Field(description="share of replies the mock drops on purpose")
    drop_interval_confidence: float = Field(
        description="level of the Wilson interval the known drop rate must lie in"
    )


class CalibrationMeasured(_Strict):
    first_answer_p50_s: float | None = Field(
        description="median time to first answer from the actual send, answered requests"
    )
    processing_p50_s: float | None = Field(
        description="median time to answer.processing from the send: the loopback overhead"
    )
    drop_rate: float | None
    drop_rate_low: float | None = Field(
        description="Wilson interval at expected.drop_interval_confidence, low end"
    )
    drop_rate_high: float | None = Field(description="the same interval's high end")
    dropped: int
    awaited: int = Field(description="answered, dropped and lost requests")
    scheduled: int
    unaccounted: int = Field(
        description="requests lost, unresolved, send_failed, not_sent or rejected"
    )
    mock_dropped: int | None = Field(description="drops by the mock's ledger (null: unread)")
    status: str = Field(description="the calibration run's status")
    harness_bottleneck: bool


class Calibration(_Strict):
    """The harness checked against the embedded mock with known parameters before the load
    (``run --calibrate``); its run directory is ``run_dir``, relative to this run's. Added
    within version 2: summaries written before it still validate."""

    passed: bool
    sentence: str
    expected: CalibrationExpected
    measured: CalibrationMeasured
    checks: list[CalibrationCheck]
    run_dir: str
    wall_s: float = Field(description="wall-clock seconds the calibration took")
    notes: list[str]


class Summary(_Strict):
    """The authoritative record of one run."""

    schema_version: Literal[2]
    run_id: str | None
    scenario: str
    target: Literal["mock", "url"]
    status: str
    interrupted: bool
    notes: list[str]
    time_scale: float
    duration_s: float
    warmup_s: float
    workers: int | None
    requests: Requests
    outcomes: Outcomes
    rejected_by_status: dict[str, int]
    drop_rate: Rate
    loss_rate: Rate
    rejected_rate: Rate
    latency_s: Latency
    goodput_rps: float | None
    little: Little
    stages: list[Stage]
    capacity: Capacity | None
    breakdowns: dict[str, list[BreakdownRow]]
    customer_endpoints: CustomerEndpoints
    hygiene: Hygiene
    health: Health
    unreadable_lines: int
    slo: list[SloRow]
    passed: bool
    mock_ledger: dict[str, Any] | None = None
    cost: dict[str, Any] | None = None
    calibration: Calibration | None = Field(
        default=None,
        description="Present when the run was calibrated; failed: the run is invalid.",
    )


assert SUMMARY_SCHEMA_VERSION == 2, "update Summary.schema_version with the version"


def json_schema() -> dict[str, Any]:
    schema = Summary.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "https://dumgum-loadtest.invalid/schemas/summary-v2.json"
    return schema


if __name__ == "__main__":
    print(json.dumps(json_schema(), indent=2, sort_keys=True))
