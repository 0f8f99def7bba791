"""/openapi.json: the OpenAPI 3.1 document of the HTTP API, built from the endpoints' own docstrings.

Each endpoint's docstring is a one-line summary, a line `---`, then YAML: its OpenAPI Operation
object (Starlette's `SchemaGenerator` reads it). Schemas are written inline in each operation; the
shared parts are the components below. An error response refers to `#/components/responses/Error`
and may name its codes at the start of its description (`"404": {$ref: "#/components/responses/Error",
description: "UNKNOWN_USER"}`, several separated by commas, then optionally `: ` and words, where a
code in backticks also counts); `tests/test_openapi.py` checks each is a code of `hub.codes`.
The document describes the API and holds no data, so anyone may read it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.schemas import SchemaGenerator

from hub.auth import COOKIE_NAME

BASE: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "TraceTrack Hub",
        "version": "1",
        "description": "The hub's JSON API. Errors are `{\"error\": CODE, \"message\": str}` with the codes of "
                       "docs/protocol.md section 15; state-changing requests must come from the hub's own "
                       "origin and send JSON. The websockets are specified in docs/protocol.md.",
    },
    "security": [{"session": []}],
    "components": {
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": COOKIE_NAME,
                        "description": "The session cookie set by POST /api/login."},
            "metricsToken": {"type": "http", "scheme": "bearer",
                             "description": "METRICS_TOKEN, for the Prometheus scraper."},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error", "message"],
                "properties": {
                    "error": {"type": "string", "description": "A stable code (docs/protocol.md section 15)."},
                    "message": {"type": "string", "description": "What went wrong, for people."},
                    "data": {"type": "object", "description": "Details some errors carry."},
                },
            },
        },
        "responses": {
            "Error": {
                "description": "An error, with a stable code and a message for people.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
        },
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "description": "1-64 characters of A-Z a-z 0-9 _ -: a retried request with the same key is "
                               "answered with the first one's result and changes nothing more.",
                "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"},
            },
        },
    },
}

generator = SchemaGenerator(BASE)


def document(routes: list[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI document of these routes."""
    return generator.get_schema(routes)


async def openapi(request: Request) -> Response:
    """The OpenAPI document of this API.
    ---
    summary: The OpenAPI document
    tags: [meta]
    security: []
    responses:
      "200":
        description: This document
        content: {application/json: {schema: {type: object}}}
    """
    state = request.app.state
    if not hasattr(state, "openapi"):
        state.openapi = document(request.app.routes)
    return JSONResponse(state.openapi)


routes = [Route("/openapi.json", openapi, methods=["GET"])]
