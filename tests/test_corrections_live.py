"""Corrections reach the dashboards live, and the counters stay what SQL counts after each one: a
reassign moves a parent's links and completion to its new area, a take-out or move takes a link back
where it was counted, a deletion changes nothing but the scan count."""

from __future__ import annotations

import time

from starlette.testclient import TestClient

from tests.corrections_support import account, call, fill, hub_of
from tests.dashboard_support import DashboardView, shown_areas, sql_today, stats_today, totals
from tests.support import Scanner
from tests.ws_support import Watcher


def follow(watcher: Watcher, view: DashboardView, seq: int, timeout: float = 10.0) -> None:
    """Apply what the hub sends until the view is at commit `seq`."""
    end = time.monotonic() + timeout
    while view.seq != seq:
        assert time.monotonic() < end, f"the dashboard stayed at {view.seq}, not {seq}"
        message = watcher.next(end - time.monotonic())
        if view.apply(message) == "resync":
            watcher.send({"t": "resync"})


def test_each_correction_is_a_live_delta_and_the_counters_equal_sql_after_it(client: TestClient) -> None:
    admin = account(client, "admin")
    ravi = account(client, "dispatcher", "lucknow")
    biller = account(client, "biller", "lucknow")
    watchers = {scope: (Watcher(client, admin.token, f"scope={scope}"), DashboardView())
                for scope in ("all", "area:lucknow", "area:indore")}
    for watcher, view in watchers.values():
        view.apply(watcher.next())
    with Scanner(client, ravi.token) as scanner:
        fill(scanner, "M444-20001", "LA", 15)
        fill(scanner, "M444-20002", "LB", 15)
        fill(scanner, "M444-20003", "LC", 14)
        assert scanner.do("parent", code="SB20004")["ok"]
    with Scanner(client, biller.token) as scanner:
        assert scanner.do("bill_create", bill="LK-200", capacity=3)["ok"]
        assert scanner.do("bill_add", bill="LK-200", parent="M444-20002")["ok"]

    corrections = [
        ("POST", "/api/bags/M444-20001/reassign", {"area": "indore"}, ("reassign_area", "OK")),
        ("POST", "/api/bags/LB0003/take-out", None, ("take_out", "PARENT_ON_BILL")),
        ("POST", "/api/bags/M444-20002/take-off-bill", None, ("take_off_bill", "OK")),
        ("POST", "/api/bags/LB0003/take-out", None, ("take_out", "OK")),
        ("POST", "/api/bags/LB0004/move", {"parent": "M444-20003"}, ("move_child", "OK")),
        ("POST", "/api/bags/LB0003/move", {"parent": "SB20004"}, ("move_child", "NOT_IN_PARENT")),
        ("POST", "/api/bags/LC0000/move", {"parent": "SB20004"}, ("move_child", "OK")),
        ("DELETE", "/api/bags/M444-20001", None, ("delete_bag", "BAG_NOT_EMPTY")),
        ("DELETE", "/api/bags/LB0003", None, ("delete_bag", "OK")),
        ("PATCH", "/api/bills/LK-200", {"vehicle": "UP32 9"}, ("bill_edit", "OK")),
    ]
    hub = hub_of(client)
    day = watchers["all"][1].day
    for method, path, body, expected in corrections:
        answer = call(client, admin, method, path, body)
        assert answer.status_code in (200, 409), answer.text
        seq = hub.fanout.state.seq
        for watcher, view in watchers.values():
            follow(watcher, view, seq)
        counted = client.portal.call(sql_today, hub.pool, day)
        assert client.portal.call(stats_today, hub.pool, day) == counted, expected
        everything = watchers["all"][1]
        assert shown_areas(everything) == counted and everything.counters == totals(counted), expected
        for area in ("lucknow", "indore"):
            assert watchers[f"area:{area}"][1].counters == totals(counted, area), (expected, area)
        last = everything.events[-1]
        assert (last["op"], last["result"]) == expected

    counted = client.portal.call(sql_today, hub.pool, day)
    assert counted["indore"] == {"accepted": 1, "rejected": 1, "children_linked": 15, "parents_completed": 1,
                                 "bills_completed": 0}
    assert counted["lucknow"]["children_linked"] == 44 - 15 - 1  # LB0003 taken out
    lucknow = watchers["area:lucknow"][1]
    assert {code: p["count"] for code, p in lucknow.parents.items()} == {
        "M444-20002": 13, "M444-20003": 14, "SB20004": 1}
    assert watchers["all"][1].bills["LK-200"]["vehicle"] == "UP32 9"
