"""The audit log for admins: every change made outside scanning, newest first."""

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
from hub.domain.rules import Actor, Role
from hub.store import audit as store


def entry_item(row: asyncpg.Record) -> dict[str, Any]:
    return {"id": row["id"], "at": iso(row["at"]), "actor": row["username"], "action": row["action"],
            "target": row["target"], "before": row["before"], "after": row["after"]}


@requires(Role.ADMIN)
async def listing(request: Request, actor: Actor) -> Response:
    """Admin: audit entries, newest first, by action, actor, target and time.
    ---
    summary: List audit entries
    tags: [audit]
    parameters:
      - {name: action, in: query, description: "e.g. user.create", schema: {type: string}}
      - {name: actor, in: query, description: "user name", schema: {type: string}}
      - {name: target, in: query, description: "e.g. user:3", schema: {type: string}}
      - {name: from, in: query, description: "ISO date or date-time, included", schema: {type: string}}
      - {name: to, in: query, description: "ISO date (included) or date-time (excluded)", schema: {type: string}}
      - {name: limit, in: query, schema: {type: integer, minimum: 1, maximum: 200, default: 50}}
      - {name: after, in: query, description: "the previous page's next", schema: {type: string}}
    responses:
      "200":
        description: One page of audit entries
        content:
          application/json:
            schema:
              type: object
              properties:
                entries:
                  type: array
                  items:
                    type: object
                    properties:
                      id: {type: integer}
                      at: {type: string, format: date-time}
                      actor: {type: [string, "null"]}
                      action: {type: string}
                      target: {type: string}
                      before: {type: [object, "null"]}
                      after: {type: [object, "null"]}
                next: {type: [string, "null"]}
      "400": {$ref: "#/components/responses/Error", description: "INVALID_FILTER, INVALID_CURSOR"}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED"}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
    """
    hub = request.app.state.hub
    flt = filters.audit_filter(request.query_params, hub.settings.zone).filter
    wanted = filters.page(request.query_params, Order.AUDIT)
    found = await hub.reads.read(store.list_entries, flt, wanted.after, wanted.limit)
    return JSONResponse({"entries": [entry_item(r) for r in found.rows],
                         "next": cursor.encode(Order.AUDIT, found.next)})


routes = [Route("/api/audit", listing, methods=["GET"])]
