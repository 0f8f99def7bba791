"""Admin corrections of bags: move a child, take it out, take a parent off its bill, reassign a parent
(with its children) to another area, delete a bag created by mistake.

Each is an operation of the domain rules applied by the batch writer, as a scan is (see
`hub.api.operations`): audited with before and after in the batch's transaction, recorded in the
bag's history, and seen live on the dashboards.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.api.access import requires
from hub.api.operations import perform
from hub.api.params import bad_json, json_object, strings
from hub.codes import Code
from hub.domain.bagcodes import normalise
from hub.domain.rules import Actor, DeleteBag, MoveChild, Operation, Outcome, ReassignArea, Role, TakeOffBill, TakeOut


def _code(request: Request) -> str:
    return normalise(request.path_params["code"])


async def _correct(request: Request, actor: Actor, operation: Operation) -> Response:
    return await perform(request, actor, operation, Outcome(Code.UNKNOWN_BAG, {"bag": _code(request)}))


@requires(Role.ADMIN)
async def move(request: Request, actor: Actor) -> Response:
    """Admin: move a child bag into another parent bag of its dispatch area.
    ---
    summary: Move a child to another parent
    tags: [corrections]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}, description: the child bag}
      - {name: Idempotency-Key, in: header, schema: {type: string, pattern: "^[A-Za-z0-9_-]{1,64}$"}}
    requestBody:
      required: true
      content: {application/json: {schema: {type: object, required: [parent], properties: {parent: {type: string}}}}}
    responses:
      "200":
        description: Moved; data is the new parent's count, the child and the parent it left
        content: {application/json: {schema: {type: object, properties: {result: {const: OK}, data: {type: object}}}}}
      "400":
        $ref: "#/components/responses/Error"
        description: "BAD_REQUEST, INVALID_TEXT, INVALID_CODE, NOT_A_CHILD, NOT_A_PARENT"
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BAG, UNKNOWN_PARENT"}
      "409":
        $ref: "#/components/responses/Error"
        description: "NOT_IN_PARENT, ALREADY_IN_PARENT, PARENT_ON_BILL, PARENT_FULL, WRONG_AREA"
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "503":
        $ref: "#/components/responses/Error"
        description: "BUSY: the hub could not store it just now; send it again (with the same Idempotency-Key)"
    """
    body = await json_object(request)
    if not strings(body, "parent"):
        return bad_json('"parent": the code of the parent bag to move the child into')
    return await _correct(request, actor, MoveChild(_code(request), normalise(body["parent"])))


@requires(Role.ADMIN)
async def take_out(request: Request, actor: Actor) -> Response:
    """Admin: take a child bag out of its parent (it stays, loose).
    ---
    summary: Take a child out of its parent
    tags: [corrections]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}, description: the child bag}
      - {name: Idempotency-Key, in: header, schema: {type: string, pattern: "^[A-Za-z0-9_-]{1,64}$"}}
    responses:
      "200":
        description: Taken out; data is the parent's new count and the parent it left
        content: {application/json: {schema: {type: object, properties: {result: {const: OK}, data: {type: object}}}}}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_CODE, NOT_A_CHILD"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BAG"}
      "409": {$ref: "#/components/responses/Error", description: "NOT_IN_PARENT, PARENT_ON_BILL"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "503":
        $ref: "#/components/responses/Error"
        description: "BUSY: the hub could not store it just now; send it again (with the same Idempotency-Key)"
    """
    return await _correct(request, actor, TakeOut(_code(request)))


@requires(Role.ADMIN)
async def take_off_bill(request: Request, actor: Actor) -> Response:
    """Admin: take a parent bag off its open bill.
    ---
    summary: Take a parent off its bill
    tags: [corrections]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}, description: the parent bag}
      - {name: Idempotency-Key, in: header, schema: {type: string, pattern: "^[A-Za-z0-9_-]{1,64}$"}}
    responses:
      "200":
        description: Taken off; data is the bill's new count and weights
        content: {application/json: {schema: {type: object, properties: {result: {const: OK}, data: {type: object}}}}}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_CODE, NOT_A_PARENT"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BAG"}
      "409": {$ref: "#/components/responses/Error", description: "NOT_ON_BILL, BILL_NOT_OPEN: reopen the bill first"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "503":
        $ref: "#/components/responses/Error"
        description: "BUSY: the hub could not store it just now; send it again (with the same Idempotency-Key)"
    """
    return await _correct(request, actor, TakeOffBill(_code(request)))


@requires(Role.ADMIN)
async def reassign(request: Request, actor: Actor) -> Response:
    """Admin: move a parent bag and every child in it to another dispatch area.
    ---
    summary: Reassign a parent to another area
    tags: [corrections]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}, description: the parent bag}
      - {name: Idempotency-Key, in: header, schema: {type: string, pattern: "^[A-Za-z0-9_-]{1,64}$"}}
    requestBody:
      required: true
      content: {application/json: {schema: {type: object, required: [area], properties: {area: {type: string}}}}}
    responses:
      "200":
        description: Reassigned; data names the new and the former area and the children moved
        content: {application/json: {schema: {type: object, properties: {result: {const: OK}, data: {type: object}}}}}
      "400":
        $ref: "#/components/responses/Error"
        description: "BAD_REQUEST, INVALID_TEXT, INVALID_CODE, NOT_A_PARENT, UNKNOWN_AREA"
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BAG"}
      "409":
        $ref: "#/components/responses/Error"
        description: "SAME_AREA, PARENT_ON_BILL: take it off the bill first"
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "503":
        $ref: "#/components/responses/Error"
        description: "BUSY: the hub could not store it just now; send it again (with the same Idempotency-Key)"
    """
    body = await json_object(request)
    if not strings(body, "area"):
        return bad_json('"area": the name of the dispatch area')
    return await _correct(request, actor, ReassignArea(_code(request), body["area"]))


@requires(Role.ADMIN)
async def delete(request: Request, actor: Actor) -> Response:
    """Admin: delete a bag created by mistake: empty, in no parent, on no bill. Its history stays.
    ---
    summary: Delete a bag
    tags: [corrections]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}}
      - {name: Idempotency-Key, in: header, schema: {type: string, pattern: "^[A-Za-z0-9_-]{1,64}$"}}
    responses:
      "200":
        description: Deleted; data is the bag's code, kind and area
        content: {application/json: {schema: {type: object, properties: {result: {const: OK}, data: {type: object}}}}}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_CODE"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BAG"}
      "409": {$ref: "#/components/responses/Error", description: "BAG_NOT_EMPTY, BAG_IN_PARENT, BAG_ON_BILL"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "503":
        $ref: "#/components/responses/Error"
        description: "BUSY: the hub could not store it just now; send it again (with the same Idempotency-Key)"
    """
    return await _correct(request, actor, DeleteBag(_code(request)))


routes = [
    Route("/api/bags/{code}/move", move, methods=["POST"]),
    Route("/api/bags/{code}/take-out", take_out, methods=["POST"]),
    Route("/api/bags/{code}/take-off-bill", take_off_bill, methods=["POST"]),
    Route("/api/bags/{code}/reassign", reassign, methods=["POST"]),
    Route("/api/bags/{code}", delete, methods=["DELETE"]),
]
