"""A send from preparation to its one record: the drawn body, the ids, the timestamps."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dumgum_loadtest.loadtest.command import STOP_GRACE_S
from dumgum_loadtest.scenarios.schedule import PlannedSend

if TYPE_CHECKING:  # worker imports locust; this module stays importable without it
    from dumgum_loadtest.loadtest.worker import WorkerContext

REQUEST_NAME = "enqueue"
"""The name Locust's statistics show for the enqueue requests."""

# The errors of sends the stop cut short: in flight past the stop timeout (TRANSPORT_ERROR),
# or due but never started (NOT_SENT).
STOPPED_BEFORE_RESPONSE = (
    f"the run stopped before the response: none within the stop timeout ({STOP_GRACE_S:g} s)"
    " after the load ended; the target may have received the request"
)
STOPPED_BEFORE_SEND = "the run stopped before its send"

_NS = 1_000_000_000


class PreparedSend:
    """A planned send with its request id and drawn body, ready before its intended time."""

    __slots__ = ("body", "features", "greenlet", "intended_ns", "planned", "request_id", "sent_ns")

    def __init__(
        self,
        planned: PlannedSend,
        intended_ns: int,
        request_id: str,
        body: bytes,
        features: dict[str, Any],
    ) -> None:
        self.planned = planned
        self.intended_ns = intended_ns
        self.request_id = request_id
        self.body = body
        self.features = features
        self.sent_ns = 0  # set when the request leaves
        self.greenlet: Any = None  # the greenlet sending it (open model)

    @classmethod
    def prepare(
        cls, context: WorkerContext, planned: PlannedSend, intended_ns: int | None = None
    ) -> PreparedSend:
        """Draw the body; ``intended_ns`` defaults to the run's origin plus the planned offset."""
        request_id = context.next_request_id()
        drawn = context.factory.draw(
            planned.user_id,
            planned.persona_id,
            engage=planned.engage,
            elapsed_s=planned.intended_offset_s,
        )
        if intended_ns is None:
            intended_ns = context.start_ns + int(planned.intended_offset_s * _NS)
        body = context.body_bytes(drawn, request_id)
        return cls(planned, intended_ns, request_id, body, drawn.features)

    def user_message(self) -> dict[str, Any]:
        """The user message this send stands for, as the receiver's chat history keeps it."""
        planned = self.planned
        return {
            "userProfileId": planned.user_id,
            "personaProfileId": planned.persona_id,
            "id": f"msg-{self.request_id}",
            "text": f"message {planned.burst_index + 1} of turn {planned.turn}",
        }


def request_record(
    context: WorkerContext,
    send: PreparedSend,
    state: str,
    *,
    error: str | None = None,
    status: int | None = None,
    response_ns: int | None = None,
) -> dict[str, Any]:
    """The one record of a scheduled send: ``RequestRecord``'s fields, in its order.

    A plain dict: orjson writes it in a fifth of the time of the dataclass, and building the
    dataclass costs as much again (measured: 0.7 µs against 4 µs, plus 2.8 µs). A unit test
    holds the keys to ``RequestRecord``.
    """
    planned = send.planned
    record = {
        "run_id": context.options.run_id,
        "request_id": send.request_id,
        "worker": context.label,
        "conversation_id": planned.conversation_id,
        "turn": planned.turn,
        "burst_index": planned.burst_index,
        "burst_size": planned.burst_size,
        "stage": planned.stage_name,
        "user_id": planned.user_id,
        "persona_id": planned.persona_id,
        "intended_ns": send.intended_ns,
        "sent_ns": send.sent_ns or None,
        "response_ns": response_ns,
        "status": status,
        "send_state": state,
        "error": error,
    }
    record.update(send.features)
    return record


def report_enqueue(
    request_event: Any,
    url: str,
    sent_ns: int,
    response_ns: int,
    length: int,
    exception: BaseException | None,
) -> None:
    """Tell Locust about one enqueue, so its own statistics and web UI count it."""
    request_event.fire(
        request_type="POST",
        name=REQUEST_NAME,
        response_time=(response_ns - sent_ns) / 1e6,
        response_length=length,
        exception=exception,
        context={},
        response=None,
        start_time=sent_ns / 1_000_000_000,
        url=url,
    )
