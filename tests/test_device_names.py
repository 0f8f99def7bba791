"""Device names: an admin names a handheld (audited); `GET /api/devices` lists the name; dashboards
get every name in their snapshot and each rename as it happens, on this hub and on the others."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx
import pytest
from starlette.testclient import TestClient

from tests.admin_support import Admin, audit_rows
from tests.dashboard_support import make_account
from tests.hubprocess import HubProcess
from tests.remote_support import RemoteDashboard, start_hubs, unique_prefix
from tests.sessions_support import Sockets
from tests.ws_support import Socket


def _until_names(dashboard: Socket) -> dict[str, Any]:
    """The next `names` message on the dashboard (presence and deltas may come first)."""
    while True:
        message = dashboard.receive()
        if message["t"] == "names":
            return message


async def test_a_named_device_shows_by_its_name_on_dashboards(client: TestClient, sockets: Sockets,
                                                              clean_db: asyncpg.Pool) -> None:
    admin = Admin(client)
    dispatcher = await make_account(clean_db, "dispatcher", "lucknow")
    sockets.scanner(dispatcher.token, "hh-dock3")
    dashboard = sockets.dashboard(admin.token)
    assert dashboard.receive()["names"] == {}

    named = admin.request("PATCH", "/api/devices/hh-dock3", {"name": "  Dock 3 left  "})
    assert named.status_code == 200 and named.json() == {"device": "hh-dock3", "name": "Dock 3 left"}
    assert _until_names(dashboard) == {"t": "names", "names": {"hh-dock3": "Dock 3 left"}}
    later = sockets.dashboard(admin.token)
    assert later.receive()["names"] == {"hh-dock3": "Dock 3 left"}
    (listed,) = admin.request("GET", "/api/devices").json()["devices"]
    assert (listed["device"], listed["name"]) == ("hh-dock3", "Dock 3 left")

    cleared = admin.request("PATCH", "/api/devices/hh-dock3", {"name": None})
    assert cleared.status_code == 200 and cleared.json()["name"] is None
    assert _until_names(dashboard) == {"t": "names", "names": {"hh-dock3": None}}
    assert sockets.dashboard(admin.token).receive()["names"] == {}
    rows = await audit_rows(clean_db, "device.rename")
    assert [(r["actor_id"], r["target"], r["before"], r["after"]) for r in rows] == [
        (admin.id, "device:hh-dock3", {"name": None}, {"name": "Dock 3 left"}),
        (admin.id, "device:hh-dock3", {"name": "Dock 3 left"}, {"name": None})]


async def test_a_bad_rename_is_refused_and_changes_nothing(client: TestClient, sockets: Sockets,
                                                           clean_db: asyncpg.Pool) -> None:
    admin = Admin(client)
    dispatcher = await make_account(clean_db, "dispatcher", "indore")
    sockets.scanner(dispatcher.token, "hh-bad")
    for body in ({}, {"name": 5}, {"name": "   "}, {"name": "x" * 61}, {"label": "Dock"}):
        refused = admin.request("PATCH", "/api/devices/hh-bad", body)
        assert refused.status_code == 400 and refused.json()["error"] == "BAD_REQUEST", body
    unknown = admin.request("PATCH", "/api/devices/hh-never-seen", {"name": "Ghost"})
    assert unknown.status_code == 404 and unknown.json()["error"] == "UNKNOWN_DEVICE"
    bad_id = admin.request("PATCH", "/api/devices/has%20space", {"name": "Ghost"})
    assert bad_id.status_code == 400 and bad_id.json()["error"] == "BAD_REQUEST"
    for role in ("dispatcher", "biller"):
        other = await make_account(clean_db, role, "indore")
        refused = admin.request("PATCH", "/api/devices/hh-bad", {"name": "Mine"}, token=other.token)
        assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN"
    assert await clean_db.fetchval("SELECT name FROM devices WHERE device_id = 'hh-bad'") is None
    assert await audit_rows(clean_db, "device.rename") == []


@pytest.mark.slow
async def test_a_rename_on_one_hub_reaches_dashboards_on_another(hub_process: type[HubProcess],
                                                                 clean_db: asyncpg.Pool, redis_url: str,
                                                                 redis_prefix: str) -> None:
    a, b = await start_hubs(hub_process, 2, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix))
    admin = await make_account(clean_db, "admin")
    await clean_db.execute("INSERT INTO devices (device_id) VALUES ('hh-roaming')")
    async with RemoteDashboard(b, account=admin) as dashboard:
        await dashboard.until(lambda: dashboard.view.snapshots == 1, what="snapshot")
        async with httpx.AsyncClient(base_url=a.url, headers=admin.cookie, timeout=10) as http:
            response = await http.patch("/api/devices/hh-roaming", json={"name": "Ramp scanner"})
        assert response.status_code == 200, response.text
        await dashboard.until(lambda: any(m["t"] == "names" for _, m in dashboard.messages), what="names")
        (message,) = [m for _, m in dashboard.messages if m["t"] == "names"]
        assert message == {"t": "names", "names": {"hh-roaming": "Ramp scanner"}}
    async with RemoteDashboard(b, account=admin) as fresh:
        await fresh.until(lambda: fresh.view.snapshots == 1, what="snapshot")
        (snapshot,) = [m for _, m in fresh.messages if m["t"] == "snapshot"]
        assert snapshot["names"] == {"hh-roaming": "Ramp scanner"}
