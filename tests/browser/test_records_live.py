"""The lookup and the bags list against a real hub process, with bags made by real scans: a
dispatcher scans a code and sees its parent or children and its history, a refused scan included;
another area's bag says exactly what a code that does not exist says; the bags list pages forward
and back with the hub's own cursors; a bill's detail and its print manifest, the refused scans of
a biller, another area's bill answered as unknown; the audit log shows a user's role change.

Screenshots: test-artifacts/screenshots/live-*.png.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveHub
from tests.browser.page_support import PHONE, log_in, watch_errors, wedge
from tests.browser.records_support import fill, scan
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def test_a_dispatcher_looks_up_bags_of_their_area_only(live_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    mine, theirs, other = live_hub.unused_parent(), live_hub.unused_parent(), live_hub.unused_parent()
    children = [f"K{tag}{i:02d}" for i in range(3)]
    username, password = live_hub.make_user("dispatcher", area="lucknow")
    token = live_hub.login(username, password)
    fill(live_hub, token, mine, children)
    fill(live_hub, token, other, [])
    refused = scan(live_hub, token, [{"op": "child", "code": children[0], "parent": other}])
    assert refused[0]["code"] == "ALREADY_LINKED"
    fill(live_hub, live_hub.login(*live_hub.make_user("dispatcher", area="indore")), theirs, [f"J{tag}00"])

    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Flookup.html")
    log_in(page, username, password)
    page.wait_for_url("**/lookup.html")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    wedge(page, mine.lower())
    expect(page.locator("#bag-code")).to_have_text(mine)
    expect(page.locator("#bag-status")).to_have_text("Filling")
    expect(page.locator("#bag-facts")).to_contain_text("3/30")
    expect(page.locator("#bag-facts")).to_contain_text("Lucknow")
    expect(page.locator("#bag-children a")).to_have_text(children)
    history = page.locator("#history li")
    expect(history).to_have_count(4)
    expect(history.last).to_contain_text("Parent bag scanned")
    expect(history.first).to_contain_text("Child put into parent")
    expect(history.first.locator("a.user")).to_have_text(username)
    page.screenshot(path=str(screenshots / "live-lookup-parent.png"), full_page=True)

    page.locator("#bag-children a", has_text=children[0]).click()
    expect(page.locator("#bag-code")).to_have_text(children[0])
    expect(page.locator("#bag-status")).to_have_text("In a parent")
    expect(page.locator("#bag-parent")).to_have_text(mine)
    expect(page.locator("#history li.rejected")).to_contain_text("Already in another bag")

    wedge(page, theirs)
    expect(page.locator("#bag")).to_be_hidden()
    other_area = page.locator("#page-message").inner_text()
    wedge(page, f"Z{tag}99")  # a code no bag has
    expect(page.locator("#page-message")).to_contain_text(f"Z{tag}99")
    nowhere = page.locator("#page-message").inner_text()
    assert "No such bag" in other_area
    assert other_area.replace(theirs, "X") == nowhere.replace(f"Z{tag}99", "X")  # nothing to tell them apart
    page.close()
    assert errors == []


def test_the_bags_list_pages_with_the_hubs_cursors(live_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    children = [f"K{tag}{i:02d}" for i in range(5)]
    fill(live_hub, live_hub.login(*live_hub.make_user("dispatcher")), live_hub.unused_parent(), children)
    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Fbags.html%3Flimit%3D2")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/bags.html?limit=2")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.fill("input[name=prefix]", f"k{tag}")
    page.click("#filters button[type=submit]")
    rows = page.locator("#list tbody tr")
    seen: list[str] = []
    for number in (1, 2, 3):
        expect(page.locator("body")).to_have_attribute("data-loading", "false")  # set at once by each click
        expect(page.locator("#page-no")).to_have_text(f"Page {number}")
        codes = [rows.nth(i).get_attribute("data-code") or "" for i in range(rows.count())]
        seen += codes
        if number < 3:
            page.click("#next")
    assert sorted(seen) == children and len(seen) == 5  # every bag once, none twice
    expect(page.locator("#next")).to_be_disabled()
    page.click("#prev")
    expect(page.locator("#page-no")).to_have_text("Page 2")
    expect(rows.first).to_have_attribute("data-code", seen[2])
    assert rows.first.locator("a").first.get_attribute("href") == f"/lookup.html?code={seen[2]}"
    with page.expect_download() as download:  # the export of the list's filter: all five, not one page
        page.click("#exports [data-dataset=bags] button[data-format=csv]")
    lines = Path(download.value.path()).read_text().splitlines()
    assert len(lines) == 6 and sorted(line.split(",")[0] for line in lines[1:]) == children, lines
    page.screenshot(path=str(screenshots / "live-bags.png"), full_page=True)
    page.close()
    assert errors == []


def test_bill_detail_print_scans_and_audit_on_a_real_hub(live_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    minis = [live_hub.unused_parent("M444-") for _ in range(2)]
    half = live_hub.unused_parent("M444-")
    dispatcher = live_hub.login(*live_hub.make_user("dispatcher"))
    for index, parent in enumerate(minis):
        fill(live_hub, dispatcher, parent, [f"Q{tag}{index}{i:02d}" for i in range(15)])
    fill(live_hub, dispatcher, half, [f"H{tag}{i:02d}" for i in range(4)])
    biller, password = live_hub.make_user("biller")
    bill = f"B-{tag}"
    acks = scan(live_hub, live_hub.login(biller, password),
                [{"op": "bill_create", "bill": bill, "capacity": 5, "destination": "Kanpur DC",
                  "vehicle": "UP32 AB 1234"},
                 *[{"op": "bill_add", "bill": bill, "parent": p} for p in minis],
                 {"op": "bill_add", "bill": bill, "parent": half}])
    assert [a["code"] for a in acks] == ["OK", "OK", "OK", "PARENT_INCOMPLETE"]

    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Fbill.html%3Fcode%3D{bill}")
    log_in(page, biller, password)
    page.wait_for_url(f"**/bill.html?code={bill}")
    expect(page.locator("#bill-count")).to_have_text("2/5")
    expect(page.locator("#parents tbody tr")).to_have_count(2)
    expect(page.locator("#parents tbody")).to_contain_text(minis[0])
    expect(page.locator("#total-actual")).to_have_text("30.00 kg")
    expect(page.locator("#total-expected")).to_have_text("30.00 kg")
    page.emulate_media(media="print")
    expect(page.locator(".bar")).to_be_hidden()
    expect(page.locator("#manifest")).to_contain_text("UP32 AB 1234")
    expect(page.locator(".signatures")).to_be_visible()
    page.screenshot(path=str(screenshots / "live-manifest-print.png"), full_page=True)
    page.emulate_media(media="screen")

    page.goto(f"{live_hub.url}/scans.html?result=rejected&user={biller}")
    rows = page.locator("#list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Parent bag not full")
    expect(rows.first.locator("a", has_text=half)).to_have_attribute("href", f"/lookup.html?code={half}")
    expect(rows.first.locator("a", has_text=bill)).to_have_attribute("href", f"/bill.html?code={bill}")
    page.close()

    other = browser.new_page(viewport=PHONE)
    more = watch_errors(other)
    elsewhere, secret = live_hub.make_user("biller", area="indore")
    other.goto(f"{live_hub.url}/?next=%2Fbill.html%3Fcode%3D{bill}")
    log_in(other, elsewhere, secret)
    other.wait_for_url(f"**/bill.html?code={bill}")
    expect(other.locator("#page-message")).to_contain_text("No such bill")  # another area's bill: as unknown
    expect(other.locator("#manifest")).to_be_hidden()
    other.close()
    assert errors == [] and more == []


def test_the_audit_log_of_a_real_hub(live_hub: LiveHub, browser: Any) -> None:
    username, _ = live_hub.make_user("dispatcher")
    user_id = live_hub.sql("SELECT id FROM users WHERE username = $1", username)[0]["id"]
    changed = httpx.patch(f"{live_hub.url}/api/users/{user_id}", json={"role": "biller"},
                          cookies={"tt_session": live_hub.login("admin", ADMIN_PASSWORD)})
    assert changed.status_code == 200, changed.text
    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Faudit.html")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/audit.html")
    page.fill("input[name=target]", f"user:{user_id}")
    page.fill("input[name=action]", "user.change")
    page.click("#filters button[type=submit]")
    rows = page.locator("#list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("admin")
    before, after = rows.first.locator("td").nth(4), rows.first.locator("td").nth(5)
    expect(before.locator("dd.changed", has_text="dispatcher")).to_have_count(1)
    expect(after.locator("dd.changed", has_text="biller")).to_have_count(1)
    expect(after.locator("dd:not(.changed)", has_text=username)).to_have_count(1)  # the same on both sides
    page.close()
    assert errors == []


def test_an_admin_corrects_bags_from_the_lookup_on_a_real_hub(live_hub: LiveHub, browser: Any,
                                                              screenshots: Path) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    first, second, full = live_hub.unused_parent(), live_hub.unused_parent(), live_hub.unused_parent("M444-")
    child = f"K{tag}00"
    dispatcher = live_hub.login(*live_hub.make_user("dispatcher"))
    fill(live_hub, dispatcher, first, [child, f"K{tag}01"])
    fill(live_hub, dispatcher, second, [])
    fill(live_hub, dispatcher, full, [f"F{tag}{i:02d}" for i in range(15)])

    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Flookup.html%3Fcode%3D{child}")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url(f"**/lookup.html?code={child}")
    expect(page.locator("#bag-parent")).to_have_text(first)
    page.click("[data-fix=move]")
    page.fill("#fix-parent", full)
    page.click("#fix-confirm")
    expect(page.locator("#page-message")).to_contain_text("Parent bag is full")  # refused: nothing changed
    assert live_hub.links(first) == sorted([child, f"K{tag}01"])
    page.fill("#fix-parent", second.lower())
    page.click("#fix-confirm")
    expect(page.locator("#page-message")).to_contain_text(f"{child} is now in {second}.")
    expect(page.locator("#bag-parent")).to_have_text(second)
    assert live_hub.links(second) == [child] and live_hub.links(first) == [f"K{tag}01"]
    moved = page.locator("#history li").first
    expect(moved).to_contain_text("Correction")
    expect(moved).to_contain_text("Moved to another parent")

    page.click("[data-fix=take-out]")
    page.click("#fix-confirm")
    expect(page.locator("#bag-status")).to_have_text("Not in a parent")
    assert live_hub.links(second) == []

    wedge(page, second)
    expect(page.locator("#bag-code")).to_have_text(second)
    page.click("[data-fix=reassign]")
    page.select_option("#fix-area", "indore")
    page.click("#fix-confirm")
    expect(page.locator("#bag-facts")).to_contain_text("Indore")
    page.click("[data-fix=delete]")
    page.click("#fix-confirm")
    expect(page.locator("#page-message")).to_contain_text("Bag deleted")
    assert live_hub.sql("SELECT 1 FROM bags WHERE code = $1", second) == []
    page.screenshot(path=str(screenshots / "live-lookup-corrected.png"), full_page=True)
    page.close()
    assert errors == []


def test_a_biller_changes_a_bills_vehicle_on_a_real_hub(live_hub: LiveHub, browser: Any) -> None:
    bill = f"B-{uuid.uuid4().hex[:6].upper()}"
    biller, password = live_hub.make_user("biller")
    acks = scan(live_hub, live_hub.login(biller, password),
                [{"op": "bill_create", "bill": bill, "capacity": 3, "destination": "Kanpur", "vehicle": "UP32 AB 1"}])
    assert acks[0]["code"] == "OK"
    page = browser.new_page(viewport=PHONE)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Fbill.html%3Fcode%3D{bill}")
    log_in(page, biller, password)
    page.wait_for_url(f"**/bill.html?code={bill}")
    expect(page.locator("#no-parents")).to_be_visible()
    page.click("#edit-open")
    page.fill("#edit-vehicle", "up32 zz 9876")
    page.click("#edit-save")
    expect(page.locator("#bill-vehicle")).to_have_text("UP32 ZZ 9876")
    expect(page.locator("#bill-destination")).to_have_text("Kanpur")
    row = live_hub.sql("SELECT destination, vehicle FROM bills WHERE code = $1", bill)[0]
    assert (row["destination"], row["vehicle"]) == ("Kanpur", "UP32 ZZ 9876")
    page.close()
    assert errors == []
