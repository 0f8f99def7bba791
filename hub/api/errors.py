"""How the HTTP API answers failures: a JSON body with a stable code, never a traceback.

Endpoints return `error(...)` or raise `ApiError`; Starlette's own 404 and 405 get the same shape;
and `LastResort` turns whatever else escapes into a 500 with a code, the traceback going to the
log only, except PostgreSQL out of reach, which is answered 503 BUSY with Retry-After.
"""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.codes import ApiCode
from hub.database import UNAVAILABLE

logger = logging.getLogger("tracetrack.errors")

DATABASE_RETRY_AFTER = "1"
"""Seconds a client is told to wait before it sends again a request that found PostgreSQL away."""
DATABASE_AWAY = "The hub cannot reach its database just now; try again in a moment."


def error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error as every API endpoint answers it: a stable code and a sentence for people."""
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def api_error(code: ApiCode, message: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """`error` for a code of the API table, with its status and (unless given) its message."""
    return error(code.status, code.value, message or code.message, headers)


class ApiError(Exception):
    """Raised where a request cannot go on (a malformed body, a bad id); answered as `api_error`."""

    def __init__(self, code: ApiCode, message: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or code.message)
        self.code = code
        self.message = message or code.message
        self.headers = headers


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return api_error(exc.code, exc.message, exc.headers)


_HTTP_CODES = {404: ApiCode.NOT_FOUND, 405: ApiCode.METHOD_NOT_ALLOWED}


async def on_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's routing errors (no such path, wrong method) in the API's shape."""
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code)
    if code is None:
        return error(exc.status_code, ApiCode.BAD_REQUEST.value, str(exc.detail), dict(exc.headers or {}))
    return api_error(code, headers=dict(exc.headers or {}))


exception_handlers = {ApiError: on_api_error, HTTPException: on_http_exception}


class LastResort:
    """Pure ASGI middleware: an exception no handler answered becomes a 500 with INTERNAL_ERROR
    (or, when it says PostgreSQL is out of reach, a 503 BUSY that tells the client to send again).

    The traceback is logged here, once; the client sees the code and a sentence. If the answer had
    already begun, it is cut short (nothing else can be done) and the error still logged.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_tracked)
        except UNAVAILABLE as exc:
            logger.warning("PostgreSQL unavailable answering %s %s (%s)", scope["method"], scope["path"], exc)
            if not started:
                answer = api_error(ApiCode.BUSY, DATABASE_AWAY, {"Retry-After": DATABASE_RETRY_AFTER})
                await answer(scope, receive, send)
        except Exception:
            logger.exception("unexpected error answering %s %s", scope["method"], scope["path"])
            if not started:
                await api_error(ApiCode.INTERNAL_ERROR)(scope, receive, send)
