"""The mock against its own OpenAPI document: schemathesis-fuzzed requests, and the schema itself.

The mock is served by uvicorn on loopback; schemathesis reads ``/openapi.json`` from it and
sends generated requests (valid and invalid) with the bearer token. No customer endpoints are
configured, so the pipeline after a 204 runs without calling out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from importlib import resources
from typing import Any

import httpx
import jsonschema_rs
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from dumgum_loadtest.mock import DEFAULT_TOKEN, ENQUEUE_PATH, MockConfig, create_mock_app
from dumgum_loadtest.schema.enums import ChatModel, Language
from dumgum_loadtest.serving import BackgroundServer

pytestmark = pytest.mark.integration

AUTH_HEADERS = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
MAX_EXAMPLES = 150

# (method, path, generation mode, a status that must turn up at least once, so the run is not
# vacuous: every request refused at the door, say). Health takes no input: no negative cases.
FUZZED = [
    ("POST", ENQUEUE_PATH, GenerationMode.POSITIVE, 204),
    ("POST", ENQUEUE_PATH, GenerationMode.NEGATIVE, 422),
    ("GET", "/health", GenerationMode.POSITIVE, 200),
]


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    # Tiny time scale: accepted enqueues run their whole (call-free) pipeline during the test.
    app = create_mock_app(MockConfig(time_scale=0.001, seed=7), [DEFAULT_TOKEN])
    with BackgroundServer(app) as server:
        yield server.url


@pytest.fixture(scope="module")
def openapi(mock_url: str) -> dict[str, Any]:
    response = httpx.get(f"{mock_url}/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


@pytest.fixture(scope="module")
def mock_schema(mock_url: str) -> Any:
    """The document the mock serves, with every generated request sent to the mock on loopback."""
    config = schemathesis.Config.from_dict({"base-url": mock_url, "headers": AUTH_HEADERS})
    return schemathesis.openapi.from_url(f"{mock_url}/openapi.json", config=config)


def test_the_fuzzed_operations_are_all_the_documented_ones(mock_schema: Any) -> None:
    labels = {result.ok().label for result in mock_schema.get_all_operations()}
    assert labels == {f"{method} {path}" for method, path, _, _ in FUZZED}


# schemathesis.pytest.from_fixture() cannot be used: under pytest 9 its lazy loader sets the
# removed private ``Function._nodeid``. The operation's strategy under plain @given is the same.
@pytest.mark.parametrize(("method", "path", "mode", "seen_status"), FUZZED, ids=str)
def test_no_server_error_and_only_documented_statuses(
    mock_schema: Any,
    mock_url: str,
    method: str,
    path: str,
    mode: GenerationMode,
    seen_status: int,
) -> None:
    operation = mock_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        response = case.call_and_validate(
            base_url=mock_url,
            headers=AUTH_HEADERS,
            checks=[not_a_server_error, status_code_conformance],
        )
        statuses[response.status_code] += 1

    statuses: Counter[int] = Counter()
    check()
    # Guard against a vacuous pass (every request turned away at the door, say).
    assert statuses[seen_status] > 0, statuses


def _enqueue_schema_validator(document: dict[str, Any]) -> jsonschema_rs.Validator:
    """A validator for EnqueueRequest that resolves ``#/components/schemas/...`` refs."""
    root = {
        **document["components"]["schemas"]["EnqueueRequest"],
        "components": document["components"],
    }
    return jsonschema_rs.Draft202012Validator(root)


def test_enqueue_schema_lists_every_language_and_chat_model(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert sorted(schemas["Language"]["enum"]) == sorted(lang.value for lang in Language)
    assert len(schemas["Language"]["enum"]) == 39
    assert sorted(schemas["ChatModel"]["enum"]) == sorted(model.value for model in ChatModel)
    assert len(schemas["ChatModel"]["enum"]) == 4
    operation = openapi["paths"][ENQUEUE_PATH]["post"]
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/EnqueueRequest"


def test_reference_example_is_valid_under_the_published_schema(openapi: dict[str, Any]) -> None:
    example = orjson.loads(
        resources.files("dumgum_loadtest").joinpath("data/enqueue-example.json").read_bytes()
    )
    validator = _enqueue_schema_validator(openapi)
    errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(example)]
    assert errors == []
    # And the schema is not vacuous: a wrong language is refused.
    assert not validator.is_valid({**example, "language": "XX"})
