"""Revocation and expiry act on open sockets (docs/protocol.md sections 8 and 14): a logout or "log
out everywhere" closes the user's scanners and dashboards with 4001 at once on the hub that revoked,
within seconds on the others (through the broker); an expired session is never revived by a scan,
and an open socket of an expired session is closed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
import httpx
import msgpack
import pytest
from starlette.testclient import TestClient
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub import accounts
from hub.app import create_app
from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.hubprocess import PASSWORD, HubProcess, create_users
from tests.hubprocess import login as hub_login
from tests.remote_support import unique_prefix
from tests.sessions_support import Sockets, closed_with, resolve_session, session_left
from tests.support import login, make_user

SECRET = b"test-session-secret"


def user_id(client: TestClient, token: str) -> int:
    response = client.get("/api/me", headers={"cookie": f"tt_session={token}"})
    client.cookies.clear()
    return int(response.json()["user"]["id"])


async def test_log_out_everywhere_closes_open_scanners_and_dashboards_at_once(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    scanner = sockets.scanner(token, "hh-revoked")
    scanner.send({"t": "op", "seq": 1, "op": "parent", "code": "SB00001"})
    assert scanner.ack(1)["code"] == "OK"
    dashboard = sockets.dashboard(token)
    assert dashboard.receive()["t"] == "snapshot"

    admin = login(client, "admin", ADMIN_PASSWORD)
    response = client.post(f"/api/users/{user_id(client, token)}/revoke-sessions",
                           headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 200, response.text
    scanner.send({"t": "op", "seq": 2, "op": "parent", "code": "SB00002"})  # too late: not read
    started = time.monotonic()
    closed_with(scanner, 4001)
    closed_with(dashboard, 4001)
    assert time.monotonic() - started < 5, "closed at once, not at the next periodic re-check"
    assert await clean_db.fetchval("SELECT count(*) FROM scans") == 1
    assert await clean_db.fetchval("SELECT count(*) FROM bags WHERE code = 'SB00002'") == 0


async def test_logout_closes_that_sessions_sockets_only(client: TestClient, sockets: Sockets,
                                                        clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    other = sockets.scanner(make_user(client), "hh-other")
    scanner = sockets.scanner(token, "hh-logout")
    assert client.post("/api/logout", headers={"cookie": f"tt_session={token}"}).status_code == 200
    client.cookies.clear()
    closed_with(scanner, 4001)
    other.send({"t": "op", "seq": 1, "op": "parent", "code": "SB00001"})
    assert other.ack(1)["code"] == "OK"


async def test_a_login_over_an_old_cookie_closes_that_sessions_sockets_at_once(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    """A login revokes the session of the cookie it is sent with (another operator takes the handheld):
    before, that session's open scanner kept scanning until its next periodic re-check."""
    token = make_user(client)
    scanner = sockets.scanner(token, "hh-handed-over")
    started = time.monotonic()
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                           headers={"cookie": f"tt_session={token}"})
    client.cookies.clear()
    assert response.status_code == 200, response.text
    closed_with(scanner, 4001)
    assert time.monotonic() - started < 5


async def test_a_scan_never_revives_an_expired_session(clean_db: asyncpg.Pool) -> None:
    user = await accounts.create_user(clean_db, username="idle", password="scan-all-day-long",
                                      role="dispatcher", area="lucknow")
    token = await accounts.open_session(clean_db, SECRET, user, "test")
    assert 29 * 60 < (await session_left(clean_db, SECRET, token, 30, touch=True) or 0) <= 30 * 60
    await clean_db.execute("UPDATE sessions SET last_seen_at = now() - interval '31 minutes'")
    assert await session_left(clean_db, SECRET, token, 30, touch=True) is None
    assert await clean_db.fetchval("SELECT now() - last_seen_at > interval '30 minutes' FROM sessions")
    assert await resolve_session(clean_db, SECRET, token, 30) is None


async def test_an_open_scanner_of_an_expired_session_is_closed(settings: Settings,
                                                               clean_db: asyncpg.Pool) -> None:
    with TestClient(create_app(settings.replace(session_recheck_seconds=0.5)),
                    base_url="http://testserver") as client:
        opened = Sockets(client)
        try:
            token = make_user(client)
            scanner = opened.scanner(token, "hh-expiring")
            scanner.send({"t": "op", "seq": 1, "op": "parent", "code": "SB00001"})
            assert scanner.ack(1)["code"] == "OK"
            await clean_db.execute("UPDATE sessions SET last_seen_at = now() - interval '31 minutes' "
                                   "WHERE user_id = (SELECT id FROM users WHERE role = 'dispatcher')")
            closed_with(scanner, 4001, timeout=5)
            assert await clean_db.fetchval("SELECT now() - max(last_seen_at) > interval '30 minutes' "
                                           "FROM sessions JOIN users u ON u.id = user_id "
                                           "WHERE u.role = 'dispatcher'")
        finally:
            opened.close_all()


# --- across hub processes -------------------------------------------------------------------------


async def _scanner(hub: HubProcess, token: str, device: str) -> ClientConnection:
    ws = await connect(hub.ws_url("/ws/scan"),
                       additional_headers={"Cookie": f"tt_session={token}"}, open_timeout=15)
    await ws.send(msgpack.packb({"t": "hello", "device": device, "last_seq": 0}))
    assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 15))["t"] == "welcome"
    return ws


async def _closed_soon(ws: ClientConnection, code: int) -> None:
    """Closed with `code` within 5 s: the default re-check is 30 s, so only the broker is this fast."""
    started = time.monotonic()
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code
    assert time.monotonic() - started < 5
    await ws.close()


async def test_revoking_or_releasing_on_one_hub_closes_sockets_on_another_within_seconds(
        hub_process: Any, clean_db: asyncpg.Pool, redis_url: str, redis_prefix: str) -> None:
    user = await accounts.create_user(clean_db, username="roamer", password=PASSWORD,
                                      role="dispatcher", area="lucknow")
    await create_users(clean_db, ["holder"])
    env = {"REDIS_URL": redis_url, "REDIS_PREFIX": unique_prefix(redis_prefix)}
    hubs = [hub_process(**env) for _ in range(2)]
    for hub in hubs:
        hub.start(wait=False)
    await asyncio.gather(*(asyncio.to_thread(hub.wait_ready) for hub in hubs))
    a, b = hubs
    roaming = await _scanner(b, await hub_login(b.url, "roamer"), "hh-roamer")
    held = await _scanner(b, await hub_login(b.url, "holder"), "hh-held")

    admin = {"cookie": f"tt_session={await hub_login(a.url, 'admin', ADMIN_PASSWORD)}"}
    async with httpx.AsyncClient(base_url=a.url, timeout=15) as http:
        response = await http.post(f"/api/users/{user}/revoke-sessions", headers=admin)
        assert response.status_code == 200, response.text
        await _closed_soon(roaming, 4001)
        response = await http.post("/api/devices/hh-held/release", headers=admin)
        assert response.status_code == 200, response.text
        assert response.json()["closed"] == 0  # not on this hub
        await _closed_soon(held, 4003)
