"""The dispatch areas: listed for the pages' pickers; added and relabelled by admins (audited).

An area's name is its stable key (users, bags and bills refer to it); renaming an area gives it a
new label, which is what people read.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api.access import requires
from hub.api.errors import ApiError, api_error
from hub.api.params import bad_json, json_object, strings
from hub.codes import ApiCode
from hub.domain.rules import Actor, Role
from hub.livestate import AREA_NAME
from hub.store import areas as store
from hub.store import audit

MAX_LABEL = 100


def _label(body: dict[str, Any]) -> str:
    label: str = body["label"].strip()
    if not 1 <= len(label) <= MAX_LABEL:
        raise ApiError(ApiCode.INVALID_AREA, f"An area's label is 1 to {MAX_LABEL} characters.")
    return label


@requires()
async def listing(request: Request, actor: Actor) -> Response:
    """Every dispatch area, by label.
    ---
    summary: List dispatch areas
    tags: [areas]
    responses:
      "200":
        description: Every area
        content:
          application/json:
            schema:
              type: object
              properties:
                areas:
                  type: array
                  items: {type: object, properties: {name: {type: string}, label: {type: string}}}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
    """
    rows = await store.list_all(request.app.state.hub.pool)
    return JSONResponse({"areas": [{"name": r["name"], "label": r["label"]} for r in rows]})


@requires(Role.ADMIN)
async def create(request: Request, actor: Actor) -> Response:
    """Admin: add a dispatch area (audited).
    ---
    summary: Add a dispatch area
    tags: [areas]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [name, label]
            properties:
              name: {type: string, pattern: "^[a-z][a-z0-9_]{1,39}$", description: The stable key}
              label: {type: string, minLength: 1, maxLength: 100, description: What people read}
    responses:
      "201":
        description: Added
        content:
          application/json:
            schema:
              type: object
              properties:
                area: {type: object, properties: {name: {type: string}, label: {type: string}}}
      "400": {$ref: "#/components/responses/Error", description: "BAD_REQUEST, INVALID_TEXT, INVALID_AREA"}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "409": {$ref: "#/components/responses/Error", description: AREA_EXISTS}
    """
    body = await json_object(request)
    if not strings(body, "name", "label"):
        return bad_json('"name" and "label" strings')
    name, label = body["name"].strip(), _label(body)
    if not AREA_NAME.fullmatch(name):
        return api_error(ApiCode.INVALID_AREA)
    async with request.app.state.hub.pool.acquire() as conn, conn.transaction():
        if not await store.insert(conn, name, label):
            return api_error(ApiCode.AREA_EXISTS, f"There is already a dispatch area {name!r}.")
        await audit.insert_audit(conn, actor.user_id, "area.create", f"area:{name}", None,
                                 {"name": name, "label": label})
    return JSONResponse({"area": {"name": name, "label": label}}, status_code=201)


@requires(Role.ADMIN)
async def relabel(request: Request, actor: Actor) -> Response:
    """Admin: rename a dispatch area, that is give it a new label; its name stays (audited).
    ---
    summary: Rename a dispatch area
    tags: [areas]
    parameters:
      - {name: name, in: path, required: true, schema: {type: string}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [label]
            properties: {label: {type: string, minLength: 1, maxLength: 100}}
    responses:
      "200":
        description: Renamed
        content:
          application/json:
            schema:
              type: object
              properties:
                area: {type: object, properties: {name: {type: string}, label: {type: string}}}
      "400":
        $ref: "#/components/responses/Error"
        description: "BAD_REQUEST, INVALID_TEXT, INVALID_AREA, UNKNOWN_AREA: no area has this name"
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
    """
    name = request.path_params["name"]
    body = await json_object(request)
    if not strings(body, "label"):
        return bad_json('a "label" string')
    label = _label(body)
    async with request.app.state.hub.pool.acquire() as conn, conn.transaction():
        old = await store.relabel(conn, name, label) if AREA_NAME.fullmatch(name) else None
        if old is None:
            return api_error(ApiCode.UNKNOWN_AREA, f"There is no dispatch area {name[:40]!r}.")
        await audit.insert_audit(conn, actor.user_id, "area.rename", f"area:{name}", {"label": old},
                                 {"label": label})
    return JSONResponse({"area": {"name": name, "label": label}})


routes = [
    Route("/api/areas", listing, methods=["GET"]),
    Route("/api/areas", create, methods=["POST"]),
    Route("/api/areas/{name}", relabel, methods=["PATCH"]),
]
