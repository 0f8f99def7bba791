"""Helpers for the tests of user, area and device admin: an admin's requests, ids, audit rows."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD
from tests.support import login


def user_id(client: TestClient, token: str) -> int:
    """The id of the session's user."""
    response = client.get("/api/me", headers={"cookie": f"tt_session={token}"})
    client.cookies.clear()
    assert response.status_code == 200, response.text
    return int(response.json()["user"]["id"])


class Admin:
    """The first admin's session, sending requests through the in-process app."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.token = login(client, "admin", ADMIN_PASSWORD)
        self.id = user_id(client, self.token)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None) -> httpx.Response:
        """`method path` with `body` as JSON, as this admin (or as the session `token`)."""
        response = self.client.request(method, path, json=body,
                                       headers={"cookie": f"tt_session={token or self.token}"})
        self.client.cookies.clear()
        return response


async def audit_rows(pool: asyncpg.Pool, action: str) -> list[asyncpg.Record]:
    """The audit rows of `action`, oldest first."""
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT actor_id, target, before, after FROM audit_log WHERE action = $1 ORDER BY id", action)
    return rows
