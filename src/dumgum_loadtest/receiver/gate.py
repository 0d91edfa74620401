"""Who may use the receiver: a secret path segment and/or a static header, as customers set up.

DumGum signs no webhook; what a customer can configure is the URL of each endpoint (so a
secret path segment works for all of them) and, for the Memory Webhook only, static custom
headers (a required header suits a receiver behind a proxy that adds it). With a secret set,
every request without it is refused and counted, and never reaches an endpoint, so it is
never recorded. Without one, the ``/_receiver/*`` control endpoints answer loopback clients
only. ``GET /health`` always answers: it tells nothing and load balancers need it.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import Counter
from dataclasses import dataclass

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from dumgum_loadtest.errors import ConfigError

CONTROL_PREFIX = "/_receiver/"
OPEN_PATHS = frozenset({"/health"})

# Keys of the refusal counter (``/_receiver/stats`` "refused").
NO_SECRET_PATH = "no_secret_path"
NO_SECRET_HEADER = "no_secret_header"
CONTROL_OFF_LOOPBACK = "control_off_loopback"


@dataclass(frozen=True)
class ReceiverSecret:
    """The credentials a request must carry; both optional, each one required when set."""

    path_segment: str | None = None
    header_name: str | None = None  # lower case
    header_value: str | None = None

    @property
    def configured(self) -> bool:
        return self.path_segment is not None or self.header_name is not None


def parse_secret(path_segment: str | None, require_header: str | None) -> ReceiverSecret:
    """Validate ``--secret-path`` and ``--require-header NAME:VALUE``."""
    segment = path_segment.strip("/") if path_segment else None
    if segment is not None and (not segment or "/" in segment or len(segment) < 16):
        raise ConfigError(
            f"secret path {path_segment!r}: one path segment of at least 16 characters,"
            " e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )
    name = value = None
    if require_header:
        name, sep, value = require_header.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not sep or not name or not value:
            raise ConfigError(
                f"required header {require_header!r}: give NAME:VALUE, e.g. X-Webhook-Secret:s3cr3t"
            )
    return ReceiverSecret(segment or None, name, value)


def is_loopback_client(scope: Scope) -> bool:
    client = scope.get("client")
    if not client:
        return True  # a Unix socket or an in-process test client: local by construction
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_host(host: str) -> bool:
    """Whether a listening address is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


async def _refuse(send: Send, status: int, error: str) -> None:
    body = orjson.dumps({"error": error})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the body, if any, is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecretGate:
    """ASGI middleware in front of every route: refuses, counts, and strips the secret path."""

    def __init__(self, app: ASGIApp, secret: ReceiverSecret, refused: Counter[str]) -> None:
        self.app = app
        self.secret = secret
        self.refused = refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        secret = self.secret
        if secret.path_segment is not None:
            segment, slash, rest = path[1:].partition("/")
            if _same(segment, secret.path_segment):
                path = slash + rest or "/"
                raw = scope.get("raw_path")
                raw_path = raw[len(secret.path_segment) + 1 :] if raw else path.encode()
                scope = dict(scope, path=path, raw_path=raw_path)
            elif path not in OPEN_PATHS:
                self.refused[NO_SECRET_PATH] += 1
                await _refuse(send, 404, "not found")
                return
        if path in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if secret.header_name is not None and secret.header_value is not None:
            name = secret.header_name.encode()
            given = next((v for k, v in scope["headers"] if k == name), b"")
            if not _same(given.decode("latin-1"), secret.header_value):
                self.refused[NO_SECRET_HEADER] += 1
                await _refuse(send, 401, f"missing or wrong {secret.header_name} header")
                return
        if (
            not secret.configured
            and path.startswith(CONTROL_PREFIX)
            and not is_loopback_client(scope)
        ):
            self.refused[CONTROL_OFF_LOOPBACK] += 1
            await _refuse(
                send,
                403,
                "the receiver's control API answers loopback clients only, unless the"
                " receiver has a secret (--secret-path or --require-header)",
            )
            return
        await self.app(scope, receive, send)
