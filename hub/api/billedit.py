"""Editing a bill's destination and vehicle, through the batch writer like every bill change.

A finished bill may be edited too: a lorry swapped or a number plate mistyped is found when the bill
is already closed, and fixing those words changes none of the bill's parents or weights. The edit is
audited with the text before and after.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api.access import requires
from hub.api.operations import perform
from hub.api.params import bad_json, json_object
from hub.codes import Code
from hub.domain.bagcodes import normalise
from hub.domain.rules import Actor, EditBill, Outcome, Role

FIELDS = ("destination", "vehicle")


def _field(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


@requires(Role.ADMIN, Role.BILLER)
async def edit(request: Request, actor: Actor) -> Response:
    """Biller of the bill's area, admin: change a bill's destination or vehicle, open or finished.
    ---
    summary: Edit a bill's destination and vehicle
    tags: [bills]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}}
      - {name: Idempotency-Key, in: header, schema: {type: string, pattern: "^[A-Za-z0-9_-]{1,64}$"}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            minProperties: 1
            additionalProperties: false
            properties: {destination: {type: string, maxLength: 200}, vehicle: {type: string, maxLength: 200}}
    responses:
      "200":
        description: Edited; data is the bill with its destination and vehicle
        content: {application/json: {schema: {type: object, properties: {result: {const: OK}, data: {type: object}}}}}
      "400": {$ref: "#/components/responses/Error", description: "BAD_REQUEST, INVALID_TEXT, INVALID_BILL"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: a dispatcher"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BILL: no such bill, or one of another area"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "503":
        $ref: "#/components/responses/Error"
        description: "BUSY: the hub could not store it just now; send it again (with the same Idempotency-Key)"
    """
    body = await json_object(request)
    given = {name: _field(body, name) for name in FIELDS if name in body}
    if not given or None in given.values() or set(body) - set(FIELDS):
        return bad_json('"destination" or "vehicle" (or both) as strings, and nothing else')
    code = normalise(request.path_params["code"])
    operation = EditBill(code, destination=given.get("destination"), vehicle=given.get("vehicle"))
    return await perform(request, actor, operation, Outcome(Code.UNKNOWN_BILL, {"bill": code}))


routes = [Route("/api/bills/{code}", edit, methods=["PATCH"])]
