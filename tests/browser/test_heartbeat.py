"""A silent network drop: the hub stops answering (its process frozen with SIGSTOP, its sockets
left open, as when the Wi-Fi dies without a word). The scanner page must say Offline within 3 s
(its heartbeat pings a quiet connection and gives up on one that does not answer), and a scan made
meanwhile shows its own waiting state, never the previous scan's green. Once the hub runs again,
the scan is sent and saved once. Against a faked hub: an older scan's ack never puts its green
over a newer scan still waiting.

Screenshots: test-artifacts/screenshots/scanner-hub-silent.png.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from hub.codes import Code
from tests.browser.browsers import static_web
from tests.browser.conftest import FakeHub, LiveHub, ack, until
from tests.browser.dashboard_support import WS_ROUTE, DashboardHub, snapshot, wait_value
from tests.browser.page_support import PHONE, frozen, log_in, quiet, watch_errors, wedge

pytestmark = pytest.mark.browser


def test_a_silent_hub_shows_offline_within_3_s(own_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    username, password = own_hub.make_user("dispatcher")
    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{own_hub.url}/")
    log_in(page, username, password)
    page.wait_for_url("**/scanner.html")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    parent, kids = own_hub.unused_parent(), [f"C{uuid.uuid4().hex[:8].upper()}{n}" for n in range(2)]
    wedge(page, parent)
    wedge(page, kids[0])
    expect(page.locator("#msg-title")).to_have_text("1/30")
    expect(page.locator("#message")).to_have_attribute("data-kind", "ok")

    page.wait_for_timeout(1500)  # quiet for a while: the heartbeat is what keeps the truth now
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    with frozen(own_hub):
        silent = time.monotonic()
        wedge(page, kids[1])
        expect(page.locator("#message")).to_have_attribute("data-kind", "pending")  # not the green of 1/30
        expect(page.locator("#msg-title")).to_have_text("Waiting for the hub…")
        expect(page.locator("#conn")).to_have_attribute("data-state", "offline", timeout=3000)
        assert time.monotonic() - silent < 3.0
        expect(page.locator("#msg-title")).to_have_text("Saved on this device")
        expect(page.locator("#pending")).to_have_text("1 waiting")
        page.wait_for_timeout(1000)  # retrying meanwhile: still Offline, not "Connecting"
        expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
        expect(page.locator("#conn-text")).to_have_text("Offline")
        quiet(page)
        page.screenshot(path=str(screenshots / "scanner-hub-silent.png"))

    expect(page.locator("#pending")).to_have_text("All sent ✓", timeout=20_000)
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("#count")).to_have_text("2")
    assert own_hub.links(parent) == sorted(kids)
    assert errors == []


def test_an_older_scans_green_never_stands_for_a_newer_one(fake_site: Any) -> None:
    """Acks come in seq order, but the operator scans on: while a newer scan waits, an older one's
    success changes nothing in the message panel; its refusal does show."""
    hub = FakeHub(lambda op: None)
    page = fake_site("/scanner.html", hub, role="dispatcher")
    view = {"parent": "SB00001", "capacity": 30, "complete": False}
    wedge(page, "SB00001")
    until(page, lambda: len(hub.ops) == 1)
    hub.send(ack(1, Code.OK, {**view, "count": 0, "created": True}))
    expect(page.locator("#msg-title")).to_have_text("New parent SB00001")

    wedge(page, "CAAA0001")
    wedge(page, "CAAA0002")
    until(page, lambda: len(hub.ops) == 3)
    expect(page.locator("#msg-say")).to_contain_text("CAAA0002")
    hub.send(ack(2, Code.OK, {**view, "count": 1, "child": "CAAA0001"}))
    expect(page.locator("#recent li[data-seq='2']")).to_have_attribute("data-status", "ok")
    expect(page.locator("#message")).to_have_attribute("data-kind", "pending")
    expect(page.locator("#msg-say")).to_contain_text("CAAA0002")
    hub.send(ack(3, Code.OK, {**view, "count": 2, "child": "CAAA0002"}))
    expect(page.locator("#msg-title")).to_have_text("2/30")

    wedge(page, "CAAA0003")
    wedge(page, "CAAA0004")
    until(page, lambda: len(hub.ops) == 5)
    hub.send(ack(4, Code.ALREADY_LINKED, {"other_parent": "SB00009"}))
    expect(page.locator("#msg-title")).to_have_text("Already in another bag")  # a refusal always shows
    hub.send(ack(5, Code.OK, {**view, "count": 3, "child": "CAAA0004"}))
    expect(page.locator("#msg-title")).to_have_text("3/30")


def test_a_silent_hub_makes_the_wall_screen_stale(browser: Any) -> None:
    """The wall screen's own heartbeat: a hub that sends nothing and answers no ping is given up on
    within seconds (the numbers are marked out of date), and a fresh connection is made."""
    hub = DashboardHub(lambda index: snapshot(10 + index, 5), silent=True)
    with static_web() as base:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/dashboard.html?wall=1&token=fake-token")
        wait_value(page, "#wall [data-counter=accepted]", 5, 5000)
        silent = time.monotonic()
        page.wait_for_function("() => document.body.dataset.stale === 'true'", timeout=5000)
        assert time.monotonic() - silent < 4.0
        assert {"t": "ping", "id": 1} in hub.received[0]
        until(page, lambda: len(hub.sockets) == 2, timeout=10)
