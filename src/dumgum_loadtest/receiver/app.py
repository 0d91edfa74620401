"""The receiver as an ASGI app: the customer endpoints DumGum calls, plus a small control API.

DumGum-facing: ``POST /incoming``, ``POST /memory``, ``GET /profile``, ``GET /chat-history``.
Harness-facing: ``GET /health``, ``POST /_receiver/messages``,
``POST /_receiver/profiles/{profileId}/bump``, ``GET /_receiver/stats``, and
``GET /_receiver/wait`` (a closed-model user long-polls for its turn's terminal event).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from dumgum_loadtest.clock import now_ns, ns_from_iso
from dumgum_loadtest.direct_route import DirectRoute
from dumgum_loadtest.errors import describe_validation_errors
from dumgum_loadtest.limits import BodyLimit, declared_body_bytes
from dumgum_loadtest.looplag import LoopLagMonitor
from dumgum_loadtest.receiver.gate import SecretGate
from dumgum_loadtest.receiver.history import (
    HistoryEntry,
    Pair,
    UserMessage,
    answer_entry,
    user_message_entry,
)
from dumgum_loadtest.receiver.ingest import EventEndpoint, WebhookFastPath
from dumgum_loadtest.receiver.profiles import synthetic_profile
from dumgum_loadtest.receiver.recorder import Recorder, call_line
from dumgum_loadtest.receiver.settings import ReceiverSettings
from dumgum_loadtest.receiver.state import MemoryState, StateError, Terminal, open_state
from dumgum_loadtest.receiver.waits import (
    TerminalEvent,
    TooManyWaitsError,
    answer_terminal_pair,
    terminal_pair,
)
from dumgum_loadtest.schema.customer import ProfileResponse
from dumgum_loadtest.schema.enums import EventType

_USER_MESSAGES = TypeAdapter(list[UserMessage])
log = logging.getLogger(__name__)
_ANSWER_CREATED = EventType.ANSWER_CREATED.value
_CONVERSATION_DROPPED = EventType.CONVERSATION_DROPPED.value

MAX_WAIT_TIMEOUT_S = 120.0
"""Longest single long-poll; a user waiting longer polls again."""
MAX_WAITS = 100_000
"""Concurrent long-polls held; past it a wait is answered 503."""


def _json(status: int, content: Any) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def _bad_parameter(name: str, problem: str, value: str | None = None) -> Response:
    content: dict[str, Any] = {"error": f"query parameter {name!r} {problem}", "parameter": name}
    if value is not None:
        content["value"] = value
    return _json(400, content)


def parse_last_message_date(text: str) -> int:
    """``lastMessageDate`` as epoch ns; raises ValueError when it is not an ISO date-time.

    An unencoded ``+`` in a query string arrives as a space (``…00:00:00 01:00``): the offset
    is read back rather than rejecting a sender that forgot to percent-encode it.
    """
    try:
        return ns_from_iso(text)
    except ValueError:
        head, sep, offset = text.rpartition(" ")
        if not sep or not head:
            raise
        return ns_from_iso(f"{head}+{offset}")


def _state_update(
    name: str, document: Any, recv_ns: int
) -> tuple[HistoryEntry | None, Terminal | None]:
    """What a recorded incoming event changes: the chat history, the pair's closed-model wait."""
    entry: HistoryEntry | None = None
    pair: Pair | None = None
    if name == _ANSWER_CREATED:  # the hot path: one look at data.answer serves both
        data = document.get("data")
        answer = data.get("answer") if isinstance(data, dict) else None
        if not isinstance(answer, dict):
            return None, None
        entry = answer_entry(answer, fallback_ns=recv_ns)
        pair = answer_terminal_pair(answer)
    elif name == _CONVERSATION_DROPPED:
        pair = terminal_pair(name, document)
    return entry, None if pair is None else (pair, TerminalEvent(name, recv_ns))


class _Receiver:
    """The state of one receiver process and the handlers that use it."""

    def __init__(self, settings: ReceiverSettings) -> None:
        self.settings = settings
        self.recorder = Recorder(settings.out_dir, fsync=settings.fsync)
        self.state = open_state(
            settings.state,
            settings.max_messages_per_pair,
            settings.max_pairs,
            MAX_WAITS,
            settings.profile_seed,
            settings.state_ttl_s,
        )
        self.state_failures = 0  # events recorded whose state update failed
        self.event_counts: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()  # requests turned away before any endpoint
        self.call_counts: Counter[str] = Counter()
        # In-process state needs no wait: the webhooks can be answered inside the protocol.
        now = self._on_incoming_now if isinstance(self.state, MemoryState) else None
        max_body_bytes = settings.max_body_bytes
        self.incoming = EventEndpoint(
            "incoming",
            self.recorder.events,
            self.event_counts,
            self._on_incoming,
            on_event_now=now,
            max_body_bytes=max_body_bytes,
        )
        self.memory = EventEndpoint(
            "memory", self.recorder.events, self.event_counts, max_body_bytes=max_body_bytes
        )
        self.loop_lag = LoopLagMonitor()

    async def _on_incoming(self, name: str, document: Any, recv_ns: int) -> None:
        entry, terminal = _state_update(name, document, recv_ns)
        if entry is None and terminal is None:
            return
        try:
            await self.state.record(entry, terminal)
        except StateError as exc:
            # The event is in the shard already: it is acknowledged, and the failure counted.
            self.state_failures += 1
            if self.state_failures == 1 or self.state_failures % 1000 == 0:
                log.warning("%s (%d events so far)", exc, self.state_failures)

    def _on_incoming_now(self, name: str, document: Any, recv_ns: int) -> None:
        entry, terminal = _state_update(name, document, recv_ns)
        if entry is not None or terminal is not None:
            assert isinstance(self.state, MemoryState)  # the only state given this hook
            self.state.record_now(entry, terminal)

    def _answer_call(
        self, kind: str, request: Request, recv_ns: int, started_ns: int, response: Response
    ) -> Response:
        # Recorded before the answer leaves, like the events, so a served call is never missing.
        self.call_counts[kind] += 1
        self.recorder.calls.append(
            call_line(
                recv_ns,
                kind,
                dict(request.query_params),
                response.status_code,
                time.perf_counter_ns() - started_ns,
                len(response.body),
            )
        )
        return response

    async def _profile_response(self, params: QueryParams) -> Response:
        profile_id = params.get("profileId")
        if not profile_id:
            return _bad_parameter("profileId", "is required, e.g. ?profileId=user_42")
        version = await self.state.profile_version(profile_id)
        profile = synthetic_profile(profile_id, self.settings.profile_seed, version)
        body = ProfileResponse(profile=profile)
        return Response(body.model_dump_json(exclude_none=True), media_type="application/json")

    async def _chat_history_response(self, params: QueryParams) -> Response:
        user_id = params.get("userProfileId")
        persona_id = params.get("personaProfileId")
        if not user_id:
            return _bad_parameter("userProfileId", "is required")
        if not persona_id:
            return _bad_parameter("personaProfileId", "is required")
        after_ns: int | None = None
        last_date = params.get("lastMessageDate")
        if last_date:  # DumGum sends it empty when it holds no history yet
            try:
                after_ns = parse_last_message_date(last_date)
            except ValueError:
                return _bad_parameter(
                    "lastMessageDate",
                    f"= {last_date!r} is not an ISO-8601 date-time, e.g. 2025-01-01T00:00:00Z",
                    last_date,
                )
        messages = await self.state.messages((user_id, persona_id), after_ns)
        return _json(200, {"messages": messages})

    async def profile(self, request: Request) -> Response:
        recv_ns, started_ns = now_ns(), time.perf_counter_ns()
        try:
            response = await self._profile_response(request.query_params)
        except StateError as exc:
            response = _json(503, {"error": str(exc)})
        return self._answer_call("profile", request, recv_ns, started_ns, response)

    async def chat_history(self, request: Request) -> Response:
        recv_ns, started_ns = now_ns(), time.perf_counter_ns()
        try:
            response = await self._chat_history_response(request.query_params)
        except StateError as exc:
            response = _json(503, {"error": str(exc)})
        return self._answer_call("chat_history", request, recv_ns, started_ns, response)

    async def health(self, request: Request) -> Response:
        return _json(200, {"status": "ok"})

    async def register_messages(self, request: Request) -> Response:
        try:
            document = orjson.loads(await request.body())
        except orjson.JSONDecodeError as exc:
            return _json(400, {"error": f"the body is not valid JSON ({exc})"})
        # One message or a list of them; validated as a list so error paths read "[0].text".
        items = document if isinstance(document, list) else [document]
        try:
            messages = _USER_MESSAGES.validate_python(items)
        except ValidationError as exc:
            problems = describe_validation_errors(exc.errors())
            return _json(400, {"error": "invalid user message(s)", "problems": problems})
        try:
            await self.state.add_messages([user_message_entry(message) for message in messages])
        except StateError as exc:
            return _json(503, {"error": str(exc)})
        return Response(status_code=204)

    async def wait(self, request: Request) -> Response:
        """200 ``{"event", "recv_ns"}`` once the turn ended after ``after_ns``; 204 at timeout."""
        params = request.query_params
        user_id = params.get("userProfileId")
        persona_id = params.get("personaProfileId")
        if not user_id:
            return _bad_parameter("userProfileId", "is required")
        if not persona_id:
            return _bad_parameter("personaProfileId", "is required")
        try:
            after_ns = int(params.get("after_ns", "0"))
        except ValueError:
            return _bad_parameter("after_ns", "must be epoch nanoseconds", params["after_ns"])
        try:
            timeout_s = float(params.get("timeout_s", "30"))
        except ValueError:
            return _bad_parameter("timeout_s", "must be a number of seconds", params["timeout_s"])
        if not 0 <= timeout_s <= MAX_WAIT_TIMEOUT_S:
            return _bad_parameter(
                "timeout_s", f"must be between 0 and {MAX_WAIT_TIMEOUT_S:g}", str(timeout_s)
            )
        try:
            event = await self.state.wait((user_id, persona_id), after_ns, timeout_s)
        except TooManyWaitsError as exc:
            return _json(503, {"error": f"{exc}; retry later"})
        except StateError as exc:
            return _json(503, {"error": str(exc)})
        if event is None:
            return Response(status_code=204)
        return _json(200, {"event": event.event, "recv_ns": event.recv_ns})

    async def bump_profile(self, request: Request) -> Response:
        profile_id: str = request.path_params["profileId"]
        try:
            version = await self.state.bump_profile(profile_id)
        except StateError as exc:
            return _json(503, {"error": str(exc)})
        return _json(200, {"profileId": profile_id, "version": version})

    async def stats(self, request: Request) -> Response:
        events, calls = self.recorder.events, self.recorder.calls
        return _json(
            200,
            {
                "pid": os.getpid(),
                "events": dict(self.event_counts),
                "invalid_bodies": self.incoming.invalid_bodies + self.memory.invalid_bodies,
                "refused": dict(self.refused),
                "calls": dict(self.call_counts),
                **self.state.stats(),
                "state_failures": self.state_failures,
                "bytes_written": {"events": events.bytes_written, "calls": calls.bytes_written},
                "files": {"events": str(events.path), "calls": str(calls.path)},
                "loop_lag_ms": self.loop_lag.snapshot_ms(),
            },
        )

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        # Opened in the serving process, so the file names carry that process's pid.
        self.recorder.open()
        await self.state.start()
        self.loop_lag.start()
        try:
            yield
        finally:
            await self.loop_lag.stop()
            await self.state.close()
            self.recorder.close()


class _ReceiverApp(Starlette):
    """Starlette, with a shorter way for the webhooks when no middleware would act on them.

    Without a secret, the gate lets every webhook POST through, and the body limit lets a
    declared length within it through: such a request goes straight to its endpoint, skipping
    four layers (about 5 µs of CPU per event). Any other request takes the whole stack.
    """

    def __init__(
        self,
        *,
        webhooks: dict[str, EventEndpoint],
        max_body_bytes: int,
        gated: bool,
        **starlette: Any,
    ) -> None:
        super().__init__(**starlette)
        self._webhooks: dict[str, EventEndpoint] = {} if gated else webhooks
        self._max_body_bytes = max_body_bytes
        # For the server (serving.uvicorn_config): the same endpoints, answered before they
        # become ASGI requests where they can be (direct_route).
        self.direct_routes: dict[bytes, DirectRoute] = {
            path.encode(): endpoint for path, endpoint in self._webhooks.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self._webhooks.get(scope["path"])
            if endpoint is not None:
                declared = declared_body_bytes(scope)
                if declared is not None and declared <= self._max_body_bytes:
                    await endpoint(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


def create_receiver_app(settings: ReceiverSettings | None = None) -> Starlette:
    """The receiver app; its state is also reachable as ``app.state.receiver`` (for tests)."""
    receiver = _Receiver(settings or ReceiverSettings())
    routes = [
        Route("/incoming", receiver.incoming, methods=["POST"]),
        Route("/memory", receiver.memory, methods=["POST"]),
        Route("/profile", receiver.profile, methods=["GET"]),
        Route("/chat-history", receiver.chat_history, methods=["GET"]),
        Route("/health", receiver.health, methods=["GET"]),
        Route("/_receiver/messages", receiver.register_messages, methods=["POST"]),
        Route("/_receiver/profiles/{profileId}/bump", receiver.bump_profile, methods=["POST"]),
        Route("/_receiver/stats", receiver.stats, methods=["GET"]),
        Route("/_receiver/wait", receiver.wait, methods=["GET"]),
    ]
    # The routes above still answer other methods (405); POSTs take the fast path.
    webhooks: dict[str, EventEndpoint] = {
        "/incoming": receiver.incoming,
        "/memory": receiver.memory,
    }
    fast_path = Middleware(WebhookFastPath, endpoints=webhooks)
    settings = receiver.settings
    gate = Middleware(SecretGate, secret=settings.secret(), refused=receiver.refused)
    body_limit = Middleware(
        BodyLimit, max_body_bytes=settings.max_body_bytes, refused=receiver.refused
    )
    # Outermost first: no request without the secret gets as far as reading its body.
    app = _ReceiverApp(
        webhooks=webhooks,
        max_body_bytes=settings.max_body_bytes,
        gated=settings.secret().configured,
        routes=routes,
        middleware=[gate, body_limit, fast_path],
        lifespan=receiver.lifespan,
    )
    app.state.receiver = receiver
    return app
