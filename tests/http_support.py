"""Helpers for tests of the HTTP edge: the app in-process, with the client address a test chooses."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.app import create_app
from hub.settings import Settings

ADDRESS_HEADER = "x-test-client-address"


class ClientAddress:
    """The test's stand-in for the network: `x-test-client-address` becomes the peer's address.

    In-process requests all come from one fake peer; this lets a test be several client machines.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            for name, value in scope["headers"]:
                if name == ADDRESS_HEADER.encode():
                    scope = {**scope, "client": (value.decode(), 40000)}
        await self.app(scope, receive, send)


@contextmanager
def edge_client(settings: Settings) -> Iterator[TestClient]:
    """The whole app (middleware included) in-process, its lifespan running."""
    with TestClient(ClientAddress(create_app(settings)), base_url="http://testserver") as client:
        yield client


def from_address(address: str, **headers: str) -> dict[str, str]:
    return {ADDRESS_HEADER: address, **headers}


def cookie(token: str) -> dict[str, str]:
    return {"cookie": f"tt_session={token}"}
