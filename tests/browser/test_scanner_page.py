"""web/scanner.html in headless Chromium against a real hub process.

The tests type into the page as a keyboard-wedge scanner does (the code, then Enter), never
touching the input: the page must keep the focus there by itself.

Screenshots: test-artifacts/screenshots/scanner-*.png.
"""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from hub.codes import Code
from tests.browser.browsers import launch_options
from tests.browser.conftest import FakeHub, LiveHub, ack, until
from tests.browser.page_support import PHONE, log_in, quiet, watch_errors, wedge

pytestmark = pytest.mark.browser


def children(count: int) -> list[str]:
    prefix = uuid.uuid4().hex[:8].upper()
    return [f"C{prefix}{n:02d}" for n in range(1, count + 1)]


def row(page: Any, code: str) -> Any:
    return page.locator("#recent li", has_text=code).first


def device_scans(hub: LiveHub, device: str) -> list[Any]:
    return hub.sql("SELECT seq, op, code, target, result FROM scans WHERE device_id = $1 ORDER BY seq", device)


def test_log_in_and_fill_a_parent_by_wedge_scanning(live_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    username, password = live_hub.make_user("dispatcher")
    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)

    # not logged in: a page sends to the login page, which sends back after login; the bill
    # scanner is not for a dispatcher and points to the scanner
    page.goto(f"{live_hub.url}/bills.html")
    page.wait_for_url("**/?next=%2Fbills.html")
    log_in(page, username, password)
    page.wait_for_url("**/bills.html")
    expect(page.locator("#wrong-role")).to_be_visible()
    expect(page.locator("#msg-title")).to_have_text("Not for your role")
    page.click("#wrong-role a")
    page.wait_for_url("**/scanner.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("#user")).to_have_text(username)
    assert page.evaluate("document.activeElement.id") == "scan"

    parent, kids = live_hub.unused_parent(), children(30)
    wedge(page, parent.lower())  # the hub and the page normalise: upper case
    expect(page.locator("#parent-code")).to_have_text(parent)
    expect(page.locator("#msg-title")).to_have_text(f"New parent {parent}")
    expect(page.locator("#count")).to_have_text("0")
    expect(page.locator("#capacity")).to_have_text("30")

    # a touch anywhere does not take the focus from the input
    page.click("h2.list-title")
    page.click("#message")
    page.click("#counter")
    assert page.evaluate("document.activeElement.id") == "scan"

    wedge(page, kids[0])
    page.keyboard.press("Enter")  # the scanner's double Enter: ignored
    wedge(page, kids[1])
    wedge(page, kids[1])  # one label read twice at once: one scan
    expect(page.locator("#count")).to_have_text("2")
    for kid in kids[2:29]:
        wedge(page, kid)
    expect(page.locator("#count")).to_have_text("29")
    expect(page.locator("#celebrate")).to_be_hidden()
    wedge(page, kids[29])

    expect(page.locator("#count")).to_have_text("30")
    expect(page.locator("#celebrate")).to_be_visible()
    expect(page.locator("#celebrate-count")).to_have_text("30/30")
    expect(page.locator("#pending")).to_have_text("All sent ✓")
    expect(page.locator("#bar-done")).to_have_attribute("style", "width: 100%;")
    assert page.locator("body").get_attribute("data-last-signal") == "complete"
    quiet(page)
    page.screenshot(path=str(screenshots / "scanner-parent-complete.png"))

    assert live_hub.links(parent) == sorted(kids)
    device = page.locator("body").get_attribute("data-device")
    scans = device_scans(live_hub, device)
    assert [s["code"] for s in scans] == [parent, *kids]  # the double Enter and double read sent nothing
    assert {s["result"] for s in scans} == {"OK"}
    assert [s["seq"] for s in scans] == list(range(1, 32))

    # the hub's rejections, in the page's words
    page.wait_for_timeout(450)
    wedge(page, kids[4])
    expect(page.locator("#msg-title")).to_have_text("Already scanned")
    assert page.locator("body").get_attribute("data-last-signal") == "warn"
    wedge(page, "CEXTRA0001")
    expect(page.locator("#msg-title")).to_have_text("Parent bag is full")
    expect(page.locator("#msg-say")).to_contain_text(f"Parent bag {parent} is already full (30/30)")
    assert page.locator("body").get_attribute("data-last-signal") == "error"
    wedge(page, "x!")
    expect(page.locator("#msg-title")).to_have_text("Not a bag label")
    expect(row(page, "X!")).to_have_attribute("data-status", "error")

    # undo takes the last child out again (the rejected scans since were no change)
    page.click("#undo")
    expect(page.locator("#msg-title")).to_have_text("Undone")
    expect(page.locator("#count")).to_have_text("29")
    expect(page.locator("#recent li[data-status='undone']", has_text=kids[29])).to_have_count(1)
    assert len(live_hub.links(parent)) == 29 and kids[29] not in live_hub.links(parent)
    assert page.evaluate("document.activeElement.id") == "scan"
    wedge(page, kids[29])  # scanned again straight after the undo: counts
    expect(page.locator("#count")).to_have_text("30")

    # a reload continues where the operator was
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#parent-code")).to_have_text(parent)
    expect(page.locator("#count")).to_have_text("30")
    expect(page.locator("#recent li").first).to_contain_text(kids[29])
    assert page.evaluate("document.activeElement.id") == "scan"

    # switch parent: a child's code is no parent
    page.click("#switch")
    expect(page.locator("#prompt")).to_have_text("Scan a parent bag")
    expect(page.locator("#count")).to_have_text("–")
    wedge(page, "CNOPARENT1")
    expect(page.locator("#msg-title")).to_have_text("Not a parent bag")
    quiet(page)
    page.screenshot(path=str(screenshots / "scanner-error.png"))
    second = live_hub.unused_parent("M444-")
    wedge(page, second)
    expect(page.locator("#capacity")).to_have_text("15")
    expect(page.locator("#msg-title")).to_have_text(f"New parent {second}")

    results = [(s["code"], s["result"]) for s in device_scans(live_hub, device)[31:]]
    assert results == [(kids[4], "ALREADY_IN_PARENT"), ("CEXTRA0001", "PARENT_FULL"), ("X!", "INVALID_CODE"),
                       (kids[29], "OK"), (kids[29], "OK"), ("CNOPARENT1", "NOT_A_PARENT"), (second, "OK")]
    assert errors == []


def test_offline_scans_survive_reload_and_browser_restart_and_are_sent_once(
        own_hub: LiveHub, playwright: Any, screenshots: Path, tmp_path: Path) -> None:
    username, password = own_hub.make_user("dispatcher")
    profile = tmp_path / "chromium-profile"  # a browser profile on disk: IndexedDB survives a restart

    def open_browser() -> tuple[Any, Any]:
        context = playwright.chromium.launch_persistent_context(str(profile), viewport=PHONE, **launch_options())
        return context, context.pages[0] if context.pages else context.new_page()

    context, page = open_browser()
    errors = watch_errors(page)
    page.goto(f"{own_hub.url}/")
    log_in(page, username, password)
    page.wait_for_url("**/scanner.html")  # a dispatcher's start page
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # the page works without the hub

    first, online_kid = own_hub.unused_parent(), children(1)[0]
    wedge(page, first)
    wedge(page, online_kid)
    expect(row(page, online_kid)).to_have_attribute("data-status", "ok")

    own_hub.stop()
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    parent, kids = own_hub.unused_parent(), children(5)
    wedge(page, parent)
    for kid in kids:
        wedge(page, kid)
    expect(page.locator("#pending")).to_have_text("6 waiting")
    expect(page.locator("#recent li[data-status='pending']")).to_have_count(6)
    expect(page.locator("#count")).to_have_text("5")
    expect(page.locator("#counter")).to_have_attribute("data-state", "waiting")
    expect(page.locator("#msg-title")).to_have_text("Saved on this device")
    quiet(page)
    page.screenshot(path=str(screenshots / "scanner-offline-pending.png"))

    # reload while the hub is down: the page comes from the service worker, the scans from IndexedDB
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", re_offline())
    expect(page.locator("#pending")).to_have_text("6 waiting")
    expect(page.locator("#recent li[data-status='pending']")).to_have_count(6)
    expect(page.locator("#parent-code")).to_have_text(parent)

    # and a browser restart, still without the hub
    device = page.locator("body").get_attribute("data-device")
    context.close()
    context, page = open_browser()
    errors += watch_errors(page)
    page.goto(f"{own_hub.url}/scanner.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert page.locator("body").get_attribute("data-device") == device
    expect(page.locator("#pending")).to_have_text("6 waiting")
    for kid in kids:
        expect(row(page, kid)).to_have_attribute("data-status", "pending")

    own_hub.restart()
    # The session cookie ends with the browser: the page then asks for a login (outbox kept).
    for _ in range(2):
        page.wait_for_function("() => document.body.dataset.ready === 'true' && "
                               "(location.search.includes('next=') || "
                               "document.getElementById('pending').dataset.count === '0')", timeout=40_000)
        if "next=" in page.url:
            log_in(page, username, password)
            page.wait_for_url("**/scanner.html")
    expect(page.locator("#pending")).to_have_text("All sent ✓")
    for kid in kids:
        expect(row(page, kid)).to_have_attribute("data-status", "ok")
    expect(row(page, f"Parent {parent}")).to_have_attribute("data-status", "ok")
    expect(page.locator("#count")).to_have_text("5")
    expect(page.locator("#counter")).to_have_attribute("data-state", "confirmed")
    expect(page.locator("#msg-title")).to_have_text("Offline scans saved")  # one summary for the burst of acks
    quiet(page)
    page.screenshot(path=str(screenshots / "scanner-after-reconnect.png"))

    assert own_hub.links(parent) == sorted(kids)
    scans = device_scans(own_hub, device)
    assert [(s["code"], s["result"]) for s in scans] == [
        (first, "OK"), (online_kid, "OK"), (parent, "OK"), *[(kid, "OK") for kid in kids]]
    assert [s["seq"] for s in scans] == list(range(1, 9))  # each stored once, in order
    context.close()
    assert errors == []


def re_offline() -> Any:
    return re.compile("offline|connecting")


def test_protocol_client_pipelines_within_max_inflight_and_resends_in_order(fake_site: Any) -> None:
    """Against a faked hub that answers only when told: at most max_inflight unacked, seqs in
    order, and after a reconnect hello (last_seq) then every unacked op again, unchanged."""
    hub = FakeHub(lambda op: None, max_inflight=2)
    page = fake_site("/scanner.html", hub, role="dispatcher")
    codes = ["SB00001", "CAAA0001", "CAAA0002", "CAAA0003", "CAAA0004"]
    for code in codes:
        wedge(page, code)
    expect(page.locator("#pending")).to_have_text("5 waiting")
    page.wait_for_timeout(300)
    assert [op["seq"] for op in hub.ops] == [1, 2]  # max_inflight
    assert hub.ops[0] | {"at": 0} == {"t": "op", "seq": 1, "op": "parent", "code": "SB00001", "at": 0}
    assert hub.ops[1] | {"at": 0} == {"t": "op", "seq": 2, "op": "child", "code": "CAAA0001", "parent": "SB00001",
                                      "at": 0}

    parent_view = {"parent": "SB00001", "count": 0, "capacity": 30, "complete": False, "created": True}
    hub.send(ack(1, Code.OK, parent_view))
    until(page, lambda: len(hub.ops) == 3)
    hub.send(ack(2, Code.OK, {**parent_view, "count": 1, "child": "CAAA0001"}))
    until(page, lambda: len(hub.ops) == 4)
    expect(page.locator("#pending")).to_have_text("3 waiting")
    sent_before = {op["seq"]: op for op in hub.ops}

    # the connection drops with seq 3 and 4 unacked and 5 unsent: hello, then 3, 4, 5 again
    hub.sockets[-1].close(code=1012, reason="restart")
    until(page, lambda: len(hub.hellos) == 2)
    assert hub.hellos[1]["last_seq"] == 5 and hub.hellos[1]["device"] == hub.hellos[0]["device"]
    until(page, lambda: len(hub.ops) == 6)
    assert [op["seq"] for op in hub.ops[4:]] == [3, 4]
    assert hub.ops[4] == sent_before[3] and hub.ops[5] == sent_before[4]  # unchanged, same seq and time
    hub.send(ack(3, Code.OK, {**parent_view, "count": 2}))
    hub.send(ack(4, Code.ALREADY_LINKED, {"other_parent": "SB00009"}))
    until(page, lambda: len(hub.ops) == 7)
    assert hub.ops[6]["seq"] == 5 and hub.ops[6]["code"] == "CAAA0004"
    hub.send(ack(5, Code.OK, {**parent_view, "count": 3}))
    expect(page.locator("#pending")).to_have_text("All sent ✓")
    expect(page.locator("#recent li[data-status='error']")).to_have_count(1)
    expect(page.locator("#recent li[data-status='ok']")).to_have_count(4)
    expect(page.locator("#count")).to_have_text("3")


def test_a_rate_limited_scan_is_resent_after_the_wait_the_hub_names(fake_site: Any) -> None:
    """docs/protocol.md 9.8: after RATE_LIMITED, resend after `retry_after_ms`. Before, the page
    resent on its own 1 s backoff, into the same limit."""
    arrived: list[tuple[int, float]] = []

    def answer(op: dict[str, Any]) -> dict[str, Any]:
        arrived.append((op["seq"], time.monotonic()))
        if len(arrived) == 1:
            return ack(op["seq"], Code.RATE_LIMITED, {"retry_after_ms": 3000, "resend_from": op["seq"]})
        return ack(op["seq"], Code.OK, {"parent": "SB00001", "count": 0, "capacity": 30, "complete": False,
                                        "created": True})

    hub = FakeHub(answer)
    page = fake_site("/scanner.html", hub, role="dispatcher")
    wedge(page, "SB00001")
    until(page, lambda: len(arrived) == 2, timeout=15)
    (first, sent), (again, resent) = arrived
    assert first == again == 1
    assert resent - sent >= 2.9
    expect(page.locator("#pending")).to_have_text("All sent ✓")
