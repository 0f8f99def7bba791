"""Reading a bill: the bill scanner shows a bill opened on another device before its next scan."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api.access import requires
from hub.api.errors import error
from hub.codes import Code
from hub.domain.bagcodes import normalise
from hub.domain.rules import Actor, Role
from hub.store import bills as store
from hub.store.live import bill_item


@requires(Role.ADMIN, Role.BILLER)
async def show(request: Request, actor: Actor) -> Response:
    """Biller, admin: a bill and its parents.
    ---
    summary: A bill
    tags: [bills]
    parameters:
      - {name: code, in: path, required: true, schema: {type: string}, description: Normalised like a scan}
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
                    parents: {type: array, items: {type: string}}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN, WRONG_AREA"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_BILL}
    """
    found = await store.find(request.app.state.hub.pool, normalise(request.path_params["code"]))
    if found is None:
        return error(404, Code.UNKNOWN_BILL.value, Code.UNKNOWN_BILL.message)
    row, parents = found
    if not actor.may_enter(row["area"]):
        return error(403, Code.WRONG_AREA.value, Code.WRONG_AREA.message)
    return JSONResponse({"bill": {**bill_item(row), "parents": parents}})


routes = [Route("/api/bills/{code}", show, methods=["GET"])]
