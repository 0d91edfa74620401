"""The reference endpoint every benchmark measures against: read the body, answer 204.

A bare ASGI app, no framework, no validation, nothing recorded; it also counts what it
answered (``GET`` returns the count), for benchmarks that read the rate from the server side.
"""

from __future__ import annotations

from starlette.types import Receive, Scope, Send

_served = 0  # POSTs answered by this process


async def bare_app(scope: Scope, receive: Receive, send: Send) -> None:
    global _served
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    if scope["method"] == "GET":
        body = str(_served).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})
        return
    _served += 1
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
