"""web/admin.html: it refuses a role that may not use it once, in words (no bouncing between it
and the login page), it fits a 360 px handheld without sideways scrolling, and it releases a
scanner from the user it belongs to. User admin on the page: create, change role and area,
deactivate and reactivate, reset a password, the hub's refusals (own account, last admin) shown in
its words; areas added and renamed; a scanner named.

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
    users = live_hub.sql("SELECT count(*) AS n FROM users")[0]["n"]  # the session's database: others' too
    expect(page.locator("#users tr")).to_have_count(users)
    scanner = page.locator(f"#devices tr[data-device='{device}']")
    expect(scanner).to_contain_text(dispatcher[0])
    page.fill("#new-token input[name=label]", "Dock 3 screen by the loading ramp")
    page.click("#new-token button[type=submit]")
    expect(page.locator("#new-token-link")).to_be_visible()
    expect(page.locator("#tokens tr")).to_have_count(live_hub.sql("SELECT count(*) AS n FROM wall_tokens")[0]["n"])
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


def test_admin_manages_users_on_the_page(live_hub: LiveHub, browser: Any) -> None:
    """Create a user, change their role and area, deactivate and reactivate them, reset their
    password; one's own deactivation and the last-admin refusal are shown as the hub words them."""
    page = browser.new_page(viewport=NARROW)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Fadmin.html")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/admin.html")
    message = page.locator("#admin-message")

    username = f"dina-{uuid.uuid4().hex[:6]}"
    page.fill("#new-user input[name=username]", username)
    page.fill("#new-user input[name=password]", "scan-all-day-long")
    page.select_option("#new-user select[name=role]", "dispatcher")
    page.select_option("#new-user select[name=area]", "raipur")
    page.click("#new-user button[type=submit]")
    expect(message).to_contain_text(f"User {username} created.")
    row = page.locator(f"#users tr[data-user='{username}']")
    expect(row.locator("select[name=area]")).to_have_value("raipur")

    row.locator("select[name=role]").select_option("biller")
    row.locator("select[name=area]").select_option("hisar")
    row.locator("button", has_text="Save").click()
    expect(message).to_contain_text(f"{username}: role and area saved")
    assert [tuple(r) for r in live_hub.sql("SELECT role, area FROM users WHERE username = $1", username)] == [
        ("biller", "hisar")]

    row.locator("button", has_text="Deactivate").click()
    expect(message).to_contain_text(f"{username}: deactivated")
    expect(row).to_contain_text("inactive")
    assert live_hub.sql("SELECT active FROM users WHERE username = $1", username)[0]["active"] is False
    row.locator("button", has_text="Reactivate").click()
    expect(message).to_contain_text(f"{username}: reactivated")
    expect(row.locator("button", has_text="Deactivate")).to_be_visible()

    page.select_option("#reset-user", label=username)
    page.fill("#reset-password input[name=password]", "new-bags-every-monday")
    page.click("#reset-password button[type=submit]")
    expect(message).to_contain_text(f"New password set for {username}")
    assert live_hub.login(username, "new-bags-every-monday")

    mine = page.locator("#users tr[data-user='admin']")
    mine.locator("button", has_text="Deactivate").click()
    expect(message).to_contain_text("You cannot change your own role or deactivate yourself")
    expect(message).to_have_attribute("data-kind", "error")

    # Two admins demoting each other at the same moment: the hub refuses the second (the API tests
    # play that race for real); here the page must show that refusal in the hub's words.
    def last_admin(route: Any) -> None:
        if route.request.method != "PATCH":
            route.continue_()
            return
        route.fulfill(status=409, content_type="application/json", body=json.dumps(
            {"error": "LAST_ADMIN", "message": f"{username} is the last active admin; make another admin first."}))

    page.route("**/api/users/*", last_admin)
    row.locator("select[name=role]").select_option("admin")
    row.locator("button", has_text="Save").click()
    expect(message).to_contain_text(f"{username} is the last active admin; make another admin first.")
    expect(message).to_have_attribute("data-kind", "error")
    page.unroute("**/api/users/*")
    assert overflow(page) == []
    assert errors == []


def test_admin_adds_and_renames_an_area_and_names_a_scanner(live_hub: LiveHub, browser: Any) -> None:
    dispatcher = live_hub.make_user("dispatcher", area="bathinda")
    device = f"scanner-{uuid.uuid4()}"
    say_hello(live_hub, live_hub.login(*dispatcher), device)
    area = f"test_{uuid.uuid4().hex[:8]}"
    page = browser.new_page(viewport=NARROW)
    errors = watch_errors(page)
    try:
        page.goto(f"{live_hub.url}/?next=%2Fadmin.html")
        log_in(page, "admin", ADMIN_PASSWORD)
        page.wait_for_url("**/admin.html")
        message = page.locator("#admin-message")
        page.fill("#new-area input[name=name]", area)
        page.fill("#new-area input[name=label]", "Nagpur")
        page.click("#new-area button[type=submit]")
        expect(message).to_contain_text(f"Area Nagpur ({area}) added.")
        row = page.locator(f"#areas tr[data-area='{area}']")
        row.locator("input[name=label]").fill("Nagpur East")
        row.locator("button", has_text="Rename").click()
        expect(message).to_contain_text(f"Area {area} is now called Nagpur East.")
        expect(page.locator(f"#new-user select[name=area] option[value='{area}']")).to_have_text("Nagpur East")
        assert live_hub.sql("SELECT label FROM areas WHERE name = $1", area)[0]["label"] == "Nagpur East"

        page.fill("#new-area input[name=name]", area)
        page.fill("#new-area input[name=label]", "Again")
        page.click("#new-area button[type=submit]")
        expect(message).to_contain_text(f"There is already a dispatch area '{area}'.")

        scanner = page.locator(f"#devices tr[data-device='{device}']")
        scanner.locator("input[name=name]").fill("Dock 3 left")
        scanner.locator("button", has_text="Save name").click()
        expect(message).to_contain_text(f"Scanner {device} is now shown as Dock 3 left.")
        assert live_hub.sql("SELECT name FROM devices WHERE device_id = $1", device)[0]["name"] == "Dock 3 left"
        assert overflow(page) == []
        assert errors == []
    finally:
        live_hub.sql("DELETE FROM areas WHERE name = $1", area)  # other tests count the seeded areas
