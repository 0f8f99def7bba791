"""Operations sent over HTTP go through the one batch writer, as a scan does, and come back as answers.

An HTTP operation is a device of its own with one operation (seq 1): `api:<user id>:<key>` when the
request names an `Idempotency-Key`, so that a retried request is answered with the recorded result
(the writer's replay) and applied once; else a fresh `api:<random>`, applied once by construction.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from hub.api.errors import ApiError
from hub.batch import Result, Submission
from hub.codes import ApiCode, Code
from hub.domain.rules import Actor, Operation, Outcome, Role
from hub.protocol import DEVICE_PATTERN

if TYPE_CHECKING:
    from hub.app import Hub

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")
RETRY_AFTER_SECONDS = 1

_INPUT = frozenset({Code.BAD_REQUEST, Code.INVALID_CODE, Code.NOT_A_PARENT, Code.NOT_A_CHILD, Code.INVALID_BILL,
                    Code.AREA_REQUIRED, Code.UNKNOWN_AREA})
_UNKNOWN = frozenset({Code.UNKNOWN_BAG, Code.UNKNOWN_PARENT, Code.UNKNOWN_BILL})


def idempotency_key(request: Request) -> str | None:
    """The request's `Idempotency-Key` (1-64 of A-Z a-z 0-9 _ -), None without one; else BAD_REQUEST."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not IDEMPOTENCY_KEY.fullmatch(key):
        raise ApiError(ApiCode.BAD_REQUEST, f"{IDEMPOTENCY_HEADER} is 1 to 64 characters of A-Z a-z 0-9 _ -.")
    return key


def device_for(actor: Actor, key: str | None) -> str:
    """The writer's device id for one HTTP operation (see the module's docstring).

    A key too long to fit the 64 characters of a device id with the user id is replaced by its hash,
    which is as stable."""
    if key is None:
        return f"api:{uuid.uuid4().hex}"
    device = f"api:{actor.user_id}:{key}"
    if not DEVICE_PATTERN.fullmatch(device):
        device = f"api:{actor.user_id}:{hashlib.sha256(key.encode()).hexdigest()[:40]}"
    return device


async def submit(hub: Hub, actor: Actor, operation: Operation, key: str | None) -> Result:
    """Apply `operation` for `actor` through the batch writer; wait for its committed result."""
    device = device_for(actor, key)
    # A retried request is a reconnect: a RETRY told to the first attempt must not hold this one.
    hub.writer.unblock(device)
    return await hub.writer.submit(Submission(device=device, seq=1, actor=actor, operation=operation))


def status_of(code: Code) -> int:
    """The HTTP status of a writer's result code."""
    if code is Code.OK:
        return 200
    if code.retry:
        return 503
    if code in _INPUT:
        return 400
    if code is Code.FORBIDDEN:
        return 403
    if code in _UNKNOWN:
        return 404
    return 409


def answer(result: Result, actor: Actor, unknown: Outcome) -> JSONResponse:
    """A writer's result as the HTTP answer.

    OK: 200 `{"result": "OK", "data"}`; a rejection: `{"error", "message", "data"}` with its status;
    RETRY or RATE_LIMITED: 503 BUSY with Retry-After. A non-admin's WRONG_AREA is answered as
    `unknown` (what a code that does not exist gets), so no other area's bag or bill can be inferred.
    """
    outcome = result.outcome
    headers = {"Idempotent-Replayed": "true"} if result.replay else None
    if outcome.ok:
        return JSONResponse({"result": Code.OK.value, "data": outcome.data}, headers=headers)
    if outcome.code.retry:
        return JSONResponse({"error": ApiCode.BUSY.value, "message": outcome.code.message, "data": {}},
                            status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if outcome.code is Code.WRONG_AREA and actor.role is not Role.ADMIN:
        outcome = unknown
    body: dict[str, Any] = {"error": outcome.code.value, "message": outcome.code.message, "data": outcome.data}
    return JSONResponse(body, status_code=status_of(outcome.code), headers=headers)


async def perform(request: Request, actor: Actor, operation: Operation, unknown: Outcome) -> JSONResponse:
    """The whole of an operation endpoint after reading its input: submit, then answer."""
    key = idempotency_key(request)
    result = await submit(request.app.state.hub, actor, operation, key)
    return answer(result, actor, unknown)
