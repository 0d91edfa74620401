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
from starlette.types import Scope

from dumgum_loadtest.errors import ConfigError, describe_validation_errors
from dumgum_loadtest.limits import MIB, BodyLimit
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

    async def enqueue(request: Request) -> Response:
        ledger = state.ledger
        ledger.enqueues_received += 1
        project_id = state.tokens.project_for(request.headers.get("authorization"))
        if project_id is None:
            ledger.enqueues_rejected[401] += 1
            return _problem(
                401, "unauthorized", "Send 'Authorization: Bearer <access key>' with a known key."
            )
        cfg = state.config
        faults = cfg.faults
        if faults.enqueue_429_rate and state.rng.random() < faults.enqueue_429_rate:
            ledger.enqueues_rejected[429] += 1
            return Response(
                b'{"error":"rate_limited","detail":"injected by the mock"}',
                status_code=429,
                headers={"Retry-After": str(faults.retry_after_s)},
                media_type="application/json",
            )
        if faults.enqueue_5xx_rate and state.rng.random() < faults.enqueue_5xx_rate:
            ledger.enqueues_rejected[503] += 1
            return _problem(503, "unavailable", "Injected by the mock (faults.enqueue_5xx_rate).")
        raw = await request.body()  # past max_body_bytes: BodyLimit answers 413
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            payload = None
        if not isinstance(payload, dict):
            ledger.enqueues_rejected[400] += 1
            return _problem(400, "bad_request", "The body must be a JSON object.")
        try:
            enqueue_request = EnqueueRequest.model_validate(payload)
        except ValidationError as exc:
            ledger.enqueues_rejected[422] += 1
            errors = describe_validation_errors(exc.errors())
            return _problem(
                422, "invalid_request", f"{len(errors)} invalid field(s).", errors=errors
            )
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
            return _problem(
                422, "invalid_request", f"{len(rejected)} invalid field(s).", errors=rejected
            )
        if faults.enqueue_added_latency_s is not None:
            await asyncio.sleep(faults.enqueue_added_latency_s.sample_s(state.rng))
        ledger.enqueues_accepted += 1
        assert state.engine is not None
        state.engine.submit(project_id, enqueue_request)
        return Response(status_code=204)

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

    app = Starlette(
        routes=[
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
