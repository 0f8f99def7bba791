"""web/bills.html in headless Chromium against a real hub process: a biller creates a bill, scans
full parent bags onto it (live count, capacity and weight), finishes and reopens it; against a
faked hub, a bag label is refused as a bill number before anything is sent.

Screenshots: test-artifacts/screenshots/bills-*.png.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import msgpack
import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from hub.codes import Code
from tests.browser.conftest import FakeHub, LiveHub, ack
from tests.browser.page_support import PHONE, log_in, quiet, watch_errors, wedge

pytestmark = pytest.mark.browser


def fill_parents(hub: LiveHub, token: str, parents: dict[str, int]) -> None:
    """Scan each parent and that many children over a websocket of our own (a dispatcher's scanner)."""
    ops: list[dict[str, Any]] = []
    for parent, count in parents.items():
        ops.append({"op": "parent", "code": parent})
        ops += [{"op": "child", "code": f"K{uuid.uuid4().hex[:10].upper()}", "parent": parent} for _ in range(count)]
    url = hub.url.replace("http://", "ws://") + "/ws/scan"
    with connect(url, additional_headers={"Cookie": f"tt_session={token}"}) as ws:
        ws.send(msgpack.packb({"t": "hello", "device": f"prep-{uuid.uuid4().hex[:8]}", "last_seq": 0}))
        assert msgpack.unpackb(ws.recv(10))["t"] == "welcome"
        for seq, op in enumerate(ops, 1):
            ws.send(msgpack.packb({"t": "op", "seq": seq, **op}))
        acks = [msgpack.unpackb(ws.recv(10)) for _ in ops]
    assert all(a["code"] == "OK" for a in acks), [a for a in acks if a["code"] != "OK"]


def test_biller_creates_fills_finishes_and_reopens_a_bill(live_hub: LiveHub, browser: Any,
                                                         screenshots: Path) -> None:
    dispatcher = live_hub.make_user("dispatcher")
    full = [live_hub.unused_parent("M444-") for _ in range(2)]
    half = live_hub.unused_parent("M444-")
    fill_parents(live_hub, live_hub.login(*dispatcher), {full[0]: 15, full[1]: 15, half: 7})
    username, password = live_hub.make_user("biller")
    bill = f"B-{uuid.uuid4().hex[:6].upper()}"

    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/")
    log_in(page, username, password)
    page.wait_for_url("**/bills.html")  # a biller's start page
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("#setup")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "bill-code"

    page.keyboard.type(bill.lower())
    page.fill("#bill-capacity", "2")
    page.fill("#bill-destination", "Lucknow DC")
    page.fill("#bill-vehicle", "UP32 AB 1234")
    quiet(page)
    page.screenshot(path=str(screenshots / "bills-new.png"))
    page.press("#bill-vehicle", "Enter")

    expect(page.locator("#active")).to_be_visible()
    expect(page.locator("#msg-title")).to_have_text(f"Bill {bill} created")
    expect(page.locator("#bill-title")).to_have_text(bill)
    expect(page.locator("#bill-route")).to_have_text("to Lucknow DC · vehicle UP32 AB 1234")
    expect(page.locator("#bill-status")).to_have_text("OPEN")
    expect(page.locator("#count")).to_have_text("0")
    expect(page.locator("#capacity")).to_have_text("2")
    assert page.evaluate("document.activeElement.id") == "scan"

    wedge(page, half)
    expect(page.locator("#msg-title")).to_have_text("Parent bag not full")
    expect(page.locator("#msg-say")).to_contain_text(f"{half} is not full yet (7/15)")

    wedge(page, full[0])
    expect(page.locator("#count")).to_have_text("1")
    expect(page.locator("#actual-kg")).to_have_text("15")
    expect(page.locator("#expected-kg")).to_have_text("15")
    page.click("#undo")
    expect(page.locator("#msg-title")).to_have_text("Undone")
    expect(page.locator("#count")).to_have_text("0")
    expect(page.locator("#actual-kg")).to_have_text("0")
    wedge(page, full[0])
    expect(page.locator("#count")).to_have_text("1")
    page.wait_for_timeout(450)
    wedge(page, full[0])
    expect(page.locator("#msg-title")).to_have_text("Already on a bill")
    wedge(page, full[1])
    expect(page.locator("#count")).to_have_text("2")
    expect(page.locator("#msg-say")).to_contain_text("The bill is full: finish it.")
    expect(page.locator("#actual-kg")).to_have_text("30")
    expect(page.locator("#expected-kg")).to_have_text("30")
    quiet(page)
    page.screenshot(path=str(screenshots / "bills-full.png"))

    page.click("#finish")
    expect(page.locator("#bill-status")).to_have_text("FINISHED")
    expect(page.locator("#msg-title")).to_have_text(f"Bill {bill} finished")
    expect(page.locator("#reopen")).to_be_visible()
    expect(page.locator("#finish")).to_be_hidden()
    assert live_hub.sql("SELECT status FROM bills WHERE code = $1", bill)[0]["status"] == "completed"
    quiet(page)
    page.screenshot(path=str(screenshots / "bills-finished.png"))
    wedge(page, half)
    expect(page.locator("#msg-title")).to_have_text("Bill is finished")

    page.click("#reopen")
    expect(page.locator("#bill-status")).to_have_text("OPEN")
    expect(page.locator("#msg-title")).to_have_text(f"Bill {bill} is open again")

    # a reload keeps the bill and its numbers
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#bill-title")).to_have_text(bill)
    expect(page.locator("#count")).to_have_text("2")
    expect(page.locator("#bill-route")).to_have_text("to Lucknow DC · vehicle UP32 AB 1234")

    page.click("#other")
    expect(page.locator("#setup")).to_be_visible()
    expect(page.locator("#bills-recent button", has_text=bill)).to_be_visible()

    rows = live_hub.sql("SELECT b.status, b.parent_count, b.destination, b.vehicle, b.capacity, "
                        "array_agg(p.code ORDER BY p.code) AS parents FROM bills b "
                        "JOIN bill_parents bp ON bp.bill_id = b.id JOIN bags p ON p.id = bp.parent_id "
                        "WHERE b.code = $1 GROUP BY b.id", bill)
    assert len(rows) == 1
    assert dict(rows[0]) == {"status": "open", "parent_count": 2, "destination": "Lucknow DC",
                             "vehicle": "UP32 AB 1234", "capacity": 2, "parents": sorted(full)}

    # another handheld that never saw the bill opens it: the numbers come from GET /api/bills/{code}
    other = browser.new_page(viewport=PHONE)
    other_errors = watch_errors(other)
    other.goto(f"{live_hub.url}/")
    log_in(other, username, password)
    other.wait_for_url("**/bills.html")
    expect(other.locator("body")).to_have_attribute("data-ready", "true")
    other.fill("#open-code", bill.lower())
    other.press("#open-code", "Enter")
    expect(other.locator("#bill-title")).to_have_text(bill)
    expect(other.locator("#count")).to_have_text("2")
    expect(other.locator("#capacity")).to_have_text("2")
    expect(other.locator("#actual-kg")).to_have_text("30")
    expect(other.locator("#expected-kg")).to_have_text("30")
    expect(other.locator("#bill-route")).to_have_text("to Lucknow DC · vehicle UP32 AB 1234")
    expect(other.locator("#bill-status")).to_have_text("OPEN")
    assert other_errors == []
    assert errors == []


def test_a_bag_label_is_no_bill_number(fake_site: Any) -> None:
    """A parent scanned into "Bill number" (the wedge's Enter submits the form) is refused on the
    page, by the formats of the hub's welcome, in both forms; nothing is sent. The bill's buttons
    show only while a bill is open."""
    formats = [{"name": "standard", "pattern": "^SB[0-9]{5}$", "capacity": 30},
               {"name": "jumbo", "pattern": "JB[0-9]{4}", "capacity": 50}]  # the hub's, this time
    hub = FakeHub(lambda op: ack(op["seq"], Code.OK, {"bill": op["bill"], "count": 0, "capacity": op["capacity"],
                                                       "status": "open", "actual_kg": "0", "expected_kg": "0"}),
                  formats=formats)
    page = fake_site("/bills.html", hub)
    assert page.evaluate("document.activeElement.id") == "bill-code"
    expect(page.locator("#bill-actions")).to_be_hidden()  # no undo, finish or other bill without a bill
    for label in ("sb00019", " JB1234\t"):
        page.fill("#bill-code", "")
        wedge(page, label)
        expect(page.locator("#msg-title")).to_have_text("That is a bag label")
        expect(page.locator("#msg-say")).to_contain_text(f"{label.strip().upper()} is the label of a parent bag")
        expect(page.locator("#setup")).to_be_visible()
        assert page.evaluate("document.activeElement.id") == "bill-code"
    page.fill("#open-code", "SB00019")
    page.press("#open-code", "Enter")
    expect(page.locator("#msg-say")).to_contain_text("SB00019 is the label of a parent bag")
    expect(page.locator("#setup")).to_be_visible()
    page.wait_for_timeout(200)
    assert hub.ops == []

    page.fill("#bill-code", "B-19")
    page.press("#bill-code", "Enter")
    expect(page.locator("#msg-title")).to_have_text("Bill B-19 created")
    assert [(op["op"], op["bill"]) for op in hub.ops] == [("bill_create", "B-19")]
    expect(page.locator("#finish")).to_be_visible()
    page.click("#other")
    expect(page.locator("#setup")).to_be_visible()
    expect(page.locator("#bill-actions")).to_be_hidden()
