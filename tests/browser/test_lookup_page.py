"""web/lookup.html against the contract's records API (faked: tests/browser/records_support.py):
a wedge scan opens a bag with its parent or children, bill and history in words; every code links
on; an unknown code says "No such bag"; an admin's correction asks, confirms, calls the endpoint
with an Idempotency-Key and reads the bag again; a dispatcher gets no correction buttons; the page
fits a 360 px handheld.

Screenshots: test-artifacts/screenshots/lookup-*.png.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.page_support import NARROW, PHONE, overflow, wedge
from tests.browser.records_support import FakeRecords, child_bag, event, open_records_page, parent_bag

pytestmark = pytest.mark.browser


def warehouse(role: str = "admin", area: str | None = None) -> FakeRecords:
    full = parent_bag("SB00017", 30, bill={"code": "B-7", "status": "open"}, completed_at="2030-01-02T09:00:00+00:00")
    full["history"] = [
        event("bill_add", "SB00017", "B-7", user="bina", device="hh-9"),
        event("child", "C00017029", "SB00017"),
        event("child", "C99999999", "SB00017", result="PARENT_FULL", device="hh-2"),
        event("parent", "SB00017"),
    ]
    loose = parent_bag("SB00018", 3)
    child = child_bag("C00017000", full)
    child["history"] = [event("move_child", "C00017000", "SB00017", kind="correction", user="admin", device="api:1:k"),
                        event("child", "C00017000", "SB00018")]
    return FakeRecords(role=role, area=area, bags={"SB00017": full, "SB00018": loose, "C00017000": child})


def test_a_scanned_parent_shows_its_children_bill_and_history(browser: Any, screenshots: Path) -> None:
    fake = warehouse(role="dispatcher", area="lucknow")
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/lookup.html", fake, PHONE)
        assert page.evaluate("document.activeElement.id") == "code"
        wedge(page, " sb00017\u200b")  # what a scanner may type: spaces, a zero-width space, lower case
        expect(page.locator("#bag-code")).to_have_text("SB00017")
        assert page.url.endswith("/lookup.html?code=SB00017")
        expect(page.locator("#bag-status")).to_have_text("Full")
        expect(page.locator("#bag-facts")).to_contain_text("Parent bag (standard)")
        expect(page.locator("#bag-facts")).to_contain_text("30/30")
        expect(page.locator("#bag-facts")).to_contain_text("30.00 kg")
        expect(page.locator("#bag-bill")).to_have_text("B-7")  # bill detail is for billers: no link
        assert page.locator("#bag-bill").get_attribute("href") is None
        expect(page.locator("#bag-children li")).to_have_count(30)
        assert page.locator("#bag-children a").first.get_attribute("href") == "/lookup.html?code=C00017000"
        history = page.locator("#history li")
        expect(history).to_have_count(4)
        expect(history.nth(0)).to_contain_text("Put on bill")
        expect(history.nth(0).locator("a", has_text="B-7")).to_have_count(0)
        assert history.nth(0).locator("a.user").get_attribute("href") == "/scans.html?user=bina"
        assert history.nth(0).locator("a.device").get_attribute("href") == "/scans.html?device=hh-9"
        refused = page.locator("#history li.rejected")
        expect(refused).to_have_count(1)
        expect(refused).to_contain_text("Parent bag is full")  # the operator's words, not the code
        expect(page.locator("#corrections")).to_be_hidden()  # a dispatcher corrects nothing
        assert page.evaluate("document.activeElement.id") == "code"  # ready for the next scan
        page.screenshot(path=str(screenshots / "lookup-parent.png"), full_page=True)

        page.locator("#bag-children a").first.click()
        expect(page.locator("#bag-code")).to_have_text("C00017000")
        expect(page.locator("#bag-status")).to_have_text("In a parent")
        assert page.locator("#bag-parent").get_attribute("href") == "/lookup.html?code=SB00017"
        expect(page.locator("#history li").first).to_contain_text("Correction")
        expect(page.locator("#history li").first).to_contain_text("Moved to another parent")

        wedge(page, "C12345678")
        expect(page.locator("#page-message")).to_contain_text("No such bag")
        expect(page.locator("#page-message")).to_contain_text("C12345678")
        expect(page.locator("#prefix-search")).to_have_attribute("href", "/bags.html?prefix=C12345678")
        expect(page.locator("#bag")).to_be_hidden()
        page.go_back()
        expect(page.locator("#bag-code")).to_have_text("C00017000")
        page.context.close()
    assert errors == []


def test_code_in_the_address_opens_the_bag_and_fits_a_narrow_screen(browser: Any, screenshots: Path) -> None:
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/lookup.html?code=sb00017", warehouse(), NARROW)
        expect(page.locator("#bag-code")).to_have_text("SB00017")
        expect(page.locator("#history li")).to_have_count(4)
        expect(page.locator("#bag-bill")).to_have_attribute("href", "/bill.html?code=B-7")  # an admin's link
        bill = page.locator("#history li").first.locator("a", has_text="B-7")
        expect(bill).to_have_attribute("href", "/bill.html?code=B-7")
        assert overflow(page) == []
        page.screenshot(path=str(screenshots / "lookup-narrow.png"), full_page=True)
        page.context.close()
    assert errors == []


def test_an_admin_moves_a_child_after_confirming(browser: Any, screenshots: Path) -> None:
    fake = warehouse()
    moved = {"n": 0}

    def move(req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        moved["n"] += 1
        if moved["n"] == 1:
            return 503, {"error": "BUSY", "message": "The hub is busy; send it again."}
        if req["body"]["parent"] == "SB00018":
            fake.bags["C00017000"] = child_bag("C00017000", fake.bags["SB00018"])
            return 200, {"result": "OK", "data": {"code": "C00017000", "parent": "SB00018"}}
        return 409, {"error": "PARENT_FULL", "message": "The parent bag is full.",
                     "data": {"parent": req["body"]["parent"], "count": 30, "capacity": 30}}

    fake.answers[("POST", "/api/bags/C00017000/move")] = move
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/lookup.html?code=C00017000", fake, PHONE)
        buttons = page.locator("#fix-buttons button")
        expect(buttons).to_have_text(["Move to another parent", "Take out of parent", "Delete bag"])
        page.click("[data-fix=move]")
        expect(page.locator("#fix-question")).to_have_text("Move C00017000 into another parent bag (out of SB00017)?")
        assert moved["n"] == 0  # nothing is sent before the confirmation
        page.fill("#fix-parent", "sb00019")
        page.click("#fix-confirm")
        expect(page.locator("#page-message")).to_contain_text("Hub busy")
        page.click("#fix-confirm")  # the same request again
        expect(page.locator("#page-message")).to_contain_text("Parent bag is full")
        expect(page.locator("#page-message")).to_contain_text("SB00019 is already full (30/30)")
        expect(page.locator("#fix-form")).to_be_visible()  # the operator may correct the parent
        page.fill("#fix-parent", "SB00018")
        page.click("#fix-confirm")
        expect(page.locator("#page-message")).to_contain_text("C00017000 is now in SB00018.")
        assert page.locator("#bag-parent").get_attribute("href") == "/lookup.html?code=SB00018"
        expect(page.locator("#fix-form")).to_be_hidden()
        posts = [r for r in fake.requests if r["method"] == "POST"]
        assert [p["body"] for p in posts] == [{"parent": "SB00019"}, {"parent": "SB00019"}, {"parent": "SB00018"}]
        keys = [p["headers"].get("idempotency-key") or "" for p in posts]
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key) for key in keys)
        # unanswered (busy), the same request keeps its key (a replay); after a refusal the next is new
        assert keys[0] == keys[1] and keys[2] != keys[1]
        page.screenshot(path=str(screenshots / "lookup-corrected.png"), full_page=True)
        page.context.close()
    assert errors == []


def test_an_admin_deletes_a_bag_and_takes_a_parent_off_its_bill(browser: Any) -> None:
    fake = warehouse()
    fake.answers[("POST", "/api/bags/SB00017/take-off-bill")] = lambda req: (
        fake.bags["SB00017"].update(bill=None, status="complete") or (200, {"result": "OK", "data": {}}))
    fake.answers[("DELETE", "/api/bags/SB00018")] = lambda req: (
        fake.bags.pop("SB00018") and (200, {"result": "OK", "data": {}}))
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/lookup.html?code=SB00017", fake, PHONE)
        buttons = page.locator("#fix-buttons button")
        expect(buttons).to_have_text(["Take off bill", "Move to another area", "Delete bag"])
        page.click("[data-fix=take-off-bill]")
        page.click("#fix-confirm")
        expect(page.locator("#page-message")).to_contain_text("SB00017 is off bill B-7.")
        expect(page.locator("#bag-facts")).to_contain_text("none")
        expect(buttons).to_have_text(["Move to another area", "Delete bag"])

        page.click("[data-fix=reassign]")
        expect(page.locator("#fix-area option")).to_have_count(2)  # the other areas only
        page.click("#fix-cancel")
        expect(page.locator("#fix-form")).to_be_hidden()

        wedge(page, "SB00018")
        expect(page.locator("#bag-code")).to_have_text("SB00018")
        page.click("[data-fix=delete]")
        expect(page.locator("#fix-question")).to_contain_text("Delete SB00018?")
        page.click("#fix-confirm")
        expect(page.locator("#page-message")).to_contain_text("Bag deleted")
        expect(page.locator("#bag")).to_be_hidden()
        assert [(r["method"], r["path"]) for r in fake.requests if r["method"] != "GET"] == [
            ("POST", "/api/bags/SB00017/take-off-bill"), ("DELETE", "/api/bags/SB00018")]
        page.context.close()
    assert errors == []
