"""The bags, bills, scans and audit lists (web/bags.html, bill-list.html, scans.html, audit.html)
against the contract's records API (faked: tests/browser/records_support.py): the filters are
form controls mirrored in the URL (a list can be bookmarked), "Next page" and "Previous page"
follow the keyset cursors (kept for Back and reload), codes lead to lookup or bill detail, users
and scanners to the scans list filtered; a bad cursor is said in words; a non-admin gets no area
filter and no audit log; the lists fit a 360 px handheld.

Screenshots: test-artifacts/screenshots/list-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.conftest import until
from tests.browser.page_support import NARROW, PHONE, overflow, watch_errors
from tests.browser.records_support import AT, FakeRecords, open_records_page

pytestmark = pytest.mark.browser


def bag_rows(count: int) -> list[dict[str, Any]]:
    """Newest first: every third a child of the parent before it."""
    rows = []
    for i in range(count, 0, -1):
        child = i % 3 == 0
        rows.append({"code": f"C{i:07d}" if child else f"SB{i:05d}", "kind": "child" if child else "parent",
                     "area": "lucknow" if i % 2 else "indore", "status": "in_parent" if child else "filling",
                     "child_count": 0 if child else 7, "capacity": None if child else 30, "created_at": AT,
                     "parent": f"SB{i - 1:05d}" if child else None, "bill": None if child else f"B-{i}"})
    return rows


def query(page: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def last_list_request(fake: FakeRecords, path: str) -> dict[str, str]:
    return [r for r in fake.requests if r["path"] == path][-1]["query"]


def test_bags_filters_and_pages_back_and_forth(browser: Any, screenshots: Path) -> None:
    fake = FakeRecords(lists={"bags": bag_rows(12)})
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/bags.html?limit=3", fake, PHONE)
        rows = page.locator("#list tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator("#prev")).to_be_disabled()
        expect(page.locator("nav[data-nav] a").last).to_have_text("Admin")  # an admin's pages: all of them
        expect(page.locator("nav[data-nav] a")).to_have_count(11)
        page.select_option("select[name=kind]", "parent")
        page.select_option("select[name=area]", "indore")
        page.click("#filters button[type=submit]")
        expect(rows.first).to_have_attribute("data-code", "SB00010")
        assert query(page) == {"kind": "parent", "area": "indore", "limit": "3"}
        assert last_list_request(fake, "/api/bags") == {"kind": "parent", "area": "indore", "limit": "3"}
        first_page = [rows.nth(i).get_attribute("data-code") for i in range(3)]
        assert first_page == ["SB00010", "SB00008", "SB00004"]
        code = rows.first.locator("a").first
        assert code.get_attribute("href") == "/lookup.html?code=SB00010"
        assert rows.first.locator("a", has_text="B-10").get_attribute("href") == "/bill.html?code=B-10"

        page.click("#next")
        expect(rows.first).to_have_attribute("data-code", "SB00002")
        expect(page.locator("#page-no")).to_have_text("Page 2")
        assert query(page)["after"] == "c3" and last_list_request(fake, "/api/bags")["after"] == "c3"
        expect(page.locator("#next")).to_be_disabled()  # the last page: the answer's next is null
        page.reload()  # a reload keeps the filters, the page and the way back
        expect(rows.first).to_have_attribute("data-code", "SB00002")
        expect(page.locator("select[name=kind]")).to_have_value("parent")
        expect(page.locator("select[name=area]")).to_have_value("indore")
        page.click("#prev")
        expect(rows.first).to_have_attribute("data-code", "SB00010")
        expect(page.locator("#page-no")).to_have_text("Page 1")
        assert "after" not in query(page)
        page.go_back()  # the browser's Back is the page before too
        expect(rows.first).to_have_attribute("data-code", "SB00002")

        page.click("#clear")
        expect(rows).to_have_count(3)
        expect(rows.first).to_have_attribute("data-code", "C0000012")
        assert query(page) == {"limit": "3"}
        page.context.close()
    assert errors == []


def test_scans_lead_to_bags_bills_and_the_scans_of_a_user(browser: Any, screenshots: Path) -> None:
    scans = [
        {"id": 3, "at": AT, "client_at": AT, "device": "hh-2", "user": "ravi", "area": "lucknow", "op": "bill_add",
         "code": "SB00017", "target": "B-7", "result": "OK", "detail": None},
        {"id": 2, "at": AT, "client_at": AT, "device": "hh-1", "user": "dina", "area": "lucknow", "op": "child",
         "code": "C0000001", "target": "SB00017", "result": "ALREADY_LINKED", "detail": None},
        {"id": 1, "at": AT, "client_at": AT, "device": "hh-1", "user": "dina", "area": "lucknow", "op": "bill_create",
         "code": "B-7", "target": "", "result": "OK", "detail": None},
    ]
    fake = FakeRecords(role="biller", area="lucknow", lists={"scans": scans})
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/scans.html", fake, PHONE)
        rows = page.locator("#list tbody tr")
        expect(rows).to_have_count(3)
        expect(page.locator("label.area-filter")).to_be_hidden()  # a biller sees their own area only
        expect(page.locator("nav[data-nav] a")).to_have_text(
            ["Scanner", "Bill scanner", "Lookup", "Bags", "Bills", "Scans", "Returns", "Dashboard"])
        expect(page.locator("nav[data-nav] a[aria-current=page]")).to_have_text("Scans")
        assert rows.nth(0).locator("a", has_text="B-7").get_attribute("href") == "/bill.html?code=B-7"
        assert rows.nth(1).locator("a", has_text="SB00017").get_attribute("href") == "/lookup.html?code=SB00017"
        assert rows.nth(2).locator("a", has_text="B-7").get_attribute("href") == "/bill.html?code=B-7"
        expect(rows.nth(1)).to_contain_text("Already in another bag")
        expect(rows.nth(1)).to_have_class("rejected")
        page.select_option("select[name=result]", "rejected")
        page.click("#filters button[type=submit]")
        expect(rows).to_have_count(1)
        assert last_list_request(fake, "/api/scans")["result"] == "rejected"
        page.screenshot(path=str(screenshots / "list-scans.png"), full_page=True)

        page.locator("#list a.user", has_text="dina").click()
        expect(page.locator("input[name=user]")).to_have_value("dina")
        until(page, lambda: query(page) == {"user": "dina"})
        expect(rows).to_have_count(2)
        page.locator("#list a.device").first.click()
        expect(page.locator("input[name=device]")).to_have_value("hh-1")
        # The form shows the filter before the page's request for it has reached the fake.
        until(page, lambda: last_list_request(fake, "/api/scans") == {"device": "hh-1"})
        page.context.close()
    assert errors == []


def test_bills_list_links_bills_for_billers_not_for_dispatchers(browser: Any) -> None:
    bills = [{"code": "B-7", "area": "lucknow", "status": "open", "parent_count": 2, "capacity": 10,
              "destination": "Kanpur DC", "vehicle": "UP32 AB 1234", "created_at": AT, "completed_at": None}]
    with static_web() as base:
        for role, linked in (("biller", True), ("dispatcher", False)):
            fake = FakeRecords(role=role, area="lucknow", lists={"bills": bills})
            page, errors = open_records_page(browser, base, "/bill-list.html?q=kanpur", fake, PHONE)
            row = page.locator("#list tbody tr")
            expect(row).to_have_count(1)
            expect(row).to_contain_text("2/10")
            expect(page.locator("input[name=q]")).to_have_value("kanpur")
            assert (row.locator("a", has_text="B-7").count() == 1) is linked
            page.context.close()
            assert errors == []


def test_a_bad_cursor_is_said_in_words(browser: Any) -> None:
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/bags.html?after=nonsense",
                                         FakeRecords(lists={"bags": bag_rows(5)}), PHONE)
        expect(page.locator("#page-message")).to_contain_text("Page not found")
        expect(page.locator("#page-message")).to_contain_text("This page's cursor is not valid.")
        page.click("#prev")  # back to the first page
        expect(page.locator("#list tbody tr")).to_have_count(5)
        expect(page.locator("#page-message")).to_be_hidden()
        page.context.close()
    assert errors == []


def test_the_audit_log_shows_before_and_after(browser: Any, screenshots: Path) -> None:
    entries = [{"id": 9, "at": AT, "actor": "admin", "action": "bill_edit", "target": "B-7",
                "before": {"destination": "Kanpur", "vehicle": "UP32 AB 1234"},
                "after": {"destination": "Kanpur DC", "vehicle": "UP32 AB 1234"}},
               {"id": 8, "at": AT, "actor": "admin", "action": "user.create", "target": "user:5",
                "before": None, "after": {"username": "dina", "role": "dispatcher"}}]
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/audit.html", FakeRecords(lists={"audit": entries}), PHONE)
        rows = page.locator("#list tbody tr")
        expect(rows).to_have_count(2)
        changed = rows.first.locator("dd.changed")
        expect(changed).to_have_text(["Kanpur", "Kanpur DC"])  # the vehicle stayed: not marked
        expect(rows.nth(1)).to_contain_text("Username")
        page.fill("input[name=actor]", "admin")
        page.fill("input[name=from]", "2030-01-01")
        page.click("#filters button[type=submit]")
        expect(rows).to_have_count(2)
        assert query(page) == {"actor": "admin", "from": "2030-01-01"}
        page.screenshot(path=str(screenshots / "list-audit.png"), full_page=True)
        page.context.close()

        dispatcher = FakeRecords(role="dispatcher", area="lucknow", lists={"audit": entries})
        page, more = open_records_page(browser, base, "/audit.html", dispatcher, PHONE)
        expect(page.locator("#wrong-role")).to_be_visible()
        expect(page.locator("#page-message")).to_contain_text("this page is for admins")
        page.context.close()
    assert errors == [] and more == []
    assert not any(r["path"] == "/api/audit" for r in dispatcher.requests)  # not even asked


@pytest.mark.parametrize("path", ["/bags.html", "/bill-list.html", "/scans.html", "/audit.html"])
def test_lists_fit_a_narrow_screen(browser: Any, screenshots: Path, path: str) -> None:
    long = "Central Distribution Centre, Gate 4, Transport Nagar, Kanpur Road"
    fake = FakeRecords(lists={
        "bags": bag_rows(6),
        "bills": [{"code": "BILL-2026-LUCKNOW-000123456", "area": "sri_ganganagar", "status": "completed",
                   "parent_count": 10, "capacity": 10, "destination": long, "vehicle": "UP32 AB 1234 + trailer",
                   "created_at": AT, "completed_at": AT}],
        "scans": [{"id": 1, "at": AT, "client_at": AT, "device": "scanner-6f1c2a7e-0a55-4c1f-9d0e-3b8f1e2a9c77",
                   "user": "a-very-long-user-name", "area": "sri_ganganagar", "op": "child",
                   "code": "CVERYLONGCHILD000017", "target": "SB00017", "result": "OK", "detail": None}],
        "audit": [{"id": 1, "at": AT, "actor": "admin", "action": "bill_edit", "target": "BILL-2026-LUCKNOW-000123456",
                   "before": {"destination": long}, "after": {"destination": long.upper()}}],
    })
    with static_web() as base:
        page, errors = open_records_page(browser, base, path, fake, NARROW)
        expect(page.locator("#list tbody tr").first).to_be_visible()
        assert overflow(page) == []
        page.screenshot(path=str(screenshots / f"list-narrow-{path.strip('/').split('.')[0]}.png"), full_page=True)
        page.context.close()
    assert errors == []


# stands in for web/js/exports.js (stream transfer): a button per dataset that shows the filters it gets
EXPORTS_STUB = """export function mountExport(container, dataset, paramsFn) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.format = "csv";
  button.textContent = "CSV";
  button.addEventListener("click", () => { button.dataset.params = paramsFn().toString(); });
  container.append(button);
}"""


def test_export_buttons_get_the_lists_filters(browser: Any) -> None:
    with static_web() as base:
        context = browser.new_context(service_workers="block", viewport=PHONE)
        page = context.new_page()
        errors = watch_errors(page)
        FakeRecords(lists={"bags": bag_rows(6)}).route(page)
        page.route("**/js/exports.js", lambda route: route.fulfill(body=EXPORTS_STUB, content_type="text/javascript"))
        page.goto(f"{base}/bags.html?limit=2&kind=parent")
        expect(page.locator("#exports .export-set")).to_have_count(2)
        expect(page.locator("#exports .export-name")).to_have_text(["Bags", "Child-parent links"])
        page.click("#next")
        expect(page.locator("#page-no")).to_have_text("Page 2")
        links = page.locator("#exports [data-dataset=links] button")
        links.click()
        expect(links).to_have_attribute("data-params", "kind=parent")  # the filter, not the page or its size
        context.close()
    assert errors == []
