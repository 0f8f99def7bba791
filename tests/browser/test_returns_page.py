"""web/returns.html in headless Chromium against a real hub process: a biller opens a return ticket,
scans parents that came back off a finished bill (the bill's count and weight drop, live), cancels
the ticket (every parent goes back), then returns one again and finalises that ticket; against a
faked hub, a bag label is refused as a ticket number before anything is sent.

Screenshots: test-artifacts/screenshots/returns-*.png.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from hub.codes import Code
from tests.browser.conftest import FakeHub, LiveHub, ack
from tests.browser.page_support import PHONE, fill_parents, log_in, quiet, scan_ops, watch_errors, wedge

pytestmark = pytest.mark.browser


def bill_count(hub: LiveHub, bill: str) -> tuple[str, int]:
    row = hub.sql("SELECT status, parent_count FROM bills WHERE code = $1", bill)[0]
    return row["status"], row["parent_count"]


def test_biller_returns_parents_cancels_then_finalises(live_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    dispatcher = live_hub.make_user("dispatcher")
    parents = [live_hub.unused_parent("M444-") for _ in range(2)]
    fill_parents(live_hub, live_hub.login(*dispatcher), {parent: 15 for parent in parents})
    username, password = live_hub.make_user("biller")
    bill = f"B-{uuid.uuid4().hex[:6].upper()}"
    acks = scan_ops(live_hub, live_hub.login(username, password), [
        {"op": "bill_create", "bill": bill, "capacity": 5}, *({"op": "bill_add", "bill": bill, "parent": p}
                                                              for p in parents), {"op": "bill_finish", "bill": bill}])
    assert [a["code"] for a in acks] == ["OK"] * 4
    ticket = f"R-{uuid.uuid4().hex[:6].upper()}"

    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/")
    log_in(page, username, password)
    page.wait_for_url("**/bills.html")
    page.goto(f"{live_hub.url}/returns.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("#setup")).to_be_visible()
    expect(page.locator("#ticket-actions")).to_be_hidden()
    assert page.evaluate("document.activeElement.id") == "ticket-code"

    wedge(page, ticket.lower())
    expect(page.locator("#msg-title")).to_have_text(f"Ticket {ticket} open")
    expect(page.locator("#ticket-title")).to_have_text(ticket)
    expect(page.locator("#ticket-status")).to_have_text("OPEN")
    assert page.evaluate("document.activeElement.id") == "scan"

    wedge(page, parents[0])
    expect(page.locator("#msg-title")).to_have_text("1 returned")
    expect(page.locator("#msg-say")).to_have_text(f"{parents[0]} is off bill {bill} now 1/5, 15 kg.")
    expect(page.locator("#count")).to_have_text("1")
    assert bill_count(live_hub, bill) == ("completed", 1)
    page.wait_for_timeout(450)
    wedge(page, parents[0])
    expect(page.locator("#msg-title")).to_have_text("Already returned")
    expect(page.locator("#msg-say")).to_contain_text(f"already on return ticket {ticket}")
    wedge(page, parents[1])
    expect(page.locator("#count")).to_have_text("2")
    expect(page.locator("#last-bill")).to_have_text(f"Last: {parents[1]} off bill {bill} now 0/5, 0 kg")
    assert bill_count(live_hub, bill) == ("completed", 0)
    quiet(page)
    page.screenshot(path=str(screenshots / "returns-scanned.png"))

    page.click("#cancel")
    expect(page.locator("#cancel")).to_have_text("Press again to cancel")
    page.click("#cancel")
    expect(page.locator("#msg-title")).to_have_text(f"Ticket {ticket} cancelled")
    expect(page.locator("#msg-say")).to_contain_text(f"bill {bill} now 2/5, 30 kg")
    expect(page.locator("#ticket-status")).to_have_text("CANCELLED")
    expect(page.locator("#finish")).to_be_hidden()
    assert bill_count(live_hub, bill) == ("completed", 2)
    wedge(page, parents[0])
    expect(page.locator("#msg-title")).to_have_text("Ticket is closed")

    page.click("#other")
    expect(page.locator("#setup")).to_be_visible()
    expect(page.locator("#tickets-recent button", has_text=ticket)).to_contain_text("cancelled")
    second = f"{ticket}-2"
    page.fill("#ticket-code", second)
    page.press("#ticket-code", "Enter")
    expect(page.locator("#msg-title")).to_have_text(f"Ticket {second} open")
    wedge(page, parents[1])
    expect(page.locator("#count")).to_have_text("1")
    page.reload()  # the ticket and its numbers survive a reload
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#ticket-title")).to_have_text(second)
    expect(page.locator("#count")).to_have_text("1")
    page.click("#finish")
    expect(page.locator("#msg-title")).to_have_text(f"Ticket {second} finalised")
    expect(page.locator("#ticket-status")).to_have_text("FINALISED")
    quiet(page)
    page.screenshot(path=str(screenshots / "returns-finalised.png"))

    rows = live_hub.sql("SELECT t.code, t.status, b.code AS parent, rp.restored_at IS NOT NULL AS restored "
                        "FROM return_tickets t JOIN return_parents rp ON rp.ticket_id = t.id "
                        "JOIN bags b ON b.id = rp.parent_id WHERE t.code = ANY($1::text[]) ORDER BY t.code, b.code",
                        [ticket, second])
    assert {tuple(r) for r in rows} == {(ticket, "cancelled", parents[0], True),
                                        (ticket, "cancelled", parents[1], True),
                                        (second, "finalised", parents[1], False)}
    assert bill_count(live_hub, bill) == ("completed", 1)
    assert errors == []


def test_a_bag_label_is_no_ticket_number(fake_site: Any) -> None:
    hub = FakeHub(lambda op: ack(op["seq"], Code.OK, {"ticket": op["ticket"], "area": "lucknow", "status": "open",
                                                       "count": 0, "created": True}))
    page = fake_site("/returns.html", hub)
    wedge(page, "sb00019")
    expect(page.locator("#msg-title")).to_have_text("That is a bag label")
    expect(page.locator("#setup")).to_be_visible()
    page.wait_for_timeout(200)
    assert hub.ops == []
    wedge(page, "r-19")
    expect(page.locator("#msg-title")).to_have_text("Ticket R-19 open")
    assert [(op["op"], op["ticket"]) for op in hub.ops] == [("return_open", "R-19")]
