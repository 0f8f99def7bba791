"""Wall-screen tokens: an admin issues one (for every area or one area) and can revoke it.

The token is shown once, as a dashboard link; only its HMAC is stored, like session tokens.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.accounts import token_hash
from hub.auth import error, requires
from hub.connections import Revocation, wall_principal
from hub.domain.rules import Actor, Role
from hub.store import audit
from hub.store import walltokens as store


def _view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "label": row["label"], "area": row["area"]}


@requires(Role.ADMIN)
async def issue(request: Request, actor: Actor) -> Response:
    """Admin: a new wall-screen token; the answer is the only time the token is shown."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("label"), str) or not (
            body.get("area") is None or isinstance(body["area"], str)):
        return error(400, "BAD_REQUEST", 'Send JSON with a "label" string and an "area" string or null.')
    label, area = body["label"].strip(), body.get("area")
    if not 1 <= len(label) <= 100:
        return error(400, "BAD_REQUEST", "The label must be 1 to 100 characters.")
    hub = request.app.state.hub
    if area is not None and not await store.area_exists(hub.pool, area):
        return error(400, "UNKNOWN_AREA", f"There is no dispatch area {area!r}.")
    token = secrets.token_urlsafe(32)
    async with hub.pool.acquire() as conn, conn.transaction():
        token_id = await store.insert(conn, token_hash(hub.session_secret, token), label, area, actor.user_id)
        await audit.insert_audit(conn, actor.user_id, "wall_token.issue", f"wall_token:{token_id}", None,
                                 {"label": label, "area": area})
    return JSONResponse({"id": token_id, "label": label, "area": area, "token": token,
                         "url": f"/dashboard.html?wall=1&token={token}"}, status_code=201)


@requires(Role.ADMIN)
async def listing(request: Request, actor: Actor) -> Response:
    rows = await store.list_all(request.app.state.hub.pool)
    return JSONResponse({"tokens": [{**_view(r), "created_at": r["created_at"].isoformat(),
                                     "revoked": r["revoked_at"] is not None} for r in rows]})


@requires(Role.ADMIN)
async def revoke(request: Request, actor: Actor) -> Response:
    """Admin: revoke a token; screens using it close now, here and (through the broker) on other hubs."""
    hub = request.app.state.hub
    token_id = request.path_params["token_id"]
    async with hub.pool.acquire() as conn, conn.transaction():
        row = await store.revoke(conn, token_id)
        if row is None:
            return error(404, "UNKNOWN_TOKEN", f"There is no live wall-screen token {token_id}.")
        await audit.insert_audit(conn, actor.user_id, "wall_token.revoke", f"wall_token:{token_id}",
                                 _view(row), None)
    hub.connections.revoke(Revocation(principal=wall_principal(token_id)))
    return JSONResponse({"revoked": token_id})


async def resolve(pool: Any, secret: bytes, token: str) -> dict[str, Any] | None:
    """The live token for a presented token string, or None."""
    if not 0 < len(token) <= 100:
        return None
    row = await store.live_by_hash(pool, token_hash(secret, token))
    return _view(row) if row is not None else None


routes = [
    Route("/api/wall-tokens", issue, methods=["POST"]),
    Route("/api/wall-tokens", listing, methods=["GET"]),
    Route("/api/wall-tokens/{token_id:int}/revoke", revoke, methods=["POST"]),
]
