"""Helpers for the tests of connections: raw websockets with a time limit on every receive."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgpack
import pytest
from starlette.testclient import TestClient, WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from hub.app import create_app
from hub.settings import Settings
from tests.ws_support import WAIT, next_message


class Socket:
    """One in-process websocket (msgpack frames); every receive fails after `WAIT` instead of hanging."""

    def __init__(self, client: TestClient, path: str, token: str | None) -> None:
        headers = {"cookie": f"tt_session={token}"} if token else {}
        self.ws: WebSocketTestSession = client.websocket_connect(path, headers=headers)
        self.ws.__enter__()
        self.open = True

    def send(self, message: dict[str, Any]) -> None:
        self.ws.send_bytes(msgpack.packb(message))

    def raw(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next ASGI message from the hub; raises WebSocketDisconnect on a close."""
        message = next_message(self.ws, timeout)
        self.ws._raise_on_close(message)
        return message

    def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        message = self.raw(timeout)
        assert message.get("bytes") is not None, message
        reply: dict[str, Any] = msgpack.unpackb(message["bytes"])
        return reply

    def hello(self, device: str, last_seq: int = 0) -> dict[str, Any]:
        self.send({"t": "hello", "device": device, "last_seq": last_seq})
        return self.receive()

    def ack(self, seq: int) -> dict[str, Any]:
        reply = self.receive()
        assert reply["t"] == "ack" and reply["seq"] == seq, reply
        return reply

    def close(self) -> None:
        if self.open:
            self.open = False
            self.ws.__exit__(None, None, None)


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
