"""The supervisor dashboard shows a scanner by the name an admin gave it: from the snapshot's
`names`, and anew at each `names` message (a rename on any hub); without a name, by its id."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.dashboard_support import WS_ROUTE, DashboardHub, collect_errors, counters, snapshot

pytestmark = pytest.mark.browser


def named_snapshot() -> dict[str, Any]:
    message = snapshot(10, 3)
    message["scanners"] = [{"device": "hh-1", "user": "dina", "area": "lucknow", **counters(accepted=3)}]
    message["events"] = [{"device": "hh-1", "seq": 3, "user": "dina", "area": "lucknow", "op": "parent",
                          "code": "SB00017", "target": "", "result": "OK", "data": {}, "at": 1893571200}]
    message["names"] = {"hh-1": "Dock 3 left"}
    return message


def test_the_dashboard_shows_scanners_by_their_names(browser: Any) -> None:
    with static_web() as base:
        context = browser.new_context(service_workers="block", viewport={"width": 1440, "height": 1000})
        page = context.new_page()
        errors = collect_errors(page)
        page.route("**/api/me", lambda route: route.fulfill(json={
            "user": {"id": 1, "username": "ravi", "role": "admin", "area": None}, "home": "/admin.html"}))
        hub = DashboardHub(lambda index: named_snapshot())
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/dashboard.html")
        scanner = page.locator("#scanners-table tr[data-device='hh-1']")
        expect(scanner).to_contain_text("Dock 3 left")
        expect(page.locator("#events li[data-code='SB00017'] .who")).to_contain_text("dina · Dock 3 left")

        hub.send({"t": "names", "names": {"hh-1": "Ramp scanner"}})
        expect(scanner).to_contain_text("Ramp scanner")
        expect(page.locator("#events li[data-code='SB00017'] .who")).to_contain_text("dina · Ramp scanner")
        hub.send({"t": "names", "names": {"hh-1": None}})
        expect(scanner).not_to_contain_text("Ramp scanner")
        expect(scanner).to_contain_text("hh-1")
        context.close()
    assert errors == []
