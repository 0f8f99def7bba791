"""/metrics: the hub's Prometheus metrics, for a scraper holding METRICS_TOKEN.

Counts of scans and connections say how busy a warehouse is, so they are not public: unset, the
endpoint does not exist (404); set, a scrape must send `Authorization: Bearer METRICS_TOKEN`.
"""

from __future__ import annotations

import hmac

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub import metrics
from hub.api.errors import api_error
from hub.codes import ApiCode
from hub.collection import record_pauses


async def scrape(request: Request) -> Response:
    """The Prometheus metrics of every worker of this hub.
    ---
    summary: Prometheus metrics
    tags: [meta]
    security: [{metricsToken: []}]
    responses:
      "200":
        description: The Prometheus text format (docs/operations.md lists the metrics)
        content: {text/plain: {schema: {type: string}}}
      "401": {$ref: "#/components/responses/Error", description: "UNAUTHENTICATED: no or a wrong token"}
      "404": {$ref: "#/components/responses/Error", description: "NOT_FOUND: METRICS_TOKEN is unset"}
    """
    hub = request.app.state.hub
    token = hub.settings.metrics_token
    if token is None:
        return api_error(ApiCode.NOT_FOUND)
    sent = request.headers.get("authorization", "")
    if not hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return api_error(ApiCode.UNAUTHENTICATED, "send Authorization: Bearer METRICS_TOKEN",
                         headers={"www-authenticate": "Bearer"})
    metrics.observe_pools(hub.pool, hub.writer_pool)
    record_pauses()
    return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", scrape)]
