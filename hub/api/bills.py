"""Reading bills: one bill with its parents and weights, and the bills list.

Bills are billers' and admins' work; a biller sees only bills of their own dispatch area; another
area's bill answers exactly as a number that does not exist (404 UNKNOWN_BILL).
Changes to bills go through the batch writer.
"""

from __future__ import annotations

from typing import Any

import asyncpg
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
from hub.store import bills as store


def bill_item(row: asyncpg.Record) -> dict[str, Any]:
    """A bill as the bills list shows it."""
    return {"code": row["code"], "area": row["area"], "status": row["status"], "parent_count": row["parent_count"],
            "capacity": row["capacity"], "destination": row["destination"], "vehicle": row["vehicle"],
            "created_at": iso(row["created_at"]), "completed_at": iso(row["completed_at"])}


@requires(Role.ADMIN, Role.BILLER)
async def show(request: Request, actor: Actor) -> Response:
    """Biller, admin: a bill with its parents and weights (the dispatch manifest's content).
    ---
    summary: Read a bill
    tags: [bills]
    parameters:
      - {name: code, in: path, required: true, description: "normalised like a scan", schema: {type: string}}
    responses:
      "200":
        description: The bill
        content:
          application/json:
            schema:
              type: object
              properties:
                bill:
                  type: object
                  properties:
                    code: {type: string}
                    area: {type: string}
                    status: {type: string, enum: [open, completed]}
                    capacity: {type: integer}
                    parent_count: {type: integer}
                    destination: {type: string}
                    vehicle: {type: string}
                    actual_kg: {type: string, description: "the parents' children, 1 kg each"}
                    expected_kg: {type: string}
                    created_at: {type: string, format: date-time}
                    created_by: {type: [string, "null"]}
                    completed_at: {type: [string, "null"], format: date-time}
                    parents:
                      type: array
                      items:
                        type: object
                        properties:
                          code: {type: string}
                          child_count: {type: integer}
                          expected_kg: {type: string}
                          added_at: {type: string, format: date-time}
                          added_by: {type: [string, "null"]}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: a dispatcher"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BILL: no such bill, or one of another area"}
    """
    db = request.app.state.hub.pool
    row = await store.find(db, normalise(request.path_params["code"]))
    if row is None or not actor.may_enter(row["area"]):
        return api_error(ApiCode.UNKNOWN_BILL)
    parents = [{"code": p["code"], "child_count": p["child_count"], "expected_kg": kg(p["expected_kg"]),
                "added_at": iso(p["added_at"]), "added_by": p["added_by"]} for p in await store.parents(db, row["id"])]
    return JSONResponse({"bill": {**bill_item(row), "actual_kg": kg(row["actual_kg"]),
                                  "expected_kg": kg(row["expected_kg"]), "created_by": row["created_by"],
                                  "parents": parents}})


@requires(Role.ADMIN, Role.BILLER)
async def listing(request: Request, actor: Actor) -> Response:
    """Biller, admin: bills, newest first, by status, area, text in destination or vehicle, and creation date.
    ---
    summary: List bills
    tags: [bills]
    parameters:
      - {name: status, in: query, schema: {type: string, enum: [open, completed]}}
      - {name: area, in: query, description: "a non-admin may name only their own", schema: {type: string}}
      - {name: q, in: query, description: "text in the destination or the vehicle, any case", schema: {type: string}}
      - {name: from, in: query, description: "ISO date or date-time, included", schema: {type: string}}
      - {name: to, in: query, description: "ISO date (included) or date-time (excluded)", schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200, default: 50}}
      - {name: after, in: query, description: "the previous page's next", schema: {type: string}}
    responses:
      "200":
        description: One page of bills
        content:
          application/json:
            schema:
              type: object
              properties:
                bills:
                  type: array
                  items:
                    type: object
                    properties:
                      code: {type: string}
                      area: {type: string}
                      status: {type: string}
                      parent_count: {type: integer}
                      capacity: {type: integer}
                      destination: {type: string}
                      vehicle: {type: string}
                      created_at: {type: string, format: date-time}
                      completed_at: {type: [string, "null"], format: date-time}
                next: {type: [string, "null"]}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_FILTER, INVALID_CURSOR"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: a dispatcher; another area"}
    """
    hub = request.app.state.hub
    flt = filters.bill_filter(request.query_params, actor, hub.settings.zone).filter
    wanted = filters.page(request.query_params, Order.BILLS)
    found = await hub.reads.read(store.list_bills, flt, wanted.after, wanted.limit)
    return JSONResponse({"bills": [bill_item(r) for r in found.rows], "next": cursor.encode(Order.BILLS, found.next)})


routes = [
    Route("/api/bills", listing, methods=["GET"]),
    Route("/api/bills/{code}", show, methods=["GET"]),
]
