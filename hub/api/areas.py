"""The dispatch areas, for the pages' pickers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub.api.access import requires
from hub.domain.rules import Actor
from hub.store import areas as store


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


routes = [Route("/api/areas", listing, methods=["GET"])]
