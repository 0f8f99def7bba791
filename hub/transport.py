"""The seam between sessions and the network: sessions talk to a `Transport`, not to Starlette.

Tests drive sessions through an in-memory transport; production adapts Starlette's WebSocket.
"""

from __future__ import annotations

from typing import Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect


class Disconnect(Exception):
    """The peer is gone (or the socket failed); `code` is the close code when one was received."""

    def __init__(self, code: int = 1006, reason: str = "") -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Transport(Protocol):
    async def receive(self) -> bytes | str:
        """The next frame; raises Disconnect."""

    async def send(self, frame: bytes | str) -> None:
        """Send one frame; raises Disconnect."""

    async def close(self, code: int, reason: str = "") -> None:
        """Close the connection; never raises."""


class WebSocketTransport:
    """Starlette's WebSocket as a Transport: socket errors become Disconnect."""

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def receive(self) -> bytes | str:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise Disconnect(message.get("code", 1000), message.get("reason") or "")
        if message.get("bytes") is not None:
            return bytes(message["bytes"])
        return str(message.get("text") or "")

    async def send(self, frame: bytes | str) -> None:
        try:
            if isinstance(frame, bytes):
                await self._ws.send_bytes(frame)
            else:
                await self._ws.send_text(frame)
        except (OSError, RuntimeError, WebSocketDisconnect) as exc:
            raise Disconnect() from exc

    async def close(self, code: int, reason: str = "") -> None:
        try:
            await self._ws.close(code, reason)
        except (OSError, RuntimeError):
            pass
