"""The supervisor's dashboard against a faked hub, under the hub's Content-Security-Policy (web/
is served with it in the tests: tests/browser/browsers.py): a bill with a long destination keeps
its Weight in view, progress bars are drawn (no style="" attribute, which the policy refuses), and
a scan made offline is listed at the time it was made, saying when it reached the hub.

Screenshots: test-artifacts/screenshots/dashboard-supervisor-long-bill-*.png.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.dashboard_support import (
    WS_ROUTE,
    DashboardHub,
    collect_errors,
    snapshot,
)
from tests.browser.page_support import NARROW, PHONE, overflow

pytestmark = pytest.mark.browser

MADE = datetime(2030, 1, 2, 8, 0, 5, tzinfo=UTC).timestamp()  # on the scanner, offline
RECEIVED = MADE + 25 * 60  # at the hub, once the Wi-Fi was back
DESTINATION = "Central Distribution Centre, Gate 4, Transport Nagar Industrial Area, Kanpur Road, Lucknow"


def supervisor_snapshot() -> dict[str, Any]:
    message = snapshot(40, 12)
    message["bills"] = [{"code": "BILL-LONG-1", "area": "lucknow", "count": 3, "capacity": 4, "status": "open",
                         "destination": DESTINATION, "vehicle": "UP32 AB 1234 (trailer UP32 ZZ 9876)",
                         "actual_kg": "75", "expected_kg": "90"}]
    message["events"] = [
        {"device": "hh-1", "seq": 7, "user": "dina", "area": "lucknow", "op": "child", "code": "COFF0001",
         "target": "SB00017", "result": "OK", "data": {}, "at": RECEIVED, "client_at": MADE},
        {"device": "hh-1", "seq": 8, "user": "dina", "area": "lucknow", "op": "child", "code": "CNOW0001",
         "target": "SB00017", "result": "OK", "data": {}, "at": RECEIVED + 1, "client_at": RECEIVED + 0.5},
        {"device": "hh-2", "seq": 3, "user": "old", "area": "lucknow", "op": "child", "code": "CNOCLOCK",
         "target": "SB00017", "result": "OK", "data": {}, "at": RECEIVED + 2},
    ]
    return message


def open_supervisor(browser: Any, base: str, viewport: dict[str, int]) -> tuple[Any, list[str]]:
    context = browser.new_context(service_workers="block", viewport=viewport)
    page = context.new_page()
    errors = collect_errors(page)
    page.route("**/api/me", lambda route: route.fulfill(json={
        "user": {"id": 1, "username": "ravi", "role": "admin", "area": None}, "home": "/admin.html"}))
    page.route_web_socket(WS_ROUTE, DashboardHub(lambda index: supervisor_snapshot()).handler)
    page.goto(f"{base}/dashboard.html")
    expect(page.locator("#bills-table tr[data-bill='BILL-LONG-1']")).to_be_visible()
    return page, errors


@pytest.mark.parametrize("viewport", [{"width": 1440, "height": 1000}, PHONE, NARROW],
                         ids=["desktop", "phone", "narrow"])
def test_long_bill_keeps_weight_in_view(browser: Any, screenshots: Path, viewport: dict[str, int]) -> None:
    with static_web() as base:
        page, errors = open_supervisor(browser, base, viewport)
        row = page.locator("#bills-table tr[data-bill='BILL-LONG-1']")
        weight = row.locator("td.n")
        expect(weight).to_have_text("75 / 90")
        page.screenshot(path=str(screenshots / f"dashboard-supervisor-long-bill-{viewport['width']}.png"),
                        full_page=True)
        # measured at once: the page redraws its rows now and then
        weight_right, card_right, fill_width = page.evaluate("""() => {
            const row = document.querySelector("#bills-table tr[data-bill='BILL-LONG-1']");
            return [row.querySelector("td.n").getBoundingClientRect().right,
                    document.querySelector(".bills-card").getBoundingClientRect().right,
                    row.querySelector(".fill").getBoundingClientRect().width];
        }""")
        assert weight_right <= card_right  # in view, not behind the card's sideways scroll
        assert fill_width > 0  # the 3/4 bar is drawn under the CSP
        assert overflow(page) == []
        page.context.close()
    assert errors == []


def test_offline_scan_is_listed_when_it_was_made(browser: Any) -> None:
    with static_web() as base:
        page, errors = open_supervisor(browser, base, {"width": 1440, "height": 1000})
        offline = page.locator("#events li[data-code='COFF0001']")
        assert offline.locator("time").get_attribute("datetime") == "2030-01-02T08:00:05.000Z"
        expect(offline.locator(".later")).to_contain_text("reached the hub")
        now = page.locator("#events li[data-code='CNOW0001']")
        expect(now.locator(".later")).to_have_count(0)  # made and received together: one time
        no_clock = page.locator("#events li[data-code='CNOCLOCK']")  # a scanner that sent no time
        assert no_clock.locator("time").get_attribute("datetime") == "2030-01-02T08:25:07.000Z"
        page.context.close()
    assert errors == []
