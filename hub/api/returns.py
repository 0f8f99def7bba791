"""Reading return tickets: the returns page lists them and shows one with its parents.

Tickets change only through the scanner websocket (ops `return_*`, docs/protocol.md), so these are
reads. A non-admin sees their own area's tickets only; another area's ticket is answered exactly as
one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api.access import requires
from hub.api.errors import ApiError, api_error
from hub.codes import ApiCode
from hub.domain.bagcodes import normalise
from hub.domain.rules import Actor, Role, kg
from hub.livestate import AREA_NAME
from hub.store import returns as store

STATUSES = ("open", "finalised", "cancelled")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
MAX_CURSOR = 200
MAX_ID = 2**63 - 1


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _ticket(row: Any) -> dict[str, Any]:
    return {"code": row["code"], "area": row["area"], "status": row["status"], "parent_count": row["parent_count"],
            "created_at": _when(row["created_at"]), "created_by": row["created_by"],
            "closed_at": _when(row["closed_at"]), "closed_by": row["closed_by"]}


def _cursor(row: Any) -> str:
    raw = json.dumps(["returns", row["created_at"].isoformat(), row["id"]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[datetime, int] | None:
    """The (created_at, id) position a cursor of this list holds; INVALID_CURSOR for anything else."""
    if cursor is None:
        return None
    try:
        if len(cursor) > MAX_CURSOR or not cursor.isascii():
            raise ValueError(cursor)
        kind, at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position = datetime.fromisoformat(at)
        if kind != "returns" or position.tzinfo is None or type(row_id) is not int or not 0 < row_id <= MAX_ID:
            raise ValueError(cursor)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, RecursionError):
        raise ApiError(ApiCode.INVALID_CURSOR) from None
    return position, row_id


def _filters(request: Request, actor: Actor) -> tuple[str | None, str | None, int]:
    """(area, status, limit) from the query; a non-admin's area is their own whatever they ask."""
    query = request.query_params
    unknown = set(query) - {"area", "status", "limit", "after"}
    if unknown:
        raise ApiError(ApiCode.INVALID_FILTER, f"Unknown filter: {sorted(unknown)[0][:40]}.")
    area = query.get("area") or None
    if area is not None and not AREA_NAME.fullmatch(area):
        raise ApiError(ApiCode.INVALID_FILTER, "area is the name of a dispatch area.")
    if actor.role is not Role.ADMIN:
        if area is not None and area != actor.area:
            raise ApiError(ApiCode.FORBIDDEN, "You see only your own dispatch area's return tickets.")
        area = actor.area
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise ApiError(ApiCode.INVALID_FILTER, "status is open, finalised or cancelled.")
    limit_text = query.get("limit", str(DEFAULT_LIMIT))
    if not (limit_text.isascii() and limit_text.isdigit() and len(limit_text) <= 3
            and 1 <= int(limit_text) <= MAX_LIMIT):
        raise ApiError(ApiCode.INVALID_FILTER, f"limit is a whole number from 1 to {MAX_LIMIT}.")
    return area, status, int(limit_text)


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
    area, status, limit = _filters(request, actor)
    after = _after(request.query_params.get("after"))
    rows = await store.page(request.app.state.hub.pool, area=area, status=status, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return JSONResponse({"returns": [_ticket(row) for row in rows],
                         "next": _cursor(rows[-1]) if more else None})


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
                     "returned_at": _when(p["returned_at"]), "returned_by": p["returned_by"],
                     "restored_at": _when(p["restored_at"]),
                     "bill": {"code": p["bill"], "status": p["bill_status"], "parent_count": p["bill_count"],
                              "capacity": p["bill_capacity"]}}
                    for p in parents],
    }})


routes = [
    Route("/api/returns", list_returns, methods=["GET"]),
    Route("/api/returns/{code}", show_return, methods=["GET"]),
]
