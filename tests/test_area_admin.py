"""Areas admin over the HTTP API: an admin adds an area and relabels one (audited); the name is the
stable key; bad names, labels and duplicates are refused and change nothing; only admins."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from starlette.testclient import TestClient

from tests.admin_support import Admin, audit_rows
from tests.support import make_user

SEEDED = ("lucknow", "indore", "jaipur", "hisar", "sri_ganganagar", "sangaria", "bathinda", "raipur", "ranchi",
          "akola")


@pytest.fixture
async def areas(clean_db: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """Areas added by the test go again afterwards (other tests count the ten seeded ones), and the
    seeded labels come back."""
    labels = {r["name"]: r["label"] for r in await clean_db.fetch("SELECT name, label FROM areas")}
    yield clean_db
    await clean_db.execute("DELETE FROM users WHERE area <> ALL($1::text[])", list(SEEDED))
    await clean_db.execute("DELETE FROM areas WHERE name <> ALL($1::text[])", list(SEEDED))
    for name, label in labels.items():
        await clean_db.execute("UPDATE areas SET label = $2 WHERE name = $1", name, label)


async def test_an_admin_adds_an_area_that_users_can_then_belong_to(client: TestClient,
                                                                    areas: asyncpg.Pool) -> None:
    admin = Admin(client)
    added = admin.request("POST", "/api/areas", {"name": "nagpur_east", "label": "  Nagpur East  "})
    assert added.status_code == 201 and added.json() == {"area": {"name": "nagpur_east", "label": "Nagpur East"}}
    assert {"name": "nagpur_east", "label": "Nagpur East"} in admin.request("GET", "/api/areas").json()["areas"]
    make_user(client, "dispatcher", "nagpur_east")
    (row,) = await audit_rows(areas, "area.create")
    assert (row["actor_id"], row["target"], row["before"]) == (admin.id, "area:nagpur_east", None)
    assert row["after"] == {"name": "nagpur_east", "label": "Nagpur East"}
    again = admin.request("POST", "/api/areas", {"name": "nagpur_east", "label": "Other"})
    assert again.status_code == 409 and again.json()["error"] == "AREA_EXISTS"
    assert await areas.fetchval("SELECT label FROM areas WHERE name = 'nagpur_east'") == "Nagpur East"


async def test_renaming_an_area_changes_its_label_not_its_key(client: TestClient, areas: asyncpg.Pool) -> None:
    admin = Admin(client)
    make_user(client, "dispatcher", "akola")
    renamed = admin.request("PATCH", "/api/areas/akola", {"label": "Akola Depot"})
    assert renamed.status_code == 200 and renamed.json() == {"area": {"name": "akola", "label": "Akola Depot"}}
    assert await areas.fetchval("SELECT count(*) FROM users WHERE area = 'akola'") == 1
    (row,) = await audit_rows(areas, "area.rename")
    assert (row["target"], row["before"], row["after"]) == ("area:akola", {"label": "Akola"},
                                                            {"label": "Akola Depot"})
    for name in ("atlantis", "Akola", "x" * 300):
        missing = admin.request("PATCH", f"/api/areas/{name}", {"label": "Somewhere"})
        assert missing.status_code == 400 and missing.json()["error"] == "UNKNOWN_AREA", name


@pytest.mark.parametrize(("body", "code"), [
    ({"name": "9lives", "label": "Nine"}, "INVALID_AREA"),
    ({"name": "a", "label": "Too short"}, "INVALID_AREA"),
    ({"name": "Pune", "label": "Pune"}, "INVALID_AREA"),
    ({"name": "pune-west", "label": "Pune"}, "INVALID_AREA"),
    ({"name": "pune", "label": "   "}, "INVALID_AREA"),
    ({"name": "pune", "label": "P" * 101}, "INVALID_AREA"),
    ({"name": "pune"}, "BAD_REQUEST"),
    ({"name": 7, "label": "Seven"}, "BAD_REQUEST"),
    ({"name": "pune", "label": "Pu\u200bne"}, "INVALID_TEXT"),
])
async def test_a_bad_area_is_refused_and_nothing_is_added(client: TestClient, areas: asyncpg.Pool,
                                                          body: dict[str, object], code: str) -> None:
    refused = Admin(client).request("POST", "/api/areas", body)
    assert refused.status_code == 400 and refused.json()["error"] == code, refused.text
    assert await areas.fetchval("SELECT count(*) FROM areas") == len(SEEDED)
    assert await audit_rows(areas, "area.create") == []


async def test_a_bad_label_is_refused_on_rename(client: TestClient, areas: asyncpg.Pool) -> None:
    admin = Admin(client)
    for body, code in (({"label": ""}, "INVALID_AREA"), ({}, "BAD_REQUEST"), ({"label": None}, "BAD_REQUEST")):
        refused = admin.request("PATCH", "/api/areas/hisar", body)
        assert refused.status_code == 400 and refused.json()["error"] == code, body
    assert await areas.fetchval("SELECT label FROM areas WHERE name = 'hisar'") == "Hisar"


async def test_only_admins_change_areas(client: TestClient, areas: asyncpg.Pool) -> None:
    admin = Admin(client)
    for role in ("dispatcher", "biller"):
        token = make_user(client, role, "indore")
        for method, path, body in (("POST", "/api/areas", {"name": "pune", "label": "Pune"}),
                                   ("PATCH", "/api/areas/indore", {"label": "Indore 2"})):
            refused = admin.request(method, path, body, token=token)
            assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN", (role, path)
    assert client.post("/api/areas", json={"name": "pune", "label": "Pune"}).status_code == 401
    assert await areas.fetchval("SELECT count(*) FROM areas") == len(SEEDED)
    assert await areas.fetchval("SELECT label FROM areas WHERE name = 'indore'") == "Indore"
