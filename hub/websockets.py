"""The websocket endpoints' edge: origin check, authentication, then the session takes over."""

from __future__ import annotations

from starlette.websockets import WebSocket

from hub import accounts, auth
from hub.codes import Close
from hub.scanner import ScannerSession, SessionContext
from hub.store import batches
from hub.transport import WebSocketTransport


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...]) -> bool:
    """Browsers always send Origin: it must be the hub's own or a configured one (no cross-site
    websocket hijacking). Non-browser clients send none and are judged by their session alone."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    own = f"{'https' if websocket.url.scheme == 'wss' else 'http'}://{websocket.headers.get('host', '')}"
    return origin == own or origin in allowed


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
        keep_alive=keep_alive, sessions=hub.scanners,
    )
    await ScannerSession(WebSocketTransport(websocket), actor, context).run()
