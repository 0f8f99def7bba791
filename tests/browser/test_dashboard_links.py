"""The supervisor dashboard links what it shows to its detail (a faked /ws/dashboard): a parent
being filled to the lookup, a bill to its detail (for billers and admins; a dispatcher sees its
number), a scanner and a user to the scans list filtered by them, a latest scan's code to its bag;
its header links to the pages of the role. The wall screen, where no one clicks, has no links.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.dashboard_support import WS_ROUTE, DashboardHub, collect_errors, snapshot, wait_value

pytestmark = pytest.mark.browser

AT = 1893571205.0  # 2030-01-02T08:00:05Z


def busy_snapshot() -> dict[str, Any]:
    message = snapshot(40, 12)
    message["scanners"] = [{"device": "hh-1", "user": "dina", "area": "lucknow", "accepted": 12, "rejected": 0,
                            "children_linked": 12, "parents_completed": 0}]
    message["online"] = [{"device": "hh-1", "user": "dina", "area": "lucknow", "parent": "SB00017", "since": AT}]
    message["parents"] = [{"code": "SB00017", "area": "lucknow", "count": 12, "capacity": 30, "complete": False}]
    message["bills"] = [{"code": "B-7", "area": "lucknow", "count": 1, "capacity": 4, "status": "open",
                         "destination": "Kanpur", "vehicle": "UP32 AB 1234", "actual_kg": "30", "expected_kg": "30"}]
    message["events"] = [{"device": "hh-1", "seq": 12, "user": "dina", "area": "lucknow", "op": "child",
                          "code": "C0000012", "target": "SB00017", "result": "OK", "data": {},
                          "at": AT, "client_at": AT}]
    return message


def open_dashboard(browser: Any, base: str, path: str, role: str) -> tuple[Any, list[str]]:
    context = browser.new_context(service_workers="block", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors = collect_errors(page)
    area = None if role == "admin" else "lucknow"
    page.route("**/api/me", lambda route: route.fulfill(json={
        "user": {"id": 1, "username": "ravi", "role": role, "area": area}, "home": "/"}))
    page.route_web_socket(WS_ROUTE, DashboardHub(lambda index: busy_snapshot()).handler)
    page.goto(f"{base}{path}")
    return page, errors


def test_supervisor_dashboard_links_to_details(browser: Any) -> None:
    with static_web() as base:
        page, errors = open_dashboard(browser, base, "/dashboard.html", "admin")
        parent = page.locator("#parents-table tr[data-parent='SB00017'] a")
        expect(parent).to_have_attribute("href", "/lookup.html?code=SB00017")
        expect(page.locator("#bills-table tr[data-bill='B-7'] a")).to_have_attribute("href", "/bill.html?code=B-7")
        scanner = page.locator("#scanners-table tr[data-device='hh-1']")
        expect(scanner.locator("a", has_text="hh-1")).to_have_attribute("href", "/scans.html?device=hh-1")
        expect(scanner.locator("a", has_text="dina")).to_have_attribute("href", "/scans.html?user=dina")
        expect(scanner.locator("a", has_text="SB00017")).to_have_attribute("href", "/lookup.html?code=SB00017")
        latest = page.locator("#events li[data-code='C0000012']")
        expect(latest.locator("a", has_text="C0000012")).to_have_attribute("href", "/lookup.html?code=C0000012")
        expect(latest.locator("a", has_text="hh-1")).to_have_attribute("href", "/scans.html?device=hh-1")
        expect(latest.locator("a", has_text="SB00017")).to_have_attribute("href", "/lookup.html?code=SB00017")
        nav = page.locator("#pages-nav a")
        expect(nav.filter(has_text="Audit")).to_have_attribute("href", "/audit.html")
        expect(nav.filter(has_text="Dashboard")).to_have_attribute("aria-current", "page")
        page.context.close()

        page, more = open_dashboard(browser, base, "/dashboard.html", "dispatcher")
        expect(page.locator("#bills-table tr[data-bill='B-7']")).to_contain_text("B-7")
        expect(page.locator("#bills-table tr[data-bill='B-7'] a")).to_have_count(0)  # bill detail is for billers
        expect(page.locator("#parents-table tr[data-parent='SB00017'] a")).to_have_count(1)
        expect(page.locator("#pages-nav a")).to_have_text(["Scanner", "Lookup", "Bags", "Scans", "Dashboard"])
        page.context.close()
    assert errors == [] and more == []


def test_the_wall_screen_has_no_links(browser: Any) -> None:
    with static_web() as base:
        page, errors = open_dashboard(browser, base, "/dashboard.html?wall=1&token=t", "admin")
        wait_value(page, "#wall [data-counter=accepted]", 12, 5000)
        assert page.locator("#wall a").count() == 0
        assert page.locator("#pages-nav a").count() == 0
        page.context.close()
    assert errors == []
