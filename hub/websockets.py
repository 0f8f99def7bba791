"""The websocket endpoints' edge: origin check, authentication, then the session takes over."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.websockets import WebSocket

from hub import accounts, auth, security, walltokens
from hub.codes import Close
from hub.dashboard import DashboardConnection
from hub.domain.rules import Role
from hub.livestate import Scope
from hub.scanner import ScannerSession, SessionContext
from hub.store import batches
from hub.store import walltokens as walltokens_store
from hub.transport import WebSocketTransport


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin: it must be the hub's own or a configured one (no cross-site
    websocket hijacking). Non-browser clients send none and are judged by their session alone.
    The same rule as for every HTTP request that changes something (`hub.security`)."""
    return security.origin_allowed(websocket.scope, allowed, websocket.app.state.hub.settings.https)


async def scan_endpoint(websocket: WebSocket) -> None:
    """/ws/scan: refuse before reading any scan unless the origin is allowed and a session is live."""
    hub = websocket.app.state.hub
    await websocket.accept()
    if not origin_allowed(websocket, hub.settings.allowed_origins):
        await websocket.close(Close.POLICY_VIOLATION, "origin not allowed")
        return
    actor = await auth.current_user(websocket)
    if actor is None:
        await websocket.close(Close.POLICY_VIOLATION, "login required")
        return
    token = websocket.cookies.get(auth.COOKIE_NAME, "")

    async def keep_alive() -> bool:
        return await accounts.touch_session(hub.pool, hub.session_secret, token)

    async def applied_seq(device: str) -> int:
        return await batches.applied_seq(hub.pool, device)

    context = SessionContext(
        writer=hub.writer, cache=hub.cache, formats=hub.formats,
        max_inflight=hub.settings.max_inflight_per_device, applied_seq=applied_seq,
        keep_alive=keep_alive, presence=hub.presence, sessions=hub.scanners,
    )
    await ScannerSession(WebSocketTransport(websocket), actor, context).run()


async def dashboard_endpoint(websocket: WebSocket) -> None:
    """/ws/dashboard?scope=all|area:NAME|bill:CODE[&token=WALL_TOKEN][&format=json].

    A logged-in user sees their own area (admins everything); a wall-screen token sees its area
    (or everything). Refused with 1008 before anything is sent otherwise.
    """
    hub = websocket.app.state.hub
    await websocket.accept()
    if not origin_allowed(websocket, hub.settings.allowed_origins):
        await websocket.close(Close.POLICY_VIOLATION, "origin not allowed")
        return
    viewer = await _viewer(websocket)
    if viewer is None:
        await websocket.close(Close.POLICY_VIOLATION, "login or a wall-screen token required")
        return
    area, still_allowed, token_id = viewer
    try:
        scope = Scope.parse(websocket.query_params.get("scope") or ("all" if area is None else f"area:{area}"))
    except ValueError as exc:
        await websocket.close(Close.POLICY_VIOLATION, str(exc))
        return
    if area is not None and not await _scope_within(hub, scope, area):
        await websocket.close(Close.POLICY_VIOLATION, f"this login may watch only the area {area}")
        return
    connection = DashboardConnection(
        WebSocketTransport(websocket), scope, websocket.query_params.get("format") != "json",
        hub.settings.dashboard_queue_bytes, hub.fanout, still_allowed, token_id,
    )
    await connection.run()


Viewer = tuple[str | None, Callable[[], Awaitable[bool]], int | None]


async def _viewer(websocket: WebSocket) -> Viewer | None:
    """(area limit or None for all, a re-check of the access, wall token id) of whoever connects."""
    hub = websocket.app.state.hub
    token = websocket.query_params.get("token")
    if token:
        wall = await walltokens.resolve(hub.pool, hub.session_secret, token)
        if wall is None:
            return None

        async def token_live() -> bool:
            return await walltokens.resolve(hub.pool, hub.session_secret, token) is not None

        return wall["area"], token_live, wall["id"]
    actor = await auth.current_user(websocket)
    if actor is None:
        return None

    async def session_live() -> bool:
        return await auth.current_user(websocket) is not None

    return (None if actor.role is Role.ADMIN else actor.area), session_live, None


async def _scope_within(hub: Any, scope: Scope, area: str) -> bool:
    if scope.kind == "area":
        return scope.value == area
    if scope.kind == "bill":
        return await walltokens_store.bill_area(hub.pool, scope.value) == area
    return False
