"""Scanner devices for admins: which user each device id belongs to, releasing one, naming one.

A device id is bound to the first user who said hello with it (see `hub.store.devices`). Releasing
it (audited) closes its open connections on every hub with 4003; the next hello binds it anew. A
name (audited) is what dashboards show instead of the id, on every hub at once (`Hub.device_renamed`).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api.access import requires
from hub.api.errors import ApiError, api_error
from hub.api.params import json_object
from hub.codes import ApiCode
from hub.connections import Revocation
from hub.domain.rules import Actor, Role
from hub.protocol import DEVICE_PATTERN
from hub.store import audit
from hub.store import devices as store

MAX_NAME = 60


def _device(request: Request) -> str:
    device: str = request.path_params["device"]
    if not DEVICE_PATTERN.match(device):
        raise ApiError(ApiCode.BAD_REQUEST, "A device id is 1-64 characters of A-Z a-z 0-9 . _ : -")
    return device


def _name(body: dict[str, Any]) -> str | None:
    if "name" not in body or not (body["name"] is None or isinstance(body["name"], str)):
        raise ApiError(ApiCode.BAD_REQUEST, 'Send a JSON object with "name": a string, or null for no name.')
    if body["name"] is None:
        return None
    name: str = body["name"].strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ApiError(ApiCode.BAD_REQUEST, f"A device's name is 1 to {MAX_NAME} characters (null: no name).")
    return name


@requires(Role.ADMIN)
async def listing(request: Request, actor: Actor) -> Response:
    """Admin: every bound device, with its owner.
    ---
    summary: List devices
    tags: [devices]
    responses:
      "200":
        description: Every device bound to a user
        content:
          application/json:
            schema:
              type: object
              properties:
                devices:
                  type: array
                  items:
                    type: object
                    properties:
                      device: {type: string}
                      name: {type: [string, "null"], description: What dashboards show instead of the id}
                      owner: {type: object, properties: {id: {type: integer}, username: {type: string}}}
                      last_seq: {type: integer}
                      bound_at: {type: [string, "null"], format: date-time}
                      last_scan_at: {type: string, format: date-time}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
    """
    rows = await store.list_bound(request.app.state.hub.pool)
    return JSONResponse({"devices": [
        {"device": r["device_id"], "name": r["name"], "owner": {"id": r["owner_id"], "username": r["username"]},
         "last_seq": r["last_seq"], "bound_at": r["bound_at"].isoformat() if r["bound_at"] else None,
         "last_scan_at": r["updated_at"].isoformat()}
        for r in rows]})


@requires(Role.ADMIN)
async def release(request: Request, actor: Actor) -> Response:
    """Admin: unbind a device from its user (audited), closing its open connections everywhere.
    ---
    summary: Release a device
    tags: [devices]
    parameters:
      - {name: device, in: path, required: true, schema: {type: string, pattern: "^[A-Za-z0-9._:-]{1,64}$"}}
    responses:
      "200":
        description: Released; its sockets close on every hub
        content:
          application/json:
            schema:
              type: object
              properties:
                released: {type: string}
                owner: {type: object, properties: {id: {type: integer}, username: {type: string}}}
                closed: {type: integer, description: Connections closed on this hub}
      "400": {$ref: "#/components/responses/Error", description: BAD_REQUEST}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_DEVICE}
    """
    device = _device(request)
    hub = request.app.state.hub
    async with hub.pool.acquire() as conn, conn.transaction():
        row = await store.release(conn, device)
        if row is None:
            return api_error(ApiCode.UNKNOWN_DEVICE, f"No user holds the device {device!r}.")
        await audit.insert_audit(conn, actor.user_id, "device.release", f"device:{device}",
                                 {"owner_id": row["owner_id"], "owner": row["username"]}, {"owner_id": None})
    closed = hub.connections.revoke(Revocation(device=device))
    return JSONResponse({"released": device, "owner": {"id": row["owner_id"], "username": row["username"]},
                         "closed": closed})


@requires(Role.ADMIN)
async def rename(request: Request, actor: Actor) -> Response:
    """Admin: name a device, or take its name away (audited); dashboards show the name instead of the id.
    ---
    summary: Name a device
    tags: [devices]
    parameters:
      - {name: device, in: path, required: true, schema: {type: string, pattern: "^[A-Za-z0-9._:-]{1,64}$"}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [name]
            properties: {name: {type: [string, "null"], minLength: 1, maxLength: 60}}
    responses:
      "200":
        description: Named; open dashboards on every hub show the new name
        content:
          application/json:
            schema:
              type: object
              properties: {device: {type: string}, name: {type: [string, "null"]}}
      "400": {$ref: "#/components/responses/Error", description: "BAD_REQUEST, INVALID_TEXT"}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: "UNKNOWN_DEVICE: the hub has never seen it"}
    """
    device = _device(request)
    name = _name(await json_object(request))
    hub = request.app.state.hub
    async with hub.pool.acquire() as conn, conn.transaction():
        known, old = await store.rename(conn, device, name)
        if not known:
            return api_error(ApiCode.UNKNOWN_DEVICE, f"The hub has never seen the device {device!r}.")
        await audit.insert_audit(conn, actor.user_id, "device.rename", f"device:{device}", {"name": old},
                                 {"name": name})
    hub.device_renamed(device, name)
    return JSONResponse({"device": device, "name": name})


routes = [
    Route("/api/devices", listing, methods=["GET"]),
    Route("/api/devices/{device}", rename, methods=["PATCH"]),
    Route("/api/devices/{device}/release", release, methods=["POST"]),
]
