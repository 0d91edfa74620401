"""The mock's HTTP surface: enqueue, health, OpenAPI, and the ``/_mock`` control API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import threading
from collections.abc import AsyncIterator
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from dumgum_loadtest.errors import ConfigError, describe_validation_errors
from dumgum_loadtest.limits import MIB, BodyLimit, declared_body_bytes, read_body
from dumgum_loadtest.looplag import LoopLagMonitor
from dumgum_loadtest.mock.auth import ControlAccess, TokenRegistry
from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.mock.customer_calls import CustomerClient
from dumgum_loadtest.mock.delivery import WebhookSender
from dumgum_loadtest.mock.engine import Engine
from dumgum_loadtest.mock.http_client import MockHttpClient
from dumgum_loadtest.mock.ledger import Ledger
from dumgum_loadtest.mock.openapi import openapi_document
from dumgum_loadtest.schema.enums import ChatModel
from dumgum_loadtest.schema.request import EnqueueRequest

ENQUEUE_PATH = "/cs/v1/content_creation/conversations/enqueue"
# Allocations (net of frees) between young collections; CPython's default is 700.
GC_GEN0_THRESHOLD = 20_000


def tune_gc_for_serving() -> None:
    """Make the cyclic GC cheap for a process that serves the mock and nothing else.

    Under load thousands of replies are in flight; with CPython's defaults the young
    collections promote them, and the full collections that follow scan the whole heap several
    times a second: near saturation that took 30-60 % of the mock's core and tipped it into a
    backlog it never recovered from. Freezing the startup heap takes it out of every scan, and
    a larger young generation lets short-lived objects die before they are promoted.
    """
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class _Json(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def _problem(status: int, error: str, detail: str, **extra: Any) -> Response:
    return _Json({"error": error, "detail": detail, **extra}, status_code=status)


class MockState:
    """Everything one running mock holds; built at startup inside the server's event loop."""

    def __init__(
        self, config: MockConfig, tokens: list[str], control_token: str | None = None
    ) -> None:
        self.config = config
        self.tokens = TokenRegistry(tokens)
        self.control = ControlAccess(tokens, control_token)
        self.ledger = Ledger()
        self.rng = random.Random(config.seed)
        self.engine: Engine | None = None
        self.http: MockHttpClient | None = None
        self.loop_lag = LoopLagMonitor()

    async def start(self) -> None:
        self.loop_lag.start()
        delivery = self.config.delivery
        self.http = MockHttpClient(delivery.http_client, delivery.connection_limit)
        sender = WebhookSender(self.http, self.ledger, lambda: self.config, self.rng)
        customer = CustomerClient(self.http, self.ledger)
        self.engine = Engine(self.config, self.ledger, sender, customer, self.rng)
        self.engine.start()
        # GC settings are process-wide: tune them only when the mock owns the process (the CLI
        # serves from the main thread); an app served from a thread (tests, demo) shares it.
        if threading.current_thread() is threading.main_thread():
            tune_gc_for_serving()

    async def stop(self) -> None:
        await self.loop_lag.stop()
        if self.engine is not None:
            await self.engine.stop()
        if self.http is not None:
            await self.http.close()

    def reconfigure(self, config: MockConfig) -> None:
        self.config = config
        if self.engine is not None:
            self.engine.reconfigure(config)

    def ledger_snapshot(self) -> dict[str, Any]:
        prices = self.config.prices
        reply_prices = {m.value: self.config.model_profile(m).price_eur for m in ChatModel}
        snapshot = self.ledger.snapshot()
        snapshot["cost"] = self.ledger.cost_eur(
            reply_prices, prices.vision_eur_per_picture, prices.soulengine_eur_per_persona
        )
        snapshot["gauges"] = self.engine.gauges() if self.engine else {}
        snapshot["gauges"]["loop_lag_ms"] = self.loop_lag.snapshot_ms()
        return snapshot


_JSON_CONTENT_TYPE = (b"content-type", b"application/json")
_NO_CONTENT: Message = {"type": "http.response.start", "status": 204, "headers": []}
_EMPTY_BODY: Message = {"type": "http.response.body", "body": b""}
_RATE_LIMITED_BODY = b'{"error":"rate_limited","detail":"injected by the mock"}'


async def _send_json(
    send: Send, status: int, body: bytes, extra_headers: tuple[tuple[bytes, bytes], ...] = ()
) -> None:
    """The answer Starlette's ``Response`` gives: its headers, Content-Length, Content-Type."""
    headers = [*extra_headers, (b"content-length", b"%d" % len(body)), _JSON_CONTENT_TYPE]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_problem(send: Send, status: int, error: str, detail: str, **extra: Any) -> None:
    await _send_json(send, status, orjson.dumps({"error": error, "detail": detail, **extra}))


def _authorization(scope: Scope) -> str | None:
    """The first Authorization header, as Starlette's ``request.headers.get`` reads it."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None


class EnqueueEndpoint:
    """``POST /cs/v1/content_creation/conversations/enqueue`` as a bare ASGI app.

    Starlette's router, middleware, Request and Response took about 7 % of the mock's busy CPU
    per enqueue (py-spy, benchmarks/RESULTS-mock.md). Served directly, the answers stay the
    same: 204 with no body, or the 400/401/422/429/503 problems with Starlette's headers.
    """

    def __init__(self, state: MockState) -> None:
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self._state
        ledger = state.ledger
        ledger.enqueues_received += 1
        project_id = state.tokens.project_for(_authorization(scope))
        if project_id is None:
            ledger.enqueues_rejected[401] += 1
            await _send_problem(
                send,
                401,
                "unauthorized",
                "Send 'Authorization: Bearer <access key>' with a known key.",
            )
            return
        cfg = state.config
        faults = cfg.faults
        if faults.enqueue_429_rate and state.rng.random() < faults.enqueue_429_rate:
            ledger.enqueues_rejected[429] += 1
            retry_after = (b"retry-after", str(faults.retry_after_s).encode("latin-1"))
            await _send_json(send, 429, _RATE_LIMITED_BODY, (retry_after,))
            return
        if faults.enqueue_5xx_rate and state.rng.random() < faults.enqueue_5xx_rate:
            ledger.enqueues_rejected[503] += 1
            await _send_problem(
                send, 503, "unavailable", "Injected by the mock (faults.enqueue_5xx_rate)."
            )
            return
        # Past max_body_bytes, BodyLimit's receive raises and BodyLimit answers 413.
        raw, complete = await read_body(receive)
        if not complete:
            return  # the client left mid-body: nobody to answer
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            ledger.enqueues_rejected[400] += 1
            await _send_problem(send, 400, "bad_request", "The body must be a JSON object.")
            return
        try:
            enqueue_request = EnqueueRequest.model_validate(payload)
        except ValidationError as exc:
            ledger.enqueues_rejected[422] += 1
            errors = describe_validation_errors(exc.errors())
            await _send_problem(
                send, 422, "invalid_request", f"{len(errors)} invalid field(s).", errors=errors
            )
            return
        rules = cfg.behaviour
        rejected = [
            {"field": v.field, "value": "", "problem": v.problem}
            for v in enqueue_request.capability_violations()
            if (
                v.rule == "icebreaker_without_engage"
                and rules.icebreaker_without_engage == "reject"
            )
            or (
                v.rule != "icebreaker_without_engage"
                and rules.pictures_on_dating_models == "reject"
            )
        ]
        if rejected:
            ledger.enqueues_rejected[422] += 1
            await _send_problem(
                send,
                422,
                "invalid_request",
                f"{len(rejected)} invalid field(s).",
                errors=rejected,
            )
            return
        if faults.enqueue_added_latency_s is not None:
            await asyncio.sleep(faults.enqueue_added_latency_s.sample_s(state.rng))
        ledger.enqueues_accepted += 1
        assert state.engine is not None
        state.engine.submit(project_id, enqueue_request)
        await send(_NO_CONTENT)
        await send(_EMPTY_BODY)


class _MockApp(Starlette):
    """Starlette, but an enqueue POST with a Content-Length within the limit goes straight to
    ``EnqueueEndpoint``: no middleware would act on it (BodyLimit only refuses bodies that
    declare more than the limit or stream without a length), and routing it is a fixed path."""

    def __init__(self, *, enqueue: EnqueueEndpoint, max_body_bytes: int, **starlette: Any) -> None:
        super().__init__(**starlette)
        self._enqueue = enqueue
        self._max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == ENQUEUE_PATH:
            declared_bytes = declared_body_bytes(scope)
            if declared_bytes is not None and declared_bytes <= self._max_body_bytes:
                await self._enqueue(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_mock_app(
    config: MockConfig,
    tokens: list[str],
    *,
    control_token: str | None = None,
    max_body_bytes: int = MIB,
) -> Starlette:
    """The mock as an ASGI app; ``tokens`` are the accepted bearer access keys.

    ``control_token`` opens ``/_mock/*`` (see ``auth.ControlAccess``); a request body over
    ``max_body_bytes`` is answered 413 while it streams in, never read whole.
    """
    state = MockState(config, tokens, control_token)

    enqueue = EnqueueEndpoint(state)

    def _control_refusal(request: Request) -> Response | None:
        if state.control.allows(request.headers.get("authorization")):
            return None
        if state.control.configured:
            return _problem(
                401, "unauthorized", "The control API takes the mock's control token (bearer)."
            )
        return _problem(
            403,
            "forbidden",
            "The ledger and the config span every project: start the mock with a control token"
            " (--control-token or DUMGUM_MOCK_CONTROL_TOKEN) to use the control API.",
        )

    async def health(request: Request) -> Response:
        return _Json({"status": "ok"})

    async def openapi(request: Request) -> Response:
        return _Json(openapi_document())

    async def ledger(request: Request) -> Response:
        refusal = _control_refusal(request)
        if refusal is not None:
            return refusal
        return _Json(state.ledger_snapshot())

    async def config_endpoint(request: Request) -> Response:
        refusal = _control_refusal(request)
        if refusal is not None:
            return refusal
        if request.method == "PATCH":
            try:
                changes = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                changes = None
            if not isinstance(changes, dict):
                return _problem(400, "bad_request", "Send a JSON object (a merge patch).")
            try:
                state.reconfigure(state.config.patched(changes))
            except ConfigError as exc:
                return _problem(422, "invalid_config", str(exc))
        return _Json(state.config.model_dump(mode="json"))

    def count_too_large(scope: Scope, handler_started: bool) -> None:
        if scope["path"] == ENQUEUE_PATH:
            if not handler_started:  # refused on its Content-Length alone
                state.ledger.enqueues_received += 1
            state.ledger.enqueues_rejected[413] += 1

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await state.start()
        try:
            yield
        finally:
            await state.stop()

    app = _MockApp(
        enqueue=enqueue,
        max_body_bytes=max_body_bytes,
        routes=[
            # Chunked bodies and over-long declared ones come this way (BodyLimit counts them).
            Route(ENQUEUE_PATH, enqueue, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/_mock/ledger", ledger, methods=["GET"]),
            Route("/_mock/config", config_endpoint, methods=["GET", "PATCH"]),
        ],
        middleware=[
            Middleware(BodyLimit, max_body_bytes=max_body_bytes, on_refused=count_too_large)
        ],
        lifespan=lifespan,
    )
    app.state.mock = state
    return app
