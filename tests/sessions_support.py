"""Helpers for the tests of connections: the app with some settings changed, the sockets a test opens
(`Sockets`, every one closed at the end), and a close awaited (`closed_with`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub import accounts
from hub.app import create_app
from hub.domain.rules import Actor
from hub.settings import Settings
from tests.ws_support import WAIT, Socket


def closed_with(socket: Socket, code: int, timeout: float = WAIT) -> str:
    """Read until the hub closes `socket`, which it must with `code`; the close reason."""
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            socket.raw(timeout)
    assert closed.value.code == code, closed.value
    return str(closed.value.reason)


class Sockets:
    """Opens sockets for a test and closes every one left open (an open one would hang the app's shutdown)."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._open: list[Socket] = []

    def scanner(self, token: str | None, device: str | None = None) -> Socket:
        socket = Socket(self.client, "/ws/scan", token)
        self._open.append(socket)
        if device is not None:
            welcome = socket.hello(device)
            assert welcome["t"] == "welcome", welcome
        return socket

    def dashboard(self, token: str | None, query: str = "") -> Socket:
        socket = Socket(self.client, f"/ws/dashboard{query}", token)
        self._open.append(socket)
        return socket

    def close_all(self) -> None:
        while self._open:
            self._open.pop().close()


@contextmanager
def app_client(settings: Settings, **changes: Any) -> Iterator[tuple[TestClient, Sockets]]:
    """The app in-process with some settings changed, and a socket opener closed before it stops."""
    with TestClient(create_app(settings.replace(**changes)), base_url="http://testserver") as client:
        opened = Sockets(client)
        try:
            yield client, opened
        finally:
            opened.close_all()


async def session_left(pool: asyncpg.Pool, secret: bytes, token: str, idle_minutes: int, touch: bool) -> float | None:
    """The seconds a session cookie has left (touching it when asked), None once it has ended: what
    an open websocket's re-check asks (`accounts.sessions_left`), for one cookie."""
    hashed = accounts.token_hash(secret, token)
    return (await accounts.sessions_left(pool, [hashed], [hashed] if touch else [], idle_minutes)).get(hashed)


async def resolve_session(pool: asyncpg.Pool, secret: bytes, token: str, idle_minutes: int) -> Actor | None:
    """The user of a session cookie, None once it has ended: what a request's login check asks
    (`accounts.resolve_sessions`, shared in the hub by `auth.current_user`), for one cookie."""
    if not accounts.plausible(token):
        return None
    hashed = accounts.token_hash(secret, token)
    return (await accounts.resolve_sessions(pool, [hashed], idle_minutes)).get(hashed)
