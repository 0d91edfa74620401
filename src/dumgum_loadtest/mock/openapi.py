"""The mock's OpenAPI 3.1 document, generated from the same models that validate requests."""

from __future__ import annotations

from functools import cache
from typing import Any

from dumgum_loadtest.schema.request import EnqueueRequest

_REF = "#/components/schemas/{model}"

_PROBLEM = {
    "type": "object",
    "properties": {
        "error": {"type": "string"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "value": {"type": "string"},
                    "problem": {"type": "string"},
                },
            },
        },
    },
    "required": ["error", "detail"],
}


def _problem_response(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


@cache
def openapi_document() -> dict[str, Any]:
    schema = EnqueueRequest.model_json_schema(ref_template=_REF)
    components = dict(schema.pop("$defs", {}))
    components["EnqueueRequest"] = schema
    components["Problem"] = _PROBLEM
    enqueue = {
        "operationId": "content-creation-conversations-enqueue",
        "summary": "Enqueue a conversation to be processed asynchronously",
        "tags": ["content-creation"],
        "security": [{"bearerAuth": []}],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EnqueueRequest"}}
            },
        },
        "responses": {
            "204": {"description": "No Content: the reply arrives later by webhook."},
            "400": _problem_response("The body is not a JSON object (mock assumption)."),
            "401": _problem_response("No bearer token, or an unknown one (mock assumption)."),
            "422": _problem_response("Schema violation; every offending field is listed."),
            "429": _problem_response("Injected rate limit, with Retry-After (mock fault)."),
            "503": _problem_response("Injected server error (mock fault)."),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "DumGum (dumgum-loadtest mock)",
            "version": "2.0",
            "description": "The enqueue endpoint as the mock serves it, per the enqueue reference.",
        },
        "servers": [{"url": "https://api.dumgum.com"}, {"url": "https://api.v2.dumgum.com"}],
        "paths": {
            "/cs/v1/content_creation/conversations/enqueue": {"post": enqueue},
            "/health": {
                "get": {
                    "operationId": "mock-health",
                    "responses": {"200": {"description": "The mock accepts traffic."}},
                }
            },
        },
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT | Access Key",
                }
            },
        },
    }
