"""The scans log: every scan, accepted or rejected, newest first; a non-admin sees their own area's.

A scan counts in its bag's or bill's area, a rejected one in its operator's (see `hub.batch`).
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
from hub.api.times import iso
from hub.domain.rules import Actor
from hub.store import scans as store


def scan_item(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "at": iso(row["server_time"]), "client_at": iso(row["client_time"]),
            "device": row["device_id"], "user": row["username"], "area": row["area"], "op": row["op"],
            "code": row["code"], "target": row["target"], "result": row["result"], "detail": row["detail"] or {}}


@requires()
async def listing(request: Request, actor: Actor) -> Response:
    """Scans, newest first, by result, user, device, area and time.
    ---
    summary: List scans
    tags: [scans]
    parameters:
      - {name: result, in: query, schema: {type: string, enum: [all, rejected], default: all}}
      - {name: user, in: query, description: "user name", schema: {type: string}}
      - {name: device, in: query, schema: {type: string}}
      - {name: area, in: query, description: "a non-admin may name only their own", schema: {type: string}}
      - {name: from, in: query, description: "ISO date or date-time, included", schema: {type: string}}
      - {name: to, in: query, description: "ISO date (included) or date-time (excluded)", schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200, default: 50}}
      - {name: after, in: query, description: "the previous page's next", schema: {type: string}}
    responses:
      "200":
        description: One page of scans
        content:
          application/json:
            schema:
              type: object
              properties:
                scans:
                  type: array
                  items:
                    type: object
                    properties:
                      id: {type: integer}
                      at: {type: string, format: date-time}
                      client_at: {type: [string, "null"], format: date-time}
                      device: {type: string}
                      user: {type: [string, "null"]}
                      area: {type: [string, "null"]}
                      op: {type: string}
                      code: {type: string}
                      target: {type: string}
                      result: {type: string}
                      detail: {type: object}
                next: {type: [string, "null"]}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_FILTER, INVALID_CURSOR"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: a non-admin named another area"}
    """
    hub = request.app.state.hub
    flt = filters.scan_filter(request.query_params, actor, hub.settings.zone).filter
    wanted = filters.page(request.query_params, Order.SCANS)
    found = await hub.reads.read(store.list_scans, flt, wanted.after, wanted.limit)
    return JSONResponse({"scans": [scan_item(r) for r in found.rows], "next": cursor.encode(Order.SCANS, found.next)})


routes = [Route("/api/scans", listing, methods=["GET"])]
