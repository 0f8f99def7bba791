"""web/bill.html against the contract's bill detail (faked: tests/browser/records_support.py):
the bill with its parents (each a link to lookup), weights and totals; a biller changes the
destination and vehicle (PATCH with an Idempotency-Key); in print media the page is a dispatch
manifest: no navigation or buttons, the bill, vehicle, destination, parents, weights, totals and
signature lines; an unknown bill and a dispatcher are answered in words; it fits 360 px.

Screenshots: test-artifacts/screenshots/bill-*.png (bill-manifest-print.png: the print view).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.browsers import static_web
from tests.browser.page_support import NARROW, PHONE, overflow
from tests.browser.records_support import AT, FakeRecords, open_records_page

pytestmark = pytest.mark.browser


def bill(**extra: Any) -> dict[str, Any]:
    parents = [{"code": code, "child_count": n, "expected_kg": f"{n}.00", "added_at": AT, "added_by": "bina"}
               for code, n in (("SB00010", 30), ("SB00011", 30), ("SB00012", 30), ("M444-00001", 15))]
    return {"code": "B-7", "area": "lucknow", "status": "completed", "capacity": 10, "parent_count": 4,
            "destination": "Kanpur DC", "vehicle": "UP32 AB 1234", "actual_kg": "105.00", "expected_kg": "105.00",
            "created_at": AT, "created_by": "bina", "completed_at": AT, "parents": parents, **extra}


def test_bill_detail_edit_and_print_manifest(browser: Any, screenshots: Path) -> None:
    fake = FakeRecords(role="biller", area="lucknow", bills={"B-7": bill()})
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/bill.html?code=b-7", fake, PHONE)
        expect(page.locator("#bill-code")).to_have_text("B-7")
        expect(page.locator("#bill-status")).to_have_text("Finished")
        expect(page.locator("#bill-count")).to_have_text("4/10")
        expect(page.locator("#bill-actual")).to_have_text("105.00 kg")
        rows = page.locator("#parents tbody tr")
        expect(rows).to_have_count(4)
        expect(rows.nth(3)).to_contain_text("15.00 kg")
        assert rows.nth(0).locator("a").get_attribute("href") == "/lookup.html?code=SB00010"
        expect(page.locator("#total-children")).to_have_text("105")
        expect(page.locator("#total-expected")).to_have_text("105.00 kg")
        expect(page.locator(".signatures")).to_be_hidden()  # paper only

        page.click("#edit-open")
        expect(page.locator("#edit-destination")).to_have_value("Kanpur DC")
        page.fill("#edit-destination", "Kanpur DC, Gate 4")
        page.click("#edit-save")
        expect(page.locator("#page-message")).to_contain_text("destination and vehicle saved")
        expect(page.locator("#bill-destination")).to_have_text("Kanpur DC, Gate 4")
        patch = [r for r in fake.requests if r["method"] == "PATCH"]
        assert [(p["path"], p["body"]) for p in patch] == [("/api/bills/B-7", {"destination": "Kanpur DC, Gate 4"})]
        assert patch[0]["headers"].get("idempotency-key")

        page.emulate_media(media="print")
        for hidden in (".bar", "#bill-tools", "#edit", "#page-message"):
            expect(page.locator(hidden)).to_be_hidden()
        expect(page.locator("#manifest-title")).to_have_text("Dispatch manifest · Bill B-7")
        expect(page.locator(".signatures")).to_be_visible()
        expect(page.locator(".signature")).to_have_text(["Loaded by", "Driver", "Received by"])
        expect(page.locator("#printed")).to_contain_text("Printed")
        manifest = page.locator("#manifest")
        for text in ("UP32 AB 1234", "Kanpur DC, Gate 4", "SB00012", "M444-00001", "105.00 kg", "Total"):
            expect(manifest).to_contain_text(text)
        # on paper the parents are a table again, header row included, whatever the width
        head = page.evaluate("getComputedStyle(document.querySelector('#parents thead')).display")
        assert head == "table-header-group"
        page.screenshot(path=str(screenshots / "bill-manifest-print.png"), full_page=True)
        page.emulate_media(media="screen")
        expect(page.locator(".bar")).to_be_visible()
        page.context.close()
    assert errors == []


def test_unknown_bill_dispatcher_and_narrow_screen(browser: Any, screenshots: Path) -> None:
    long = "Central Distribution Centre, Gate 4, Transport Nagar Industrial Area, Kanpur Road, Lucknow"
    with static_web() as base:
        page, errors = open_records_page(browser, base, "/bill.html?code=B-404", FakeRecords(), PHONE)
        expect(page.locator("#page-message")).to_contain_text("No such bill")
        expect(page.locator("#manifest")).to_be_hidden()
        page.context.close()

        dispatcher = FakeRecords(role="dispatcher", area="lucknow", bills={"B-7": bill()})
        page, more = open_records_page(browser, base, "/bill.html?code=B-7", dispatcher, PHONE)
        expect(page.locator("#wrong-role")).to_be_visible()
        expect(page.locator("#page-message")).to_contain_text("this page is for billers and admins")
        assert not any(r["path"] == "/api/bills/B-7" for r in dispatcher.requests)
        page.context.close()

        wide = FakeRecords(bills={"BILL-2026-LUCKNOW-000123456": bill(
            code="BILL-2026-LUCKNOW-000123456", destination=long, vehicle="UP32 AB 1234 with trailer UP32 ZZ 9876")})
        page, narrow = open_records_page(browser, base, "/bill.html?code=BILL-2026-LUCKNOW-000123456", wide, NARROW)
        expect(page.locator("#parents tbody tr")).to_have_count(4)
        assert overflow(page) == []
        page.screenshot(path=str(screenshots / "bill-narrow.png"), full_page=True)
        page.context.close()
    assert errors == [] and more == [] and narrow == []
