"""Websockets for in-process tests: chosen seqs, msgpack or JSON, and a time limit on every receive
(TestClient has none), so a hub that never answers fails a test instead of hanging it."""

from __future__ import annotations

import json
from typing import Any

import anyio
import msgpack
from starlette.testclient import TestClient, WebSocketTestSession

WAIT = 15.0


def next_message(ws: WebSocketTestSession, timeout: float = WAIT) -> dict[str, Any]:
    """The next ASGI message the hub sent on `ws` (a close too), failing after `timeout` seconds:
    TestClient has no receive timeout of its own."""
    async def receive() -> dict[str, Any]:
        with anyio.fail_after(timeout):
            return dict(await ws._send_rx.receive())

    message: dict[str, Any] = ws.portal.call(receive)
    return message


class Socket:
    """One in-process websocket on `path` with the seqs chosen by the test; msgpack unless `text`.

    Every receive has a time limit, so a hub that never answers fails the test instead of hanging it.
    """

    def __init__(self, client: TestClient, path: str, token: str | None, headers: dict[str, str] | None = None,
                 text: bool = False) -> None:
        cookie = {"cookie": f"tt_session={token}"} if token else {}
        self.text = text
        self.ws: WebSocketTestSession = client.websocket_connect(path, headers={**cookie, **(headers or {})})
        self.ws.__enter__()
        self.open = True

    def send(self, message: dict[str, Any]) -> None:
        if self.text:
            self.ws.send_text(json.dumps(message))
        else:
            self.ws.send_bytes(msgpack.packb(message))

    def raw(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next ASGI message the hub sent; raises WebSocketDisconnect when it is a close."""
        message = next_message(self.ws, timeout)
        self.ws._raise_on_close(message)
        return message

    def receive(self, timeout: float = WAIT) -> dict[str, Any]:
        message = self.raw(timeout)
        if self.text:
            assert message.get("text") is not None, f"expected a text frame: {message}"
            decoded: dict[str, Any] = json.loads(message["text"])
        else:
            assert message.get("bytes") is not None, f"expected a binary frame: {message}"
            decoded = msgpack.unpackb(message["bytes"])
        return decoded

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


class Connection(Socket):
    """A scanner device's /ws/scan, saying hello as `device` when one is given; `close_connections`
    closes it if the test did not."""

    def __init__(self, client: TestClient, token: str | None, device: str | None = None,
                 last_seq: int = 0, headers: dict[str, str] | None = None, text: bool = False) -> None:
        super().__init__(client, "/ws/scan", token, headers, text)
        _open.append(self)
        self.welcome: dict[str, Any] = {}
        if device is not None:
            self.welcome = self.hello(device, last_seq)
            assert self.welcome["t"] == "welcome", self.welcome


_open: list[Socket] = []


def close_connections() -> None:
    while _open:
        _open.pop().close()


class Watcher(Socket):
    """A /ws/dashboard connection: `next()` decodes the next frame (of either encoding), with a time limit."""

    def __init__(self, client: TestClient, token: str, query: str = "") -> None:
        super().__init__(client, "/ws/dashboard" + (f"?{query}" if query else ""), token)
        _open.append(self)
        self.frames: list[bytes | str] = []

    def send_frame(self, frame: bytes | str) -> None:
        if isinstance(frame, bytes):
            self.ws.send_bytes(frame)
        else:
            self.ws.send_text(frame)

    def next(self, timeout: float = WAIT) -> dict[str, Any]:
        message = next_message(self.ws, timeout)
        self.ws._raise_on_close(message)
        frame = message["bytes"] if message.get("bytes") is not None else message["text"]
        self.frames.append(frame)
        decoded: dict[str, Any] = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
        return decoded

    def answer(self, timeout: float = WAIT) -> dict[str, Any]:
        """The next frame that answers the client (pong, error, snapshot after a resync), skipping the
        deltas, presence and stale news that arrive whenever anything commits."""
        while True:
            message = self.next(timeout)
            if message.get("t") not in ("delta", "presence", "stale"):
                return message
