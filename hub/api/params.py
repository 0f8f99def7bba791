"""Reading what an API request sends: a JSON object body and ids in the path, checked once here.

Every string of every body (keys included, at any depth) obeys `hub.domain.text`, so no handler
ever sees a NUL, an unpaired surrogate or an invisible character, and none reaches PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.api.errors import ApiError, api_error
from hub.codes import ApiCode
from hub.domain.text import text_problem

MAX_TEXT = 1024
"""The longest string any field of a body may hold; each field may have a tighter bound of its own."""
MAX_ID = 2**63 - 1
"""Ids are PostgreSQL bigints."""


def _check_text(value: Any, where: str) -> None:
    if isinstance(value, str):
        problem = text_problem(value, MAX_TEXT)
        if problem is not None:
            raise ApiError(ApiCode.INVALID_TEXT, f"{where} {problem}.")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, f"A field name in {where}")
            _check_text(item, f'"{key[:40]}"')
    elif isinstance(value, list):
        for item in value:
            _check_text(item, where)


async def json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object of acceptable text, or ApiError BAD_REQUEST / INVALID_TEXT."""
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ApiError(ApiCode.BAD_REQUEST, "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApiError(ApiCode.BAD_REQUEST, "The body must be a JSON object.")
    _check_text(body, "the body")
    return body


def strings(body: dict[str, Any], *names: str) -> bool:
    """Each of `names` is a string in `body`."""
    return all(isinstance(body.get(name), str) for name in names)


def bad_json(expected: str) -> JSONResponse:
    """The answer to a body that lacks what the endpoint expects, which `expected` describes."""
    return api_error(ApiCode.BAD_REQUEST, f"Send a JSON object with {expected}.")


def path_id(request: Request, name: str) -> int:
    """The path parameter `name` as an id from 1 to 2^63-1, or ApiError INVALID_ID."""
    raw = request.path_params[name]
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= MAX_ID):
        raise ApiError(ApiCode.INVALID_ID, f"{raw[:40]!r} is not an id: use a whole number from 1 to 2^63-1.")
    return int(raw)
