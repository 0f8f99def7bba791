"""The bills, scans and audit lists and the bill detail: roles and areas (another area's bill is
indistinguishable from no bill), filters against a Python reference, stable pages while scans are
added, and the bill's parents and weights as scanning made them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.http_support import cookie
from tests.records_support import (
    AREAS,
    START,
    Dataset,
    make_dataset,
    newest_first,
    walk,
    walk_while_inserting,
    within,
    write_dataset,
)
from tests.support import Scanner, login, make_user


@pytest.fixture
def client(settings: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    with TestClient(create_app(settings.replace(api_requests_per_minute=1_000_000)),
                    base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
async def dataset(clean_db: asyncpg.Pool) -> Dataset:
    data = make_dataset(seed=11)
    await write_dataset(clean_db, data)
    return data


def get(client: TestClient, path: str, token: str, **params: str) -> Any:
    return client.get(path, params=params, headers=cookie(token))


def test_a_bill_shows_its_parents_and_weights(client: TestClient) -> None:
    dispatcher, biller = make_user(client, "dispatcher", "akola"), make_user(client, "biller", "akola")
    with Scanner(client, dispatcher) as scanner:
        for parent in ("M444-00011", "M444-00012"):
            assert scanner.do("parent", code=parent)["ok"]
            for n in range(15):
                assert scanner.do("child", code=f"{parent[-2:]}C{n:03d}", parent=parent)["ok"]
    with Scanner(client, biller) as scanner:
        assert scanner.do("bill_create", bill="ak-1", capacity=5, destination="Nagpur", vehicle="MH30 1")["ok"]
        assert scanner.do("bill_add", bill="AK-1", parent="M444-00012")["ok"]
        assert scanner.do("bill_add", bill="AK-1", parent="M444-00011")["ok"]
        assert scanner.do("bill_finish", bill="AK-1")["ok"]
    bill = get(client, "/api/bills/ak-1", biller).json()["bill"]
    biller_name = bill["created_by"]
    assert biller_name and bill["status"] == "completed" and bill["completed_at"]
    assert (bill["parent_count"], bill["capacity"], bill["actual_kg"], bill["expected_kg"]) == (2, 5, "30.00", "30.00")
    assert [(p["code"], p["child_count"], p["expected_kg"], p["added_by"]) for p in bill["parents"]] == [
        ("M444-00012", 15, "15.00", biller_name), ("M444-00011", 15, "15.00", biller_name)]
    lookup = get(client, "/api/bags/M444-00011", dispatcher).json()["bag"]
    assert lookup["status"] == "on_bill" and lookup["bill"] == {"code": "AK-1", "status": "completed"}
    listed = get(client, "/api/bills", biller).json()["bills"]
    assert [(b["code"], b["parent_count"], b["status"]) for b in listed] == [("AK-1", 2, "completed")]


def test_another_areas_bill_is_indistinguishable_from_no_bill(client: TestClient) -> None:
    owner = make_user(client, "biller", "raipur")
    with Scanner(client, owner) as scanner:
        assert scanner.do("bill_create", bill="RP-9", capacity=2)["ok"]
    stranger = make_user(client, "biller", "ranchi")
    theirs, missing = get(client, "/api/bills/RP-9", stranger), get(client, "/api/bills/RP-10", stranger)
    assert missing.status_code == 404 and missing.json()["error"] == "UNKNOWN_BILL"
    assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
    assert get(client, "/api/bills", stranger).json() == {"bills": [], "next": None}
    assert get(client, "/api/bills", stranger, area="raipur").json()["error"] == "FORBIDDEN"
    dispatcher = make_user(client, "dispatcher", "raipur")
    assert get(client, "/api/bills/RP-9", dispatcher).json()["error"] == "FORBIDDEN"  # the role, not the bill
    listing = get(client, "/api/bills", dispatcher)  # dispatchers have no bills work: the list too is refused
    assert (listing.status_code, listing.json()["error"]) == (403, "FORBIDDEN")
    assert get(client, "/api/exports/bills.csv", dispatcher).json()["error"] == "FORBIDDEN"
    assert [b["code"] for b in get(client, "/api/bills", owner).json()["bills"]] == ["RP-9"]
    admin = login(client, "admin", ADMIN_PASSWORD)
    assert get(client, "/api/bills/RP-9", admin).json()["bill"]["area"] == "raipur"


def expected_bills(data: Dataset, params: dict[str, str]) -> list[str]:
    start, end = within(params)
    text = params.get("q", "").lower()
    bills = [b for b in data.bills
             if params.get("status", "completed" if b.completed else "open") == ("completed" if b.completed else "open")
             and params.get("area", b.area) == b.area and start <= b.created_at < end
             and (text in b.destination.lower() or text in b.vehicle.lower())]
    return [b.code for b in newest_first(bills, "created_at")]


def expected_scans(data: Dataset, params: dict[str, str]) -> list[int]:
    start, end = within(params)
    scans = [s for s in data.scans
             if (params.get("result", "all") == "all" or s.result != "OK") and params.get("user", s.user) == s.user
             and params.get("device", s.device) == s.device and params.get("area", s.area) == s.area
             and start <= s.at < end]
    return [s.id for s in newest_first(scans, "at")]


def expected_entries(data: Dataset, params: dict[str, str]) -> list[int]:
    start, end = within(params)
    entries = [e for e in data.entries
               if params.get("action", e.action) == e.action and params.get("actor", e.actor) == e.actor
               and params.get("target", e.target) == e.target and start <= e.at < end]
    return [e.id for e in newest_first(entries, "at")]


instants = st.integers(0, 4 * 24 * 60).map(lambda m: (START + timedelta(minutes=m)).isoformat())
bill_params = st.fixed_dictionaries({}, optional={
    "status": st.sampled_from(["open", "completed"]), "area": st.sampled_from(AREAS),
    "q": st.sampled_from(["delhi", "DEL", "7777", "rj14", "pu", "x%", "_"]), "from": instants, "to": instants})
scan_params = st.fixed_dictionaries({}, optional={
    "result": st.sampled_from(["all", "rejected"]), "user": st.sampled_from(["user0", "user1", "user3", "nobody"]),
    "device": st.sampled_from(["dev-0", "dev-4", "dev-9"]), "area": st.sampled_from(AREAS),
    "from": instants, "to": instants})
audit_params = st.fixed_dictionaries({}, optional={
    "action": st.sampled_from(["bill.edit", "user.create", "other"]), "actor": st.sampled_from(["user0", "user2"]),
    "target": st.sampled_from(["bill:BL-1", "user:3"]), "from": instants, "to": instants})


def test_every_filter_combination_lists_what_the_reference_lists(client: TestClient, dataset: Dataset) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)

    @hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(which=st.sampled_from(["bills", "scans", "audit"]), data=st.data(), limit=st.integers(1, 30))
    def check(which: str, data: st.DataObject, limit: int) -> None:
        if which == "bills":
            params = data.draw(bill_params)
            rows = walk(client, "/api/bills", admin, "bills", params, limit)
            assert [r["code"] for r in rows] == expected_bills(dataset, params)
        elif which == "scans":
            params = data.draw(scan_params)
            rows = walk(client, "/api/scans", admin, "scans", params, limit)
            assert [r["id"] for r in rows] == expected_scans(dataset, params)
        else:
            params = data.draw(audit_params)
            rows = walk(client, "/api/audit", admin, "entries", params, limit)
            assert [r["id"] for r in rows] == expected_entries(dataset, params)

    check()


def test_a_dispatcher_lists_only_their_areas_scans(client: TestClient, dataset: Dataset) -> None:
    dispatcher = make_user(client, "dispatcher", "jaipur")
    for params in ({}, {"result": "rejected"}, {"user": "user1"}, {"area": "jaipur"}):
        rows = walk(client, "/api/scans", dispatcher, "scans", params, 11)
        assert [r["id"] for r in rows] == expected_scans(dataset, {**params, "area": "jaipur"}) and rows
    assert get(client, "/api/scans", dispatcher, area="indore").json()["error"] == "FORBIDDEN"
    by_id = {s.id: s for s in dataset.scans}
    row = get(client, "/api/scans", dispatcher).json()["scans"][0]
    scan = by_id[row["id"]]
    assert row | {"at": None} == {"id": scan.id, "at": None, "client_at": None, "device": scan.device,
                                  "user": scan.user, "area": "jaipur", "op": scan.op, "code": scan.code,
                                  "target": scan.target, "result": scan.result, "detail": {}}


def test_the_audit_log_is_for_admins(client: TestClient, dataset: Dataset) -> None:
    for role in ("dispatcher", "biller"):
        refused = get(client, "/api/audit", make_user(client, role, "lucknow"))
        assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN"
    admin = login(client, "admin", ADMIN_PASSWORD)
    entries = get(client, "/api/audit", admin, action="user.create", limit="200").json()["entries"]
    made = [e for e in entries if e["actor"] == "admin"]  # the two users made above, audited
    assert len(made) == 2 and all(e["before"] is None and e["after"]["role"] for e in made)


@pytest.mark.parametrize(("path", "params", "code"), [
    ("/api/bills", {"status": "closed"}, "INVALID_FILTER"), ("/api/bills", {"q": "a\x00b"}, "INVALID_FILTER"),
    ("/api/bills", {"prefix": "B"}, "INVALID_FILTER"), ("/api/scans", {"result": "ok"}, "INVALID_FILTER"),
    ("/api/scans", {"user": "Not A User!"}, "INVALID_FILTER"), ("/api/scans", {"device": "a b"}, "INVALID_FILTER"),
    ("/api/audit", {"actor": "-"}, "INVALID_FILTER"), ("/api/audit", {"from": "2026-02-30"}, "INVALID_FILTER"),
    ("/api/scans", {"after": "WyJiaWxscyIsIjIwMjYtMTEtMjdUMTg6MDA6MDArMDA6MDAiLDFd"}, "INVALID_CURSOR"),
])
def test_bad_parameters_are_400_with_codes(client: TestClient, path: str, params: dict[str, str], code: str) -> None:
    response = get(client, path, login(client, "admin", ADMIN_PASSWORD), **params)
    assert response.status_code == 400 and response.json()["error"] == code, response.text


def test_scan_pages_stay_stable_while_scans_are_recorded(client: TestClient, dataset: Dataset,
                                                         database_url: str) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    before = [s["id"] for s in walk(client, "/api/scans", admin, "scans", {}, 200)]
    seen, pages, added = walk_while_inserting(
        client, "/api/scans", admin, "scans", database_url,
        """INSERT INTO scans (device_id, seq, op, code, result, area)
           VALUES ('dev-new', $1 + 1, 'parent', 'SB1', 'OK', 'indore')""")
    assert pages == -(-len(before) // 4) and added == pages - 1 and [s["id"] for s in seen] == before
