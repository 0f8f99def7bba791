"""The bag lookup and the bags list: what a bag shows, its history timeline, area confinement (a
bag of another area is indistinguishable from no bag), filters against a Python reference, bad
parameters, and pages that stay stable while bags are added."""

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
    Bag,
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


def get(client: TestClient, path: str, token: str, **params: str) -> Any:
    return client.get(path, params=params, headers=cookie(token))


def test_a_parent_and_a_child_show_where_they_are_and_what_happened(client: TestClient) -> None:
    dispatcher = make_user(client, "dispatcher", "indore")
    with Scanner(client, dispatcher) as scanner:
        assert scanner.do("parent", code="m444-00001")["ok"]
        assert scanner.do("child", code="ch01", parent="M444-00001")["ok"]
        assert scanner.do("child", code="ch02", parent="M444-00001")["ok"]
        assert scanner.do("undo", code="CH02")["ok"]
    parent = get(client, "/api/bags/m444-00001", dispatcher).json()
    name = parent["bag"]["created_by"]
    assert parent["bag"] | {"created_at": None} == {
        "code": "M444-00001", "kind": "parent", "format": "mini", "capacity": 15, "child_count": 1,
        "status": "filling", "area": "indore", "expected_kg": "15.00", "created_at": None, "created_by": name,
        "completed_at": None, "bill": None,
        "children": [{"code": "CH01", "linked_at": parent["bag"]["children"][0]["linked_at"], "linked_by": name}]}
    assert [(e["kind"], e["op"], e["code"]) for e in parent["history"]] == [
        ("scan", "child", "CH02"), ("scan", "child", "CH01"), ("scan", "parent", "M444-00001")]
    assert parent["history_truncated"] is False
    assert {e["user"] for e in parent["history"]} == {name} and all(e["result"] == "OK" for e in parent["history"])
    child = get(client, "/api/bags/%20ch01%0D", dispatcher).json()
    assert child["bag"]["parent"] == {"code": "M444-00001", "child_count": 1, "capacity": 15}
    assert child["bag"]["status"] == "in_parent" and child["bag"]["expected_kg"] == "1.00"
    assert "children" not in child["bag"] and "bill" not in child["bag"]
    undone = get(client, "/api/bags/CH02", dispatcher).json()
    assert undone["bag"]["status"] == "loose" and undone["bag"]["parent"] is None
    assert [(e["kind"], e["op"]) for e in undone["history"]] == [("undo", "undo"), ("scan", "child")]


async def test_the_timeline_names_corrections_imports_and_returns(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    data = Dataset(bags=[Bag("SB00001", "parent", "lucknow", START, capacity=2)])
    await write_dataset(clean_db, data)
    rows = [("import:ab12", "parent", "SB00001", ""), ("dev-1", "child", "C0001", "SB00001"),
            ("api:1:k", "take_out", "C0001", "SB00001"), ("dev-1", "return_add", "SB00001", "RT-1"),
            ("dev-1", "bill_create", "SB00001", ""), ("dev-1", "bill_add", "SB00001", "BL-1"),
            ("dev-1", "child", "C0002", "OTHER"), ("dev-1", "reassign_area", "SB00001", "indore")]
    for seq, (device, op, code, target) in enumerate(rows, start=1):
        await clean_db.execute("""INSERT INTO scans (device_id, seq, op, code, target, result, area, server_time)
                                  VALUES ($1, $2, $3, $4, $5, 'OK', 'lucknow', $6)""",
                               device, seq, op, code, target, START + timedelta(seconds=seq))
    history = get(client, "/api/bags/SB00001", admin).json()["history"]
    assert [(e["kind"], e["op"]) for e in history] == [
        ("correction", "reassign_area"), ("scan", "bill_add"), ("return", "return_add"),
        ("correction", "take_out"), ("scan", "child"), ("import", "parent")]


def test_another_areas_bag_is_indistinguishable_from_no_bag(client: TestClient) -> None:
    owner = make_user(client, "dispatcher", "jaipur")
    with Scanner(client, owner) as scanner:
        assert scanner.do("parent", code="SB00077")["ok"]
        assert scanner.do("child", code="JP0001", parent="SB00077")["ok"]
    for role in ("dispatcher", "biller"):
        stranger = make_user(client, role, "hisar")
        for code in ("SB00077", "JP0001"):
            theirs, missing = get(client, f"/api/bags/{code}", stranger), get(client, "/api/bags/SB99999", stranger)
            assert (theirs.status_code, theirs.json()) == (missing.status_code, missing.json())
            assert missing.status_code == 404 and missing.json()["error"] == "UNKNOWN_BAG"
        assert get(client, "/api/bags", stranger).json() == {"bags": [], "next": None}
        assert get(client, "/api/bags", stranger, prefix="SB").json() == {"bags": [], "next": None}
        refused = get(client, "/api/bags", stranger, area="jaipur")
        assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN"
        assert get(client, "/api/bags", stranger, area="hisar").status_code == 200
    assert [b["code"] for b in get(client, "/api/bags", owner).json()["bags"]] == ["JP0001", "SB00077"]
    admin = login(client, "admin", ADMIN_PASSWORD)
    assert get(client, "/api/bags/JP0001", admin).json()["bag"]["parent"]["code"] == "SB00077"
    assert len(get(client, "/api/bags", admin, area="jaipur").json()["bags"]) == 2
    assert client.get("/api/bags/SB00077").status_code == 401 and client.get("/api/bags").status_code == 401


def test_a_rejected_attempt_from_another_area_stays_out_of_the_history(client: TestClient) -> None:
    owner, stranger = make_user(client, "dispatcher", "jaipur"), make_user(client, "dispatcher", "hisar")
    with Scanner(client, owner) as scanner:
        assert scanner.do("parent", code="SB00078")["ok"]
    with Scanner(client, stranger) as scanner:
        assert scanner.do("child", code="HS0001", parent="SB00078")["code"] == "WRONG_AREA"
    assert [e["op"] for e in get(client, "/api/bags/SB00078", owner).json()["history"]] == ["parent"]
    admin = login(client, "admin", ADMIN_PASSWORD)
    assert [e["result"] for e in get(client, "/api/bags/SB00078", admin).json()["history"]] == ["WRONG_AREA", "OK"]


@pytest.mark.parametrize(("params", "code", "name"), [
    ({"limit": "0"}, "INVALID_FILTER", "limit"), ({"limit": "201"}, "INVALID_FILTER", "limit"),
    ({"limit": "ten"}, "INVALID_FILTER", "limit"), ({"kind": "box"}, "INVALID_FILTER", "kind"),
    ({"status": "lost"}, "INVALID_FILTER", "status"),
    ({"kind": "child", "status": "on_bill"}, "INVALID_FILTER", "status"),
    ({"from": "yesterday"}, "INVALID_FILTER", "from"), ({"to": "2026-13-01"}, "INVALID_FILTER", "to"),
    ({"to": "9999-12-31"}, "INVALID_FILTER", "to"), ({"area": "Not An Area"}, "INVALID_FILTER", "area"),
    ({"colour": "red"}, "INVALID_FILTER", "colour"), ({"prefix": "X" * 41}, "INVALID_FILTER", "prefix"),
    ({"after": "nonsense"}, "INVALID_CURSOR", None), ({"after": "W10"}, "INVALID_CURSOR", None),
    ({"after": "WyJzY2FucyIsIjIwMjYtMTEtMjdUMTg6MDA6MDArMDA6MDAiLDFd"}, "INVALID_CURSOR", None),  # a scans cursor
    ({"after": "WyJiYWdzIiwiMjAyNi0xMS0yN1QxODowMDowMCIsMV0"}, "INVALID_CURSOR", None),  # no offset
    ({"after": "WyJiYWdzIiwiMjAyNi0xMS0yN1QxODowMDowMCswMDowMCIsMF0"}, "INVALID_CURSOR", None),  # id 0
])
def test_bad_list_parameters_are_named(client: TestClient, params: dict[str, str], code: str, name: str | None) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    response = get(client, "/api/bags", admin, **params)
    assert response.status_code == 400 and response.json()["error"] == code, response.text
    if name is not None:
        assert repr(name) in response.json()["message"]


def test_a_parameter_given_twice_is_refused_and_an_empty_one_ignored(client: TestClient) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    twice = client.get("/api/bags?kind=parent&kind=child", headers=cookie(admin))
    assert twice.status_code == 400 and "'kind'" in twice.json()["message"]
    assert client.get("/api/bags?kind=&area=&status=&after=", headers=cookie(admin)).status_code == 200


@pytest.fixture
async def dataset(clean_db: asyncpg.Pool) -> Dataset:
    data = make_dataset()
    await write_dataset(clean_db, data)
    return data


def expected_bags(data: Dataset, params: dict[str, str]) -> list[str]:
    """The reference: the same filter over the Python data set, in the documented order."""
    start, end = within(params)
    bags = [b for b in data.bags
            if b.code.startswith(params.get("prefix", "")) and params.get("kind", b.kind) == b.kind
            and params.get("area", b.area) == b.area and params.get("status", b.status) == b.status
            and start <= b.created_at < end]
    if "prefix" in params:
        return sorted(b.code for b in bags)
    return [b.code for b in newest_first(bags, "created_at")]


instants = st.integers(0, 4 * 24 * 60).map(lambda m: (START + timedelta(minutes=m)).isoformat())
bag_params = st.fixed_dictionaries({}, optional={
    "prefix": st.sampled_from(["S", "SB0000", "M444-", "M444-0001", "C", "C0001", "C00", "Q"]),
    "kind": st.sampled_from(["parent", "child"]),
    "area": st.sampled_from(AREAS),
    "status": st.sampled_from(["empty", "filling", "complete", "on_bill", "loose", "in_parent"]),
    "from": instants, "to": instants})


def test_every_filter_combination_lists_what_the_reference_lists(client: TestClient, dataset: Dataset) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)

    @hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(params=bag_params, limit=st.integers(1, 40))
    def check(params: dict[str, str], limit: int) -> None:
        if "kind" in params and "status" in params and params["kind"] != ("child" if params["status"] in (
                "loose", "in_parent") else "parent"):
            return
        rows = walk(client, "/api/bags", admin, "bags", params, limit)
        assert [r["code"] for r in rows] == expected_bags(dataset, params)
        by_code = {b.code: b for b in dataset.bags}
        for row in rows:
            bag = by_code[row["code"]]
            assert (row["kind"], row["area"], row["status"], row["parent"], row["bill"]) == (
                bag.kind, bag.area, bag.status, bag.parent, bag.bill)

    check()


def test_a_dispatchers_list_is_their_area_whatever_they_filter(client: TestClient, dataset: Dataset) -> None:
    dispatcher = make_user(client, "dispatcher", "indore")
    for params in ({}, {"kind": "parent"}, {"status": "loose"}, {"prefix": "C0"}, {"area": "indore"}):
        rows = walk(client, "/api/bags", dispatcher, "bags", params, 9)
        assert [r["code"] for r in rows] == expected_bags(dataset, {**params, "area": "indore"}) and rows


def test_dates_are_days_of_the_hub_timezone(client: TestClient, dataset: Dataset) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    rows = walk(client, "/api/bags", admin, "bags", {"from": "2025-11-28", "to": "2025-11-28"}, 50)
    # TIMEZONE is UTC in the tests: the day is 2025-11-28T00:00Z up to (not including) the 29th
    assert [r["code"] for r in rows] == expected_bags(
        dataset, {"from": "2025-11-28T00:00:00+00:00", "to": "2025-11-29T00:00:00+00:00"}) and rows


def test_pages_stay_stable_while_bags_are_added(client: TestClient, dataset: Dataset, database_url: str) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    before = [b["code"] for b in walk(client, "/api/bags", admin, "bags", {}, 200)]
    seen, pages, added = walk_while_inserting(client, "/api/bags", admin, "bags", database_url,
                                       "INSERT INTO bags (code, kind, area) VALUES ('NEW' || $1::int, 'C', 'lucknow')")
    assert pages > 10 and added == pages - 1
    assert [b["code"] for b in seen] == before  # every bag of the start, once, in order; the new ones are newer
