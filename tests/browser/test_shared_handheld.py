"""A handheld shared between shifts: a device id belongs to the user who first used it (the hub
refuses another user's hello with 4003), so each user of the same browser gets a device id and an
outbox of their own, and a scan one user left unsent waits for that user's next login.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.conftest import WS_SCAN, FakeHub
from tests.browser.page_support import PHONE, watch_errors, wedge

pytestmark = pytest.mark.browser


def test_each_user_of_a_handheld_has_a_device_of_their_own(browser: Any) -> None:
    hub = FakeHub(lambda op: None)  # no acks: what is sent stays in the outbox
    who = {"name": "ann"}
    with static_web() as base:
        context = browser.new_context(service_workers="block", viewport=PHONE)
        page = context.new_page()
        errors = watch_errors(page)
        page.route("**/api/me", lambda route: route.fulfill(json={
            "user": {"id": 1, "username": who["name"], "role": "dispatcher", "area": "lucknow"},
            "home": "/scanner.html"}))
        page.route_web_socket(WS_SCAN, hub.handler)

        def open_as(name: str) -> str:
            who["name"] = name
            page.goto(f"{base}/scanner.html")
            expect(page.locator("body")).to_have_attribute("data-ready", "true")
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            return str(page.locator("body").get_attribute("data-device"))

        ann = open_as("ann")
        wedge(page, "SB00001")
        expect(page.locator("#pending")).to_have_text("1 waiting")
        bob = open_as("bob")
        assert bob != ann
        expect(page.locator("#pending")).to_have_text("All sent ✓")  # ann's scan is not bob's to send
        assert hub.hellos[-1] == {"t": "hello", "device": bob, "last_seq": 0}
        assert open_as("ann") == ann
        expect(page.locator("#pending")).to_have_text("1 waiting")
        assert hub.ops[-1]["seq"] == 1 and hub.ops[-1]["code"] == "SB00001"  # sent again as ann's
        assert [hello["device"] for hello in hub.hellos] == [ann, bob, ann]
        context.close()
    assert errors == []
