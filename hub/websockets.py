"""The websocket endpoints' edge: origin check, authentication, then the session takes over."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.websockets import WebSocket

from hub import accounts, auth, metrics, walltokens
from hub.api import security
from hub.codes import Close
from hub.connections import Connection, user_principal, wall_principal
from hub.dashboard import DashboardConnection
from hub.database import UNAVAILABLE
from hub.domain.rules import Role
from hub.livestate import Scope
from hub.scanner import ScannerSession, SessionContext
from hub.store import bills as bills_store
from hub.store import devices
from hub.transport import WebSocketTransport

logger = logging.getLogger("tracetrack.websockets")

Endpoint = Callable[[WebSocket], Awaitable[None]]
T = TypeVar("T")
DATABASE_WAIT = 5.0
"""Seconds a connecting client's lookups (its login, its device) wait for PostgreSQL to come back,
within the clients' connect timeout (10 s for the scanner page), before it is closed with 1013. A
restart takes seconds: waiting spares the client a backoff that would outlast the outage."""
DATABASE_POLL = 0.5


async def _once_the_database_answers(lookup: Callable[[], Awaitable[T]]) -> T:
    """`lookup()`, tried again every DATABASE_POLL seconds while PostgreSQL is away, for DATABASE_WAIT
    seconds at most (then its UNAVAILABLE error goes on, and the connection is closed with 1013)."""
    deadline = time.monotonic() + DATABASE_WAIT
    while True:
        try:
            return await lookup()
        except UNAVAILABLE:
            if time.monotonic() + DATABASE_POLL > deadline:
                raise
        await asyncio.sleep(DATABASE_POLL)


def closes_when_the_database_is_away(endpoint: Endpoint) -> Endpoint:
    """A lookup the connection needs (its login, its device, a snapshot) found PostgreSQL
    unreachable: close with 1013, which tells the client to reconnect with backoff, instead of
    letting the handler crash and the connection drop without a word."""
    @functools.wraps(endpoint)
    async def serve(websocket: WebSocket) -> None:
        try:
            await endpoint(websocket)
        except UNAVAILABLE as exc:
            logger.warning("closing a websocket with 1013: PostgreSQL unavailable (%s)", exc)
            await WebSocketTransport(websocket).close(Close.TRY_AGAIN_LATER, "database unavailable; reconnect")

    return serve


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin: it must be the hub's own or a configured one (no cross-site
    websocket hijacking). Non-browser clients send none and are judged by their session alone.
    The same rule as for every HTTP request that changes something (`hub.api.security`)."""
    return security.origin_allowed(websocket.scope, allowed, websocket.app.state.hub.settings.https)


@closes_when_the_database_is_away
async def scan_endpoint(websocket: WebSocket) -> None:
    """/ws/scan: refuse before reading any scan unless the origin is allowed and a session is live."""
    hub = websocket.app.state.hub
    await websocket.accept()
    if not origin_allowed(websocket, hub.settings.allowed_origins):
        await websocket.close(Close.POLICY_VIOLATION, "origin not allowed")
        return
    actor = await _once_the_database_answers(lambda: auth.current_user(websocket))
    if actor is None:
        await websocket.close(Close.POLICY_VIOLATION, "login required")
        return
    hashed = accounts.token_hash(hub.session_secret, websocket.cookies.get(auth.COOKIE_NAME, ""))
    settings = hub.settings

    async def login_left(touch: bool, at_once: bool) -> float | None:
        left: float | None = await hub.rechecks.session_left(hashed, touch, at_once=at_once)
        return left

    async def bind_device(device: str) -> int | None:
        await hub.writer.settled(device)  # what an earlier connection sent is in the welcome
        row = await _once_the_database_answers(lambda: hub.device_lookups.get(device))
        if row is None or row["owner_id"] is None:
            row = await _once_the_database_answers(lambda: devices.bind(hub.pool, device, actor.user_id))
        return int(row["last_seq"]) if row["owner_id"] == actor.user_id else None

    context = SessionContext(
        writer=hub.writer, cache=hub.cache, formats=hub.formats,
        max_inflight=settings.max_inflight_per_device, bind_device=bind_device, login_left=login_left,
        presence=hub.presence, limits=hub.operation_limit, seq_window=settings.seq_window,
        queue_bytes=settings.scanner_queue_bytes, hello_timeout=settings.handshake_timeout,
        recheck_seconds=settings.session_recheck_seconds, idle_seconds=settings.session_idle_minutes * 60.0,
        sessions=hub.scanners,
    )
    session = ScannerSession(WebSocketTransport(websocket), actor, context, hashed)
    await _serve(websocket, session, session.run, "scanner")


async def _serve(websocket: WebSocket, connection: Connection, run: Callable[[], Awaitable[None]],
                 kind: str) -> None:
    """Run a connection admitted under the caps, counted for as long as it is open."""
    connections = websocket.app.state.hub.connections
    refused = connections.admit(connection)
    if refused is not None:
        await websocket.close(Close.TOO_MANY_CONNECTIONS, refused)
        return
    try:
        with metrics.CONNECTED.labels(kind).track_inprogress():
            await run()
    finally:
        connections.leave(connection)


@closes_when_the_database_is_away
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
    viewer = await _once_the_database_answers(lambda: _viewer(websocket))
    if viewer is None:
        await websocket.close(Close.POLICY_VIOLATION, "login or a wall-screen token required")
        return
    area = viewer.area
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
        hub.settings.dashboard_queue_bytes, hub.fanout, viewer.still_allowed,
        principal=viewer.principal, user_id=viewer.user_id, token_hash=viewer.token_hash,
        recheck_seconds=hub.settings.session_recheck_seconds,
    )
    await _serve(websocket, connection, connection.run, "dashboard")


@dataclass(frozen=True)
class Viewer:
    """Whoever opens a dashboard: a logged-in user or a wall-screen token."""

    area: str | None
    """The one area they may watch; None for every area."""
    still_allowed: Callable[[], Awaitable[bool]]
    principal: str
    user_id: int | None = None
    token_hash: bytes | None = None


async def _viewer(websocket: WebSocket) -> Viewer | None:
    hub = websocket.app.state.hub
    token = websocket.query_params.get("token")
    if token:
        wall = await walltokens.resolve(hub.pool, hub.session_secret, token)
        if wall is None:
            return None
        wall_hash = accounts.token_hash(hub.session_secret, token)
        return Viewer(wall["area"], functools.partial(hub.rechecks.wall_token_live, wall_hash),
                      wall_principal(wall["id"]))
    actor = await auth.current_user(websocket)
    if actor is None:
        return None
    hashed = accounts.token_hash(hub.session_secret, websocket.cookies.get(auth.COOKIE_NAME, ""))

    async def session_live() -> bool:  # an open dashboard keeps its session alive
        return await hub.rechecks.session_left(hashed, touch=True) is not None

    return Viewer(None if actor.role is Role.ADMIN else actor.area, session_live, user_principal(actor.user_id),
                  user_id=actor.user_id, token_hash=hashed)


async def _scope_within(hub: Any, scope: Scope, area: str) -> bool:
    if scope.kind == "area":
        return scope.value == area
    if scope.kind == "bill":
        return await bills_store.area_of(hub.pool, scope.value) == area
    return False
