"""The admin page's API: listing users and areas, for admins (areas for everyone logged in)."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.conftest import ADMIN_PASSWORD
from tests.support import login, make_user


def test_admin_lists_users_with_their_state(client: TestClient) -> None:
    dispatcher = make_user(client, "dispatcher", "raipur")
    admin = login(client, "admin", ADMIN_PASSWORD)
    response = client.get("/api/users", headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 200
    users = {u["username"]: u for u in response.json()["users"]}
    assert users["admin"]["role"] == "admin" and users["admin"]["sessions"] >= 1
    (name,) = [n for n, u in users.items() if u["area"] == "raipur"]
    assert users[name] | {"id": 0} == {"id": 0, "username": name, "role": "dispatcher", "area": "raipur",
                                       "active": True, "locked": False, "sessions": 1}
    refused = client.get("/api/users", headers={"cookie": f"tt_session={dispatcher}"})
    assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN"


def test_areas_are_listed_for_any_logged_in_user(client: TestClient) -> None:
    assert client.get("/api/areas").status_code == 401
    dispatcher = make_user(client, "dispatcher", "akola")
    response = client.get("/api/areas", headers={"cookie": f"tt_session={dispatcher}"})
    names = [a["name"] for a in response.json()["areas"]]
    assert {"lucknow", "sri_ganganagar", "akola"} <= set(names) and len(names) == 10


def test_a_biller_reads_a_bill_of_their_area(client: TestClient) -> None:
    from tests.support import Scanner

    biller = make_user(client, "biller", "hisar")
    with Scanner(client, biller) as scanner:
        assert scanner.do("bill_create", bill="hs-77", capacity=3, destination="Delhi", vehicle="HR26 1234")["ok"]
    response = client.get("/api/bills/HS-77", headers={"cookie": f"tt_session={biller}"})
    assert response.status_code == 200
    bill = response.json()["bill"]
    assert bill | {"created_at": None, "created_by": None} == {
        "code": "HS-77", "area": "hisar", "parent_count": 0, "capacity": 3, "status": "open",
        "destination": "Delhi", "vehicle": "HR26 1234", "actual_kg": "0.00", "expected_kg": "0.00", "parents": [],
        "created_at": None, "created_by": None, "completed_at": None}
    other = make_user(client, "biller", "ranchi")
    theirs = client.get("/api/bills/HS-77", headers={"cookie": f"tt_session={other}"})
    missing = client.get("/api/bills/NOPE", headers={"cookie": f"tt_session={biller}"})
    assert missing.status_code == 404 and missing.json()["error"] == "UNKNOWN_BILL"
    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
