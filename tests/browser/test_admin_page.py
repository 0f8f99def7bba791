"""web/admin.html: it refuses a role that may not use it once, in words (no bouncing between it
and the login page), it fits a 360 px handheld without sideways scrolling, and it releases a
scanner from the user it belongs to.

Screenshots: test-artifacts/screenshots/admin-narrow.png, admin-wrong-role.png.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser.browsers import static_web
from tests.browser.conftest import LiveHub
from tests.browser.page_support import NARROW, log_in, overflow, watch_errors
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def test_a_dispatcher_on_the_admin_page_is_told_once(browser: Any, screenshots: Path) -> None:
    me = {"user": {"id": 7, "username": "dina", "role": "dispatcher", "area": "lucknow"}, "home": "/scanner.html"}
    with static_web({"/api/me": json.dumps(me).encode()}) as base:
        context = browser.new_context(service_workers="block", viewport=NARROW)
        page = context.new_page()
        errors = watch_errors(page)
        loads: list[str] = []
        page.on("framenavigated", lambda frame: loads.append(frame.url) if frame == page.main_frame else None)
        page.goto(f"{base}/admin.html")
        expect(page.locator("#wrong-role")).to_be_visible()
        page.wait_for_timeout(1500)  # the old page was back on the login page within milliseconds
        assert loads == [f"{base}/admin.html"]
        expect(page.locator("#admin-message")).to_contain_text("dina (dispatcher): this page is for admins")
        expect(page.locator("#admin-work")).to_be_hidden()
        assert page.locator("#home-link").get_attribute("href") == "/scanner.html"
        assert overflow(page) == []
        page.screenshot(path=str(screenshots / "admin-wrong-role.png"))
        context.close()
    assert errors == []


def test_admin_page_fits_a_narrow_screen_and_releases_a_scanner(live_hub: LiveHub, browser: Any,
                                                                  screenshots: Path) -> None:
    dispatcher = live_hub.make_user("dispatcher", area="sri_ganganagar")
    device = f"scanner-{uuid.uuid4()}"
    say_hello(live_hub, live_hub.login(*dispatcher), device)  # the scanner is now the dispatcher's
    page = browser.new_page(viewport=NARROW)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Fadmin.html")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/admin.html")
    expect(page.locator("#users tr")).to_have_count(2)
    scanner = page.locator(f"#devices tr[data-device='{device}']")
    expect(scanner).to_contain_text(dispatcher[0])
    page.fill("#new-token input[name=label]", "Dock 3 screen by the loading ramp")
    page.click("#new-token button[type=submit]")
    expect(page.locator("#new-token-link")).to_be_visible()
    expect(page.locator("#tokens tr")).to_have_count(1)
    assert overflow(page) == []
    page.screenshot(path=str(screenshots / "admin-narrow.png"), full_page=True)

    scanner.locator("button", has_text="Release").click()
    expect(page.locator("#admin-message")).to_contain_text(f"Scanner {device} released from {dispatcher[0]}")
    expect(scanner).to_have_count(0)
    assert live_hub.sql("SELECT owner_id FROM devices WHERE device_id = $1", device)[0]["owner_id"] is None
    assert errors == []


def say_hello(hub: LiveHub, token: str, device: str) -> None:
    """A scanner's first hello: it binds the device to the user."""
    with connect(hub.url.replace("http://", "ws://") + "/ws/scan",
                 additional_headers={"Cookie": f"tt_session={token}"}) as ws:
        ws.send(msgpack.packb({"t": "hello", "device": device, "last_seq": 0}))
        assert msgpack.unpackb(ws.recv(10))["t"] == "welcome"
