"""Admin corrections and bill edits over HTTP, through the batch writer: each one's effect, audit row
and history row; refusals that change nothing; Idempotency-Key replays; who may do what."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.corrections_support import account, call, fetch, fill, state
from tests.dashboard_support import Account
from tests.support import Scanner


@pytest.fixture
def admin(client: TestClient) -> Account:
    return account(client, "admin")


@pytest.fixture
def ravi(client: TestClient) -> Account:
    return account(client, "dispatcher", "lucknow")


def history(client: TestClient, code: str) -> list[dict[str, Any]]:
    return fetch(client, "SELECT op, code, target, result, device_id FROM scans WHERE code = $1 ORDER BY id", code)


def audit(client: TestClient) -> list[dict[str, Any]]:
    return fetch(client, "SELECT actor_id, action, target, before, after FROM audit_log "
                         "WHERE action LIKE 'bag.%' OR action LIKE 'bill.%' ORDER BY id")


def test_a_child_moves_to_another_parent_audited_and_in_its_history(
        client: TestClient, admin: Account, ravi: Account) -> None:
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "SB10001", "MA", 2)
        fill(scanner, "SB10002", "MB", 29)
    answer = call(client, admin, "POST", "/api/bags/ma0001/move", {"parent": "sb10002"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"result": "OK", "data": {
        "parent": "SB10002", "count": 30, "capacity": 30, "complete": True, "child": "MA0001",
        "left": "SB10001", "from": {"parent": "SB10001", "count": 1, "capacity": 30, "complete": False}}}
    links = {row["child"]: row["parent"] for row in state(client)["links"]}
    assert links["MA0001"] == "SB10002" and links["MA0000"] == "SB10001"
    counts = {row["code"]: (row["child_count"], row["complete"]) for row in state(client)["bags"]}
    assert counts["SB10001"] == (1, False) and counts["SB10002"] == (30, True)
    assert audit(client) == [{"actor_id": admin.user_id, "action": "bag.move", "target": "bag:MA0001",
                              "before": {"kind": "child", "area": "lucknow", "parent": "SB10001"},
                              "after": {"kind": "child", "area": "lucknow", "parent": "SB10002"}}]
    last = history(client, "MA0001")[-1]
    assert (last["op"], last["target"], last["result"]) == ("move_child", "SB10002", "OK")
    assert last["device_id"].startswith("api:")


def test_take_out_take_off_reassign_and_delete_each_do_what_they_say(
        client: TestClient, admin: Account, ravi: Account) -> None:
    biller = account(client, "biller", "lucknow")
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "M444-10001", "TA", 15)
        fill(scanner, "SB10003", "TB", 3)
        assert scanner.do("parent", code="SB10004")["ok"]
    with Scanner(client, biller.token) as scanner:
        assert scanner.do("bill_create", bill="LK-9", capacity=2, destination="Agra")["ok"]
        assert scanner.do("bill_add", bill="LK-9", parent="M444-10001")["ok"]

    out = call(client, admin, "POST", "/api/bags/TB0002/take-out")
    assert out.status_code == 200 and out.json()["data"]["left"] == "SB10003"
    off = call(client, admin, "POST", "/api/bags/M444-10001/take-off-bill")
    assert off.status_code == 200 and off.json()["data"]["count"] == 0
    moved = call(client, admin, "POST", "/api/bags/SB10003/reassign", {"area": "indore"})
    assert moved.status_code == 200
    assert moved.json()["data"] | {"count": 0} == {"parent": "SB10003", "count": 0, "capacity": 30,
                                                   "complete": False, "area": "indore", "from_area": "lucknow",
                                                   "children": 2}
    gone = call(client, admin, "DELETE", "/api/bags/SB10004")
    assert gone.status_code == 200 and gone.json()["data"] == {"code": "SB10004", "kind": "parent", "area": "lucknow"}
    loose = call(client, admin, "DELETE", "/api/bags/TB0002")
    assert loose.status_code == 200

    now = state(client)
    areas = {row["code"]: row["area"] for row in now["bags"]}
    assert "SB10004" not in areas and "TB0002" not in areas
    assert areas["SB10003"] == areas["TB0000"] == areas["TB0001"] == "indore"
    assert now["bill_parents"] == [] and now["bills"][0]["parent_count"] == 0
    assert [(row["action"], row["target"]) for row in now["audit"]] == [
        ("bag.take_out", "bag:TB0002"), ("bag.take_off_bill", "bag:M444-10001"), ("bag.reassign", "bag:SB10003"),
        ("bag.delete", "bag:SB10004"), ("bag.delete", "bag:TB0002")]
    reassign = now["audit"][2]
    assert reassign["before"] == {"kind": "parent", "area": "lucknow", "child_count": 2, "bill": None,
                                  "children": ["TB0000", "TB0001"]}
    assert reassign["after"]["area"] == "indore" and now["audit"][4]["after"] is None
    # History is never deleted: the deleted child's scans are all still there, the deletion last.
    assert [(row["op"], row["target"]) for row in history(client, "TB0002")] == [
        ("child", "SB10003"), ("take_out", "SB10003"), ("delete_bag", "")]
    assert [row["target"] for row in history(client, "M444-10001") if row["op"] == "take_off_bill"] == ["LK-9"]


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("POST", "/api/bags/RA0000/move", {"parent": "M444-10014"}, 409, "PARENT_FULL"),
    ("POST", "/api/bags/RA0000/move", {"parent": "SB10011"}, 409, "ALREADY_IN_PARENT"),
    ("POST", "/api/bags/RA0000/move", {"parent": "SB10099"}, 404, "UNKNOWN_PARENT"),
    ("POST", "/api/bags/RA0000/move", {"parent": "SB10013"}, 409, "WRONG_AREA"),
    ("POST", "/api/bags/RB0000/move", {"parent": "SB10011"}, 409, "PARENT_ON_BILL"),
    ("POST", "/api/bags/RA0000/move", {"parent": "RA0001"}, 400, "NOT_A_PARENT"),
    ("POST", "/api/bags/SB10011/move", {"parent": "SB10012"}, 400, "NOT_A_CHILD"),
    ("POST", "/api/bags/NOPE0001/take-out", None, 404, "UNKNOWN_BAG"),
    ("POST", "/api/bags/RB0000/take-out", None, 409, "PARENT_ON_BILL"),
    ("POST", "/api/bags/SB10011/take-off-bill", None, 409, "NOT_ON_BILL"),
    ("POST", "/api/bags/SB10011/reassign", {"area": "lucknow"}, 409, "SAME_AREA"),
    ("POST", "/api/bags/SB10011/reassign", {"area": "atlantis"}, 400, "UNKNOWN_AREA"),
    ("POST", "/api/bags/SB10012/reassign", {"area": "indore"}, 409, "PARENT_ON_BILL"),
    ("DELETE", "/api/bags/SB10011", None, 409, "BAG_NOT_EMPTY"),
    ("DELETE", "/api/bags/RA0000", None, 409, "BAG_IN_PARENT"),
    ("DELETE", "/api/bags/SB10012", None, 409, "BAG_ON_BILL"),
    ("DELETE", "/api/bags/%3F%3F", None, 400, "INVALID_CODE"),
])
def test_a_correction_that_would_break_an_invariant_is_refused_and_changes_nothing(
        client: TestClient, admin: Account, ravi: Account, method: str, path: str, body: dict[str, Any] | None,
        status: int, code: str) -> None:
    biller = account(client, "biller", "lucknow")
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "SB10011", "RA", 2)
        fill(scanner, "SB10012", "RB", 30)
        fill(scanner, "M444-10014", "RD", 15)
    with Scanner(client, account(client, "dispatcher", "indore").token) as scanner:
        fill(scanner, "SB10013", "RC", 1)
    with Scanner(client, biller.token) as scanner:
        assert scanner.do("bill_create", bill="LK-10", capacity=1)["ok"]
        assert scanner.do("bill_add", bill="LK-10", parent="SB10012")["ok"]
    before = state(client)
    answer = call(client, admin, method, path, body)
    assert (answer.status_code, answer.json()["error"]) == (status, code), answer.text
    assert answer.json()["message"]
    assert state(client) == before
    recorded = fetch(client, "SELECT result FROM scans WHERE device_id LIKE 'api:%'")
    assert recorded == [{"result": code}]  # recorded like every operation, but not audited


def test_a_retry_with_the_same_idempotency_key_is_answered_from_the_record(
        client: TestClient, admin: Account, ravi: Account) -> None:
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "SB10021", "IA", 3)
    first = call(client, admin, "POST", "/api/bags/IA0000/take-out", key="fix-IA0000")
    again = call(client, admin, "POST", "/api/bags/IA0000/take-out", key="fix-IA0000")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other_body = call(client, admin, "POST", "/api/bags/IA0001/take-out", key="fix-IA0000")
    assert other_body.json() == first.json()  # the key names the operation, whatever is sent with it
    fresh = call(client, admin, "POST", "/api/bags/IA0000/take-out", key="fix-IA0000-2")
    assert fresh.status_code == 409 and fresh.json()["error"] == "NOT_IN_PARENT"
    assert "Idempotent-Replayed" not in fresh.headers
    assert len(audit(client)) == 1
    assert len(fetch(client, "SELECT 1 FROM scans WHERE op = 'take_out'")) == 2
    assert fetch(client, "SELECT child_count FROM bags WHERE code = 'SB10021'") == [{"child_count": 2}]
    # Another admin's same key is another operation.
    other = account(client, "admin")
    assert call(client, other, "POST", "/api/bags/IA0001/take-out", key="fix-IA0000").status_code == 200
    bad = call(client, admin, "POST", "/api/bags/IA0002/take-out", key="not a key!")
    assert bad.status_code == 400 and bad.json()["error"] == "BAD_REQUEST"


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/api/bags/WA0000/move", {"parent": "SB10032"}),
    ("POST", "/api/bags/WA0000/take-out", None),
    ("POST", "/api/bags/SB10031/take-off-bill", None),
    ("POST", "/api/bags/SB10031/reassign", {"area": "indore"}),
    ("DELETE", "/api/bags/SB10032", None),
])
def test_only_an_admin_corrects(client: TestClient, ravi: Account, method: str, path: str,
                                body: dict[str, Any] | None) -> None:
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "SB10031", "WA", 1)
        assert scanner.do("parent", code="SB10032")["ok"]
    before = state(client)
    for who in (ravi, account(client, "biller", "lucknow")):
        answer = call(client, who, method, path, body)
        assert (answer.status_code, answer.json()["error"]) == (403, "FORBIDDEN")
    assert client.request(method, path, json=body).status_code == 401
    assert state(client) == before


def test_a_bill_edit_by_its_areas_biller_or_an_admin_even_when_finished(
        client: TestClient, admin: Account, ravi: Account) -> None:
    biller = account(client, "biller", "lucknow")
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "M444-10041", "EA", 15)
    with Scanner(client, biller.token) as scanner:
        assert scanner.do("bill_create", bill="LK-41", capacity=1, destination="Agra", vehicle="UP32 1")["ok"]
        assert scanner.do("bill_add", bill="LK-41", parent="M444-10041")["ok"]
        assert scanner.do("bill_finish", bill="LK-41")["ok"]
    fixed = call(client, biller, "PATCH", "/api/bills/lk-41", {"vehicle": "UP32 AB 1234"})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["data"] | {"actual_kg": "", "expected_kg": ""} == {
        "bill": "LK-41", "count": 1, "capacity": 1, "status": "completed", "actual_kg": "", "expected_kg": "",
        "destination": "Agra", "vehicle": "UP32 AB 1234"}
    assert call(client, admin, "PATCH", "/api/bills/LK-41", {"destination": "Agra Fort"}).status_code == 200
    assert fetch(client, "SELECT destination, vehicle, status FROM bills") == [
        {"destination": "Agra Fort", "vehicle": "UP32 AB 1234", "status": "completed"}]
    assert [(row["actor_id"], row["action"], row["target"], row["before"], row["after"]) for row in audit(client)] == [
        (biller.user_id, "bill.edit", "bill:LK-41", {"destination": "Agra", "vehicle": "UP32 1", "status": "completed"},
         {"destination": "Agra", "vehicle": "UP32 AB 1234", "status": "completed"}),
        (admin.user_id, "bill.edit", "bill:LK-41",
         {"destination": "Agra", "vehicle": "UP32 AB 1234", "status": "completed"},
         {"destination": "Agra Fort", "vehicle": "UP32 AB 1234", "status": "completed"})]
    assert [row["op"] for row in history(client, "LK-41")][-2:] == ["bill_edit", "bill_edit"]


def test_a_bill_of_another_area_is_answered_as_one_that_does_not_exist(client: TestClient, ravi: Account) -> None:
    lucknow = account(client, "biller", "lucknow")
    indore = account(client, "biller", "indore")
    with Scanner(client, lucknow.token) as scanner:
        assert scanner.do("bill_create", bill="LK-51", capacity=1, vehicle="UP32")["ok"]
    before = state(client)
    other_area = call(client, indore, "PATCH", "/api/bills/LK-51", {"vehicle": "MP09"})
    missing = call(client, indore, "PATCH", "/api/bills/LK-52", {"vehicle": "MP09"})
    assert other_area.status_code == missing.status_code == 404
    assert other_area.json() | {"data": None} == missing.json() | {"data": None}
    assert other_area.json()["data"] == {"bill": "LK-51"} and missing.json()["data"] == {"bill": "LK-52"}
    assert call(client, ravi, "PATCH", "/api/bills/LK-51", {"vehicle": "X"}).status_code == 403
    assert state(client) == before


@pytest.mark.parametrize("body", [{}, {"vehicle": 7}, {"vehicle": "A", "area": "indore"}, {"destination": None}])
def test_a_bill_edit_needs_a_destination_or_a_vehicle_as_text(client: TestClient, body: dict[str, Any]) -> None:
    admin = account(client, "admin")
    answer = call(client, admin, "PATCH", "/api/bills/LK-61", body)
    assert (answer.status_code, answer.json()["error"]) == (400, "BAD_REQUEST")


def test_a_bill_edit_of_text_too_long_is_refused(client: TestClient) -> None:
    biller = account(client, "biller", "lucknow")
    with Scanner(client, biller.token) as scanner:
        assert scanner.do("bill_create", bill="LK-71", capacity=1)["ok"]
    answer = call(client, biller, "PATCH", "/api/bills/LK-71", {"vehicle": "v" * 201})
    assert (answer.status_code, answer.json()["error"]) == (400, "INVALID_BILL")
    assert answer.json()["data"] == {"reason": "the vehicle is longer than 200 characters"}


@pytest.mark.parametrize("body", [None, {"parent": 5}, {}])
def test_a_move_needs_a_parent(client: TestClient, body: dict[str, Any] | None) -> None:
    admin = account(client, "admin")
    answer = call(client, admin, "POST", "/api/bags/C0001/move", body)
    assert (answer.status_code, answer.json()["error"]) == (400, "BAD_REQUEST")
