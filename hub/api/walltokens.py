"""Wall-screen tokens: an admin issues one (for every area or one area) and can revoke it.

The token is shown once, as a dashboard link; only its HMAC is stored, like session tokens. A token
may be given an expiry in days; it then opens no dashboard once that time has passed. The access
log never shows a token (see `hub.server`), and no answer that carries one is cached.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.accounts import token_hash
from hub.api.access import requires
from hub.api.errors import api_error
from hub.api.params import json_object, path_id
from hub.codes import ApiCode
from hub.connections import Revocation, wall_principal
from hub.domain.rules import Actor, Role
from hub.store import areas as areas_store
from hub.store import audit
from hub.store import walltokens as store
from hub.walltokens import view

MAX_EXPIRY_DAYS = 3650


def _expires_days(body: dict[str, Any]) -> int | None | str:
    """`expires_days` from the body: None (never), a whole number of days, or the reason it is not one."""
    days = body.get("expires_days")
    if days is None:
        return None
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_EXPIRY_DAYS:
        return f'"expires_days" is a whole number from 1 to {MAX_EXPIRY_DAYS}, or null for no expiry.'
    return days


@requires(Role.ADMIN)
async def issue(request: Request, actor: Actor) -> Response:
    """Admin: a new wall-screen token; the answer is the only time the token is shown.
    ---
    summary: Issue a wall-screen token
    tags: [wall-tokens]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [label]
            properties:
              label: {type: string, minLength: 1, maxLength: 100}
              area: {type: [string, "null"], description: One area, or null for every area}
              expires_days: {type: [integer, "null"], minimum: 1, maximum: 3650}
    responses:
      "201":
        description: Issued; the token is shown only here
        content:
          application/json:
            schema:
              type: object
              properties:
                id: {type: integer}
                label: {type: string}
                area: {type: [string, "null"]}
                expires_at: {type: [string, "null"], format: date-time}
                token: {type: string}
                url: {type: string, description: The dashboard link with the token}
      "400": {$ref: "#/components/responses/Error", description: "BAD_REQUEST, INVALID_TEXT, UNKNOWN_AREA"}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
    """
    body = await json_object(request)
    if not isinstance(body.get("label"), str) or not (body.get("area") is None or isinstance(body["area"], str)):
        return api_error(ApiCode.BAD_REQUEST, 'Send JSON with a "label" string and an "area" string or null.')
    label, area = body["label"].strip(), body.get("area")
    if not 1 <= len(label) <= 100:
        return api_error(ApiCode.BAD_REQUEST, "The label must be 1 to 100 characters.")
    expires_days = _expires_days(body)
    if isinstance(expires_days, str):
        return api_error(ApiCode.BAD_REQUEST, expires_days)
    hub = request.app.state.hub
    if area is not None and not await areas_store.exists(hub.pool, area):
        return api_error(ApiCode.UNKNOWN_AREA, f"There is no dispatch area {area!r}.")
    token = secrets.token_urlsafe(32)
    async with hub.pool.acquire() as conn, conn.transaction():
        row = await store.insert(conn, token_hash(hub.session_secret, token), label, area, actor.user_id,
                                 expires_days)
        expires_at = None if row["expires_at"] is None else row["expires_at"].isoformat()
        await audit.insert_audit(conn, actor.user_id, "wall_token.issue", f"wall_token:{row['id']}", None,
                                 {"label": label, "area": area, "expires_at": expires_at})
    return JSONResponse({"id": row["id"], "label": label, "area": area, "expires_at": expires_at,
                         "token": token, "url": f"/dashboard.html?wall=1&token={token}"}, status_code=201)


@requires(Role.ADMIN)
async def listing(request: Request, actor: Actor) -> Response:
    """Admin: every wall-screen token ever issued (never the token itself).
    ---
    summary: List wall-screen tokens
    tags: [wall-tokens]
    responses:
      "200":
        description: Every token, revoked and expired ones included
        content:
          application/json:
            schema:
              type: object
              properties:
                tokens:
                  type: array
                  items:
                    type: object
                    properties:
                      id: {type: integer}
                      label: {type: string}
                      area: {type: [string, "null"]}
                      created_at: {type: string, format: date-time}
                      expires_at: {type: [string, "null"], format: date-time}
                      expired: {type: boolean}
                      revoked: {type: boolean}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
    """
    rows = await store.list_all(request.app.state.hub.pool)
    return JSONResponse({"tokens": [{**view(r), "created_at": r["created_at"].isoformat(),
                                     "expires_at": None if r["expires_at"] is None else r["expires_at"].isoformat(),
                                     "expired": r["expired"], "revoked": r["revoked_at"] is not None}
                                    for r in rows]})


@requires(Role.ADMIN)
async def revoke(request: Request, actor: Actor) -> Response:
    """Admin: revoke a token; screens using it close now, here and (through the broker) on other hubs.
    ---
    summary: Revoke a wall-screen token
    tags: [wall-tokens]
    parameters:
      - {name: token_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      "200":
        description: Revoked; dashboards open with it close, on every hub
        content: {application/json: {schema: {type: object, properties: {revoked: {type: integer}}}}}
      "400": {$ref: "#/components/responses/Error", description: INVALID_ID}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_TOKEN}
    """
    hub = request.app.state.hub
    token_id = path_id(request, "token_id")
    async with hub.pool.acquire() as conn, conn.transaction():
        row = await store.revoke(conn, token_id)
        if row is None:
            return api_error(ApiCode.UNKNOWN_TOKEN, f"There is no live wall-screen token {token_id}.")
        await audit.insert_audit(conn, actor.user_id, "wall_token.revoke", f"wall_token:{token_id}",
                                 view(row), None)
    hub.connections.revoke(Revocation(principal=wall_principal(token_id)))
    return JSONResponse({"revoked": token_id})


routes = [
    Route("/api/wall-tokens", issue, methods=["POST"]),
    Route("/api/wall-tokens", listing, methods=["GET"]),
    Route("/api/wall-tokens/{token_id}/revoke", revoke, methods=["POST"]),
]
