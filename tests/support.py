"""Helpers for tests that log in and scan through the app in-process."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD
from tests.ws_support import Socket

_devices = itertools.count(1)


def login(client: TestClient, username: str, password: str) -> str:
    """Log in and return the session token; the client keeps no cookie, so users don't mix."""
    response = client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    token = response.cookies["tt_session"]
    client.cookies.clear()
    return token


def make_user(client: TestClient, role: str = "dispatcher", area: str | None = "lucknow") -> str:
    """Create a user through the admin API and return a session token for them."""
    admin = login(client, "admin", ADMIN_PASSWORD)
    username = f"{role[:4]}-{uuid.uuid4().hex[:8]}"
    password = "scan-all-day-long"
    response = client.post("/api/users", json={"username": username, "password": password, "role": role,
                                               "area": None if role == "admin" else area},
                           headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 201, response.text
    client.cookies.clear()
    return login(client, username, password)


class Scanner:
    """A scanner over the in-process websocket: hello on entering, then numbered operations."""

    def __init__(self, client: TestClient, token: str, device: str | None = None) -> None:
        self.client = client
        self.token = token
        self.device = device or f"dev-{next(_devices)}-{uuid.uuid4().hex[:6]}"
        self.seq = 0
        self.socket: Socket | None = None
        self.welcome: dict[str, Any] = {}

    def __enter__(self) -> Scanner:
        self.socket = Socket(self.client, "/ws/scan", self.token)
        self.welcome = self.socket.hello(self.device, self.seq)
        assert self.welcome["t"] == "welcome", self.welcome
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.socket is not None
        self.socket.close()

    def op(self, op: str, **fields: Any) -> int:
        """Send one operation without waiting; returns its seq."""
        assert self.socket is not None
        self.seq += 1
        self.socket.send({"t": "op", "seq": self.seq, "op": op, **fields})
        return self.seq

    def do(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one operation and return its ack."""
        seq = self.op(op, **fields)
        assert self.socket is not None
        return self.socket.ack(seq)
