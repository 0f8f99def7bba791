"""Finding bags: one bag by code with its whole history, and the bags list (prefix search included).

A non-admin sees only bags of their own dispatch area; another area's bag answers exactly as a code
that does not exist (404 UNKNOWN_BAG), so its existence cannot be inferred.
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
from hub.domain.filters import bag_status
from hub.domain.rules import Actor, Role, kg
from hub.domain.timeline import event_kind
from hub.store import bags as store

CHILD_KG = 1


def _kind(row: asyncpg.Record) -> str:
    return "parent" if row["kind"] == "P" else "child"


def _status(row: asyncpg.Record) -> str:
    return bag_status(row["kind"], row["child_count"], row["capacity"], row["bill"] is not None,
                      row["parent"] is not None).value


def bag_item(row: asyncpg.Record) -> dict[str, Any]:
    """A bag as the bags list shows it."""
    return {"code": row["code"], "kind": _kind(row), "area": row["area"], "status": _status(row),
            "child_count": row["child_count"], "capacity": row["capacity"], "created_at": iso(row["created_at"]),
            "parent": row["parent"], "bill": row["bill"]}


def _history_item(row: asyncpg.Record) -> dict[str, Any]:
    return {"at": iso(row["server_time"]), "kind": event_kind(row["op"], row["device_id"]).value, "op": row["op"],
            "code": row["code"], "target": row["target"], "result": row["result"], "user": row["username"],
            "device": row["device_id"], "detail": row["detail"] or {}}


async def _detail(db: Any, row: asyncpg.Record) -> dict[str, Any]:
    parent = row["kind"] == "P"
    bag: dict[str, Any] = {
        "code": row["code"], "kind": _kind(row), "format": row["format"], "capacity": row["capacity"],
        "child_count": row["child_count"], "status": _status(row), "area": row["area"],
        "expected_kg": kg(row["expected_kg"] if parent else CHILD_KG), "created_at": iso(row["created_at"]),
        "created_by": row["created_by"], "completed_at": iso(row["completed_at"])}
    if parent:
        bag["children"] = [{"code": c["code"], "linked_at": iso(c["linked_at"]), "linked_by": c["linked_by"]}
                           for c in await store.children(db, row["id"])]
        bag["bill"] = {"code": row["bill"], "status": row["bill_status"]} if row["bill"] is not None else None
    else:
        bag["parent"] = ({"code": row["parent"], "child_count": row["parent_child_count"],
                          "capacity": row["parent_capacity"]} if row["parent"] is not None else None)
    return bag


@requires()
async def show(request: Request, actor: Actor) -> Response:
    """A bag by code: what it is, where it is, and its history (newest first, at most 500 events).
    ---
    summary: Look up a bag
    tags: [bags]
    parameters:
      - {name: code, in: path, required: true, description: "normalised like a scan", schema: {type: string}}
    responses:
      "200":
        description: The bag and its history
        content:
          application/json:
            schema:
              type: object
              properties:
                bag:
                  type: object
                  properties:
                    code: {type: string}
                    kind: {type: string, enum: [parent, child]}
                    format: {type: [string, "null"]}
                    capacity: {type: [integer, "null"]}
                    child_count: {type: integer}
                    status: {type: string, enum: [empty, filling, complete, on_bill, loose, in_parent]}
                    area: {type: string}
                    expected_kg: {type: string}
                    created_at: {type: string, format: date-time}
                    created_by: {type: [string, "null"]}
                    completed_at: {type: [string, "null"], format: date-time}
                    parent:
                      type: [object, "null"]
                      properties: {code: {type: string}, child_count: {type: integer}, capacity: {type: integer}}
                    children:
                      type: array
                      items:
                        type: object
                        properties:
                          code: {type: string}
                          linked_at: {type: string, format: date-time}
                          linked_by: {type: [string, "null"]}
                    bill:
                      type: [object, "null"]
                      properties: {code: {type: string}, status: {type: string}}
                history:
                  type: array
                  items:
                    type: object
                    properties:
                      at: {type: string, format: date-time}
                      kind: {type: string, enum: [scan, undo, correction, import, return]}
                      op: {type: string}
                      code: {type: string}
                      target: {type: string}
                      result: {type: string}
                      user: {type: [string, "null"]}
                      device: {type: string}
                      detail: {type: object}
                history_truncated: {type: boolean}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_BAG: no such bag, or one of another area"}
    """
    db = request.app.state.hub.pool
    row = await store.find(db, normalise(request.path_params["code"]))
    if row is None or not actor.may_enter(row["area"]):
        return api_error(ApiCode.UNKNOWN_BAG)
    events = await store.history(db, row["code"], None if actor.role is Role.ADMIN else actor.area)
    return JSONResponse({"bag": await _detail(db, row),
                         "history": [_history_item(e) for e in events[:store.HISTORY_LIMIT]],
                         "history_truncated": len(events) > store.HISTORY_LIMIT})


@requires()
async def listing(request: Request, actor: Actor) -> Response:
    """Bags, newest first; with `prefix`, the bags whose code starts with it, in code order.
    ---
    summary: List or search bags
    tags: [bags]
    parameters:
      - {name: prefix, in: query, description: "code prefix, normalised like a scan; orders the list by code",
         schema: {type: string}}
      - {name: kind, in: query, schema: {type: string, enum: [parent, child]}}
      - {name: area, in: query, description: "a non-admin may name only their own", schema: {type: string}}
      - {name: status, in: query, schema: {type: string, enum: [empty, filling, complete, on_bill, loose, in_parent]}}
      - {name: from, in: query, description: "ISO date or date-time, included", schema: {type: string}}
      - {name: to, in: query, description: "ISO date (included) or date-time (excluded)", schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200, default: 50}}
      - {name: after, in: query, description: "the previous page's next", schema: {type: string}}
    responses:
      "200":
        description: One page of bags
        content:
          application/json:
            schema:
              type: object
              properties:
                bags:
                  type: array
                  items:
                    type: object
                    properties:
                      code: {type: string}
                      kind: {type: string}
                      area: {type: string}
                      status: {type: string}
                      child_count: {type: integer}
                      capacity: {type: [integer, "null"]}
                      created_at: {type: string, format: date-time}
                      parent: {type: [string, "null"]}
                      bill: {type: [string, "null"]}
                next: {type: [string, "null"]}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_FILTER, INVALID_CURSOR"}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: a non-admin named another area"}
    """
    hub = request.app.state.hub
    flt = filters.bag_filter(request.query_params, actor, hub.settings.zone).filter
    order = Order.BAG_CODES if flt.prefix is not None else Order.BAGS
    wanted = filters.page(request.query_params, order)
    found = await hub.reads.read(store.list_bags, flt, wanted.after, wanted.limit)
    return JSONResponse({"bags": [bag_item(r) for r in found.rows], "next": cursor.encode(order, found.next)})


routes = [
    Route("/api/bags", listing, methods=["GET"]),
    Route("/api/bags/{code}", show, methods=["GET"]),
]
