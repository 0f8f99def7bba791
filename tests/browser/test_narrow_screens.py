"""Every page on the narrowest handheld (360 px): nothing wider than the screen, so that nothing
needs a sideways scroll. Against faked hubs, with long values where the pages show free text.

Screenshots: test-artifacts/screenshots/narrow-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from hub.codes import Code
from tests.browser.browsers import static_web
from tests.browser.conftest import FakeHub, ack
from tests.browser.dashboard_support import WS_ROUTE, DashboardHub, snapshot, wait_value
from tests.browser.page_support import NARROW, overflow, quiet, wedge

pytestmark = pytest.mark.browser


def bill_view(op: dict[str, Any]) -> dict[str, Any]:
    return {"bill": op.get("bill"), "count": 0, "capacity": op.get("capacity", 10), "status": "open",
            "actual_kg": "0", "expected_kg": "0"}


def test_login_page_fits(browser: Any, screenshots: Path) -> None:
    with static_web() as base:
        page = browser.new_page(viewport=NARROW)
        page.goto(f"{base}/index.html")
        expect(page.locator("body")).to_have_attribute("data-ready", "true")
        assert overflow(page) == []
        page.screenshot(path=str(screenshots / "narrow-login.png"))
        page.close()


def test_scanner_page_fits(fake_site: Any, screenshots: Path) -> None:
    hub = FakeHub(lambda op: ack(op["seq"], Code.OK, {"parent": "SB00017", "count": 17, "capacity": 30,
                                                      "complete": False}))
    page = fake_site("/scanner.html", hub, role="dispatcher")
    page.set_viewport_size(NARROW)
    wedge(page, "SB00017")
    wedge(page, "CVERYLONGCHILD000017")
    expect(page.locator("#msg-title")).to_have_text("17/30")
    quiet(page)
    assert overflow(page) == []
    page.screenshot(path=str(screenshots / "narrow-scanner.png"), full_page=True)


def test_bill_scanner_fits(fake_site: Any, screenshots: Path) -> None:
    hub = FakeHub(lambda op: ack(op["seq"], Code.OK, bill_view(op)))
    page = fake_site("/bills.html", hub)
    page.set_viewport_size(NARROW)
    assert overflow(page) == []
    page.screenshot(path=str(screenshots / "narrow-bills-new.png"), full_page=True)
    page.fill("#bill-code", "BILL-2026-LUCKNOW-000123456")
    page.fill("#bill-destination", "Central Distribution Centre, Gate 4, Transport Nagar, Kanpur Road")
    page.fill("#bill-vehicle", "UP32 AB 1234 with trailer UP32 ZZ 9876")
    page.press("#bill-vehicle", "Enter")
    expect(page.locator("#msg-title")).to_have_text("Bill BILL-2026-LUCKNOW-000123456 created")
    quiet(page)
    assert overflow(page) == []
    page.screenshot(path=str(screenshots / "narrow-bills-open.png"), full_page=True)


def test_wall_screen_fits(browser: Any, screenshots: Path) -> None:
    hub = DashboardHub(lambda index: snapshot(10, 1234567))
    with static_web() as base:
        page = browser.new_page(viewport=NARROW)
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/dashboard.html?wall=1&token=t")
        wait_value(page, "#wall [data-counter=accepted]", 1234567, 5000)
        page.wait_for_timeout(800)  # the numbers' highlight fades
        assert overflow(page) == []
        page.screenshot(path=str(screenshots / "narrow-wall.png"))
        page.close()
