"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

READY_TIMEOUT = 2.0


async def health(request: Request) -> JSONResponse:
    """The process is alive and serving; touches nothing else.
    ---
    summary: Liveness probe
    tags: [probes]
    security: []
    responses:
      "200":
        description: The process answers
        content: {application/json: {schema: {type: object, properties: {status: {const: ok}}}}}
    """
    return JSONResponse({"status": "ok"})


async def ready(request: Request) -> JSONResponse:
    """PostgreSQL and the broker both answer, within a short time limit, and the hub is not draining.

    A hub that is shutting down answers 503 at once (status "draining"), while it still serves, so a
    load balancer checking this stops sending it new connections before its websockets are closed.
    ---
    summary: Readiness probe
    tags: [probes]
    security: []
    responses:
      "200":
        description: PostgreSQL and the broker answer
        content:
          application/json:
            schema:
              type: object
              properties:
                status: {type: string, enum: [ok, unavailable, draining]}
                database: {type: string, description: '"ok" or "error: <kind>"'}
                broker: {type: string, description: '"ok" or "error: <kind>"'}
      "503":
        description: PostgreSQL or the broker does not answer (same body, status "unavailable"), or the hub
          is shutting down (status "draining")
        content: {application/json: {schema: {type: object}}}
    """
    hub = request.app.state.hub
    if hub.draining:
        return JSONResponse({"status": "draining"}, status_code=503)
    checks: dict[str, str] = {}
    try:
        await hub.pool.fetchval("SELECT 1", timeout=READY_TIMEOUT)
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        await asyncio.wait_for(hub.broker.ping(), READY_TIMEOUT)
        checks["broker"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["broker"] = f"error: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **checks}, status_code=200 if ok else 503)


routes = [Route("/health", health), Route("/ready", ready)]
