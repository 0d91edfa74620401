"""The enqueue POST answers the same whichever way it comes in.

A POST that declares its length within the body limit skips Starlette's router and middleware
(``mock.app._MockApp``); a chunked one still goes through them and ``BodyLimit``. Each request
below is sent both ways and must get the same status, headers that matter, body and ledger
counts: what a customer's client sees cannot depend on how its body was framed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from tests.conftest import body

from dumgum_loadtest.mock import ENQUEUE_PATH
from dumgum_loadtest.mock.app import create_mock_app
from dumgum_loadtest.mock.config import MockConfig
from dumgum_loadtest.serving import BackgroundServer

pytestmark = pytest.mark.integration

TOKEN = "sk-proj-fast-path"
AUTH = f"Bearer {TOKEN}"
LIMIT_BYTES = 4096


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    app = create_mock_app(MockConfig(time_scale=0.01), [TOKEN], max_body_bytes=LIMIT_BYTES)
    with BackgroundServer(app) as server:
        yield server.url


def _chunked(content: bytes) -> Iterator[bytes]:
    """The body without a Content-Length (httpx sends an iterator chunked)."""
    for start in range(0, len(content), 7):
        yield content[start : start + 7]


def _post(
    url: str, content: bytes, headers: dict[str, str], *, chunked: bool
) -> tuple[int, dict[str, str], bytes]:
    with httpx.Client(base_url=url, timeout=10) as client:
        response = client.post(
            ENQUEUE_PATH, content=_chunked(content) if chunked else content, headers=headers
        )
    kept = {
        name: response.headers[name]
        for name in ("content-type", "content-length", "retry-after")
        if name in response.headers
    }
    return response.status_code, kept, response.content


def _ledger(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/_mock/ledger", headers={"Authorization": AUTH}, timeout=10)
    response.raise_for_status()
    ledger: dict[str, Any] = response.json()
    return ledger


def _both_ways(
    url: str, content: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    """Send ``content`` framed both ways; assert identical answers and ledger deltas."""
    answers = []
    deltas = []
    for chunked in (False, True):
        before = _ledger(url)
        answers.append(_post(url, content, headers, chunked=chunked))
        after = _ledger(url)
        deltas.append(
            {
                "received": after["enqueues_received"] - before["enqueues_received"],
                "accepted": after["enqueues_accepted"] - before["enqueues_accepted"],
                "rejected": {
                    status: count - before["enqueues_rejected"].get(status, 0)
                    for status, count in after["enqueues_rejected"].items()
                    if count != before["enqueues_rejected"].get(status, 0)
                },
            }
        )
    fast, routed = answers
    routed_headers = {k: v for k, v in routed[1].items() if k != "content-length"}
    fast_headers = {k: v for k, v in fast[1].items() if k != "content-length"}
    assert (fast[0], fast_headers, fast[2]) == (routed[0], routed_headers, routed[2])
    assert deltas[0] == deltas[1]
    assert deltas[0]["received"] == 1
    return fast


JSON = {"Content-Type": "application/json"}


def test_a_valid_enqueue_is_answered_204_with_no_body(mock_url: str) -> None:
    status, headers, content = _both_ways(
        mock_url, orjson.dumps(body("fast-u1")), {**JSON, "Authorization": AUTH}
    )
    assert (status, content) == (204, b"")
    assert "content-type" not in headers


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer sk-proj-unknown", f"Basic {TOKEN}"], ids=repr
)
def test_missing_or_wrong_auth_is_401(mock_url: str, authorization: str | None) -> None:
    headers = dict(JSON)
    if authorization is not None:
        headers["Authorization"] = authorization
    status, response_headers, content = _both_ways(mock_url, orjson.dumps(body("fast-u2")), headers)
    assert status == 401
    assert response_headers["content-type"] == "application/json"
    assert orjson.loads(content)["error"] == "unauthorized"


@pytest.mark.parametrize(
    "content",
    [b"{not json", b'["a", "list"]', b"", b"42"],
    ids=["broken", "list", "empty", "number"],
)
def test_a_body_that_is_not_a_json_object_is_400(mock_url: str, content: bytes) -> None:
    status, _, answer = _both_ways(mock_url, content, {**JSON, "Authorization": AUTH})
    assert status == 400
    assert orjson.loads(answer) == {
        "error": "bad_request",
        "detail": "The body must be a JSON object.",
    }


def test_the_content_type_is_not_judged(mock_url: str) -> None:
    """As before the fast path: a JSON body is read whatever Content-Type names it."""
    headers = {"Content-Type": "text/plain", "Authorization": AUTH}
    status, _, _ = _both_ways(mock_url, orjson.dumps(body("fast-u3")), headers)
    assert status == 204


def test_validation_errors_are_422_with_every_field(mock_url: str) -> None:
    invalid = body("fast-u4", language="XX", params={"bufferSeconds": "999"})
    status, _, answer = _both_ways(mock_url, orjson.dumps(invalid), {**JSON, "Authorization": AUTH})
    assert status == 422
    problem = orjson.loads(answer)
    assert problem["error"] == "invalid_request"
    assert problem["detail"] == "2 invalid field(s)."
    assert {e["field"] for e in problem["errors"]} == {"language", "replyParameters.bufferSeconds"}


def test_the_capability_rule_is_422(mock_url: str) -> None:
    rule_broken = body("fast-u5", params={"icebreakerType": "NEARBY"})
    status, _, answer = _both_ways(
        mock_url, orjson.dumps(rule_broken), {**JSON, "Authorization": AUTH}
    )
    assert status == 422
    assert orjson.loads(answer)["errors"][0]["field"] == "replyParameters.icebreakerType"


def test_a_body_over_the_limit_is_413_either_way(mock_url: str) -> None:
    huge = orjson.dumps(body("fast-u6", tags={"blob": "x" * LIMIT_BYTES}))
    status, _, answer = _both_ways(mock_url, huge, {**JSON, "Authorization": AUTH})
    assert status == 413
    assert orjson.loads(answer)["max_body_bytes"] == LIMIT_BYTES


def test_a_body_just_within_the_limit_is_accepted(mock_url: str) -> None:
    request = body("fast-u7", tags={"pad": ""})
    padding = LIMIT_BYTES - len(orjson.dumps(request))
    request["tags"]["pad"] = "x" * padding
    content = orjson.dumps(request)
    assert len(content) == LIMIT_BYTES
    status, _, _ = _both_ways(mock_url, content, {**JSON, "Authorization": AUTH})
    assert status == 204


def test_other_methods_on_the_enqueue_path_are_still_405(mock_url: str) -> None:
    response = httpx.get(f"{mock_url}{ENQUEUE_PATH}", headers={"Authorization": AUTH})
    assert response.status_code == 405


def test_injected_429_and_503_faults(mock_url: str) -> None:
    headers = {**JSON, "Authorization": AUTH}

    def patch(faults: dict[str, Any]) -> None:
        response = httpx.patch(
            f"{mock_url}/_mock/config", json={"faults": faults}, headers=headers, timeout=10
        )
        response.raise_for_status()

    try:
        patch({"enqueue_429_rate": 1.0, "retry_after_s": 7})
        status, response_headers, answer = _both_ways(
            mock_url, orjson.dumps(body("fast-u8")), headers
        )
        assert (status, response_headers["retry-after"]) == (429, "7")
        assert orjson.loads(answer)["error"] == "rate_limited"
        patch({"enqueue_429_rate": 0.0, "enqueue_5xx_rate": 1.0})
        status, _, answer = _both_ways(mock_url, orjson.dumps(body("fast-u9")), headers)
        assert status == 503
        assert orjson.loads(answer)["error"] == "unavailable"
    finally:
        patch({"enqueue_429_rate": 0.0, "enqueue_5xx_rate": 0.0})
