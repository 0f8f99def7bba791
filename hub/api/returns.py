"""Reading return tickets: the returns page lists them and shows one with its parents.

Tickets change only through the scanner websocket (ops `return_*`, docs/protocol.md), so these are
reads. A non-admin sees their own area's tickets only; another area's ticket is answered exactly as
one that does not exist.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api import cursor, filters
from hub.api.access import requires
from hub.api.cursor import Order
from hub.api.errors import api_error
from hub.api.times import iso
from hub.codes import ApiCode
from hub.domain.bagcodes import normalise
from hub.domain.rules import Actor, Role, kg
from hub.store import returns as store


def _ticket(row: Any) -> dict[str, Any]:
    return {"code": row["code"], "area": row["area"], "status": row["status"], "parent_count": row["parent_count"],
            "created_at": iso(row["created_at"]), "created_by": row["created_by"],
            "closed_at": iso(row["closed_at"]), "closed_by": row["closed_by"]}


@requires(Role.ADMIN, Role.BILLER)
async def list_returns(request: Request, actor: Actor) -> Response:
    """Return tickets, newest first, a page at a time.
    ---
    summary: List return tickets
    tags: [returns]
    parameters:
      - {name: area, in: query, schema: {type: string}, description: "a non-admin: only their own area"}
      - {name: status, in: query, schema: {type: string, enum: [open, finalised, cancelled]}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200, default: 50}}
      - {name: after, in: query, schema: {type: string}, description: "the `next` of the previous page"}
    responses:
      "200":
        description: One page of tickets
        content:
          application/json:
            schema:
              type: object
              properties:
                returns:
                  type: array
                  items:
                    type: object
                    properties:
                      code: {type: string}
                      area: {type: string}
                      status: {type: string, enum: [open, finalised, cancelled]}
                      parent_count: {type: integer}
                      created_at: {type: string, format: date-time}
                      created_by: {type: [string, "null"]}
                      closed_at: {type: [string, "null"], format: date-time}
                      closed_by: {type: [string, "null"]}
                next: {type: [string, "null"]}
      "400": {$ref: "#/components/responses/Error"}
      "401": {$ref: "#/components/responses/Error"}
      "403": {$ref: "#/components/responses/Error"}
    """
    flt = filters.return_filter(request.query_params, actor).filter
    wanted = filters.page(request.query_params, Order.RETURNS)
    found = await store.list_returns(request.app.state.hub.pool, flt, wanted.after, wanted.limit)
    return JSONResponse({"returns": [_ticket(row) for row in found.rows],
                         "next": cursor.encode(Order.RETURNS, found.next)})


@requires(Role.ADMIN, Role.BILLER)
async def show_return(request: Request, actor: Actor) -> Response:
    """One return ticket with each parent returned on it and the bill it came off.
    ---
    summary: Show a return ticket
    tags: [returns]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}}
    responses:
      "200":
        description: The ticket and its parents
        content:
          application/json:
            schema:
              type: object
              properties:
                return:
                  type: object
                  properties:
                    code: {type: string}
                    area: {type: string}
                    status: {type: string, enum: [open, finalised, cancelled]}
                    parent_count: {type: integer}
                    actual_kg: {type: string}
                    expected_kg: {type: string}
                    parents:
                      type: array
                      items:
                        type: object
                        properties:
                          code: {type: string}
                          child_count: {type: integer}
                          expected_kg: {type: string}
                          returned_at: {type: string, format: date-time}
                          returned_by: {type: [string, "null"]}
                          restored_at: {type: [string, "null"], format: date-time}
                          bill: {type: object, properties: {code: {type: string}, status: {type: string},
                                 parent_count: {type: integer}, capacity: {type: integer}}}
      "401": {$ref: "#/components/responses/Error"}
      "403": {$ref: "#/components/responses/Error"}
      "404": {$ref: "#/components/responses/Error"}
    """
    found = await store.find(request.app.state.hub.pool, normalise(request.path_params["code"][:100]))
    if found is None or not actor.may_enter(found[0]["area"]):
        return api_error(ApiCode.UNKNOWN_RETURN)
    row, parents = found
    return JSONResponse({"return": {
        **_ticket(row),
        "actual_kg": kg(sum(p["child_count"] for p in parents)),
        "expected_kg": kg(sum(p["expected_kg"] for p in parents)),
        "parents": [{"code": p["code"], "child_count": p["child_count"], "expected_kg": kg(p["expected_kg"]),
                     "returned_at": iso(p["returned_at"]), "returned_by": p["returned_by"],
                     "restored_at": iso(p["restored_at"]),
                     "bill": {"code": p["bill"], "status": p["bill_status"], "parent_count": p["bill_count"],
                              "capacity": p["bill_capacity"]}}
                    for p in parents],
    }})


routes = [
    Route("/api/returns", list_returns, methods=["GET"]),
    Route("/api/returns/{code}", show_return, methods=["GET"]),
]
