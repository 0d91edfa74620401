"""The mock's I/O with none of its logic: the floor under its CPU per enqueue.

Per enqueue POST it does what the mock does on the network, with the mock's own server
settings (``serving.serve_forever``) and outbound client (``FastHttpClient``), and nothing
else: read the body, answer 204; then GET chat history while both profiles are fetched
concurrently, sleep the scaled median generation time (3 s for dating-smart-1), POST
answer.processing, POST answer.created. No validation, no pairs, buffers, gates, reply plans
or distributions; a failed customer call is only counted and a failed webhook is sent again,
as the mock does, so a backlog loses nothing. What one of these costs per enqueue is the
least the full mock could cost on the same rig; the difference is the mock's own work.

``bench_mock.py --floor`` runs it in place of the mock, with the same arguments; it answers
``GET /_mock/ledger`` with the counters ``bench_mock`` checks, so the same zero-loss check
applies.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from dumgum_loadtest.mock.app import tune_gc_for_serving
from dumgum_loadtest.mock.http_client import FastHttpClient, OutboundError
from dumgum_loadtest.serving import serve_forever

GENERATION_S = 3.0  # simulated seconds, scaled by --time-scale
TIMEOUT_S = 10.0  # per exchange, as the mock's customer calls and webhooks
ATTEMPTS = 5
_NO_CONTENT = {"type": "http.response.start", "status": 204, "headers": []}
_EMPTY = {"type": "http.response.body", "body": b""}


class Floor:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.client: FastHttpClient | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.counts = {"enqueues_accepted": 0, "replies": 0, "deliveries": 0}
        self.failures = 0  # webhooks given up after ATTEMPTS
        self.retries = 0
        self.call_failures = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    self.client = FastHttpClient(256)
                    tune_gc_for_serving()
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        chunks = []
        more_body = True
        while more_body:
            message = await receive()
            chunks.append(message.get("body", b""))
            more_body = message.get("more_body", False)
        if scope["method"] == "GET":
            await self._ledger(send)
            return
        request = orjson.loads(b"".join(chunks))
        self.counts["enqueues_accepted"] += 1
        task = asyncio.get_running_loop().create_task(self._lifecycle(request))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        await send(_NO_CONTENT)
        await send(_EMPTY)

    async def _lifecycle(self, request: dict[str, Any]) -> None:
        client = self.client
        assert client is not None
        args = self.args
        loop = asyncio.get_running_loop()
        user, persona = request["userProfileId"], request["personaProfileId"]
        profiles = [
            loop.create_task(self._get(f"{args.profile_url}?profileId={profile_id}"))
            for profile_id in (user, persona)
        ]
        await self._get(f"{args.chat_history_url}?userProfileId={user}&personaProfileId={persona}")
        for profile in profiles:
            await profile
        await asyncio.sleep(GENERATION_S * args.time_scale)
        pair = {"projectId": "floor", "userProfileId": user, "personaProfileId": persona}
        tags = request.get("tags") or {}
        await self._post({"event": "answer.processing", "data": {**pair, "tags": tags}})
        answer = {**pair, "id": uuid.uuid4().hex, "type": "TEXT", "text": "Hi!", "tags": tags}
        await self._post({"event": "answer.created", "data": {**pair, "answer": answer}})
        self.counts["replies"] += 1

    async def _get(self, url: str) -> None:
        assert self.client is not None
        try:
            response = await self.client.request("GET", url, timeout_s=TIMEOUT_S)
        except (OutboundError, TimeoutError):
            self.call_failures += 1  # the mock goes on without it, too
            return
        orjson.loads(response.body)  # the mock reads what it fetched, at least as JSON

    async def _post(self, event: dict[str, Any]) -> None:
        assert self.client is not None
        body = orjson.dumps(event)
        headers = {"Content-Type": "application/json"}
        for attempt in range(ATTEMPTS):
            if attempt:
                self.retries += 1
            try:
                response = await self.client.request(
                    "POST",
                    self.args.incoming_content_url,
                    body=body,
                    headers=headers,
                    timeout_s=TIMEOUT_S,
                )
            except (OutboundError, TimeoutError):
                continue
            if response.status < 300:
                self.counts["deliveries"] += 1
                return
        self.failures += 1

    async def _ledger(self, send: Send) -> None:
        document = {
            **self.counts,
            "deliveries_retried": self.retries,
            "delivery_attempts_failed": self.retries,
            "customer_call_failures": self.call_failures,
            "deliveries_given_up": self.failures,
            "chat_history_calls": self.counts["enqueues_accepted"],
            "profile_calls": 2 * self.counts["enqueues_accepted"],
            "dropped": {},
            "merged": 0,
            "suppressed_banned": 0,
            "suppressed_paused": 0,
            "ignored_while_inflight": 0,
            "gauges": {"replies_in_progress": len(self.tasks), "buffered_enqueues": 0},
        }
        body = orjson.dumps(document)
        headers = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["mock"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--seed", default=None)
    parser.add_argument("--incoming-content-url", required=True)
    parser.add_argument("--profile-url", required=True)
    parser.add_argument("--chat-history-url", required=True)
    args = parser.parse_args()
    serve_forever(Floor(args), "127.0.0.1", args.port)


if __name__ == "__main__":
    main()
