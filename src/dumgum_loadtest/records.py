"""The raw records a run writes while it goes, shared by the generator and the analysis.

Each process appends JSON lines to its own shard under ``<run dir>/raw/``:
``requests-<worker>.jsonl`` (one per scheduled request, by the load generator),
``events-<pid>.jsonl`` and ``calls-<pid>.jsonl`` (by the receiver). Analysis merges shards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

# The harness's own correlation ids travel in ``tags`` under these keys; DumGum echoes tags.
TAG_RUN = "dlt_run"
TAG_REQUEST = "dlt_req"

RAW_DIR = "raw"
REQUESTS_STEM = "requests"

# What a request record says about how its HTTP exchange went.
SENT = "sent"  # an HTTP response came back (any status)
NOT_SENT = "not_sent"  # the generator was too far behind schedule, or stopped first
TRANSPORT_ERROR = "error"  # sent, but no HTTP response (connection refused, timeout...)


@dataclass(slots=True)
class RequestRecord:
    """One scheduled enqueue: when it should have left, when it did, what came back."""

    run_id: str
    request_id: str
    worker: str
    conversation_id: str
    turn: int
    burst_index: int  # 0-based position inside the turn's burst
    burst_size: int
    stage: str | None
    user_id: str
    persona_id: str
    intended_ns: int  # epoch ns the schedule said it should leave
    sent_ns: int | None  # epoch ns it actually left (None: not sent)
    response_ns: int | None  # epoch ns the HTTP response arrived
    status: int | None  # HTTP status (None: not sent or no response)
    send_state: str  # SENT, NOT_SENT or TRANSPORT_ERROR
    error: str | None
    # The drawn features, flat, for breakdowns and cost attribution.
    chat_model: str
    language: str
    test_mode: bool
    buffer_s: int
    max_processing_s: int
    generate_personality: bool
    vision: bool  # any vision analysis asked for (and supported by the model)
    shareable_pictures: int
    multiple_messages: bool
    typing_delay: str
    engage: str | None
    pause: bool
    invalid: bool  # made invalid on purpose (a 422 is the expected outcome)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
