"""web/imports.html imports a file and shows its summary and bad rows; web/js/exports.js downloads
a list's filter with a progress line. Against a real hub.

Screenshot: test-artifacts/screenshots/imports-narrow.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import LiveHub
from tests.browser.page_support import NARROW, log_in, overflow, watch_errors
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser


def test_an_admin_imports_a_file_and_gets_its_bad_rows(live_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    parent = live_hub.unused_parent()
    rows = [f"K{parent[2:]}{n:02d},{parent}" for n in range(1, 4)] + ["x!,SB1", f"K{parent[2:]}01,{parent}"]
    page = browser.new_page(viewport=NARROW)
    errors = watch_errors(page)
    page.goto(f"{live_hub.url}/?next=%2Fimports.html")
    log_in(page, "admin", ADMIN_PASSWORD)
    page.wait_for_url("**/imports.html")
    page.set_input_files("input[name=file]", files=[{"name": "links.csv", "mimeType": "text/csv",
                                                      "buffer": ("child,parent\n" + "\n".join(rows)).encode()}])
    page.select_option("select[name=mode]", "rows")
    page.select_option("select[name=area]", "jaipur")
    page.click("#import-form button[type=submit]")
    expect(page.locator("#import-summary")).to_contain_text("3 row(s) applied, 1 already there, 1 bad")
    expect(page.locator("#import-errors")).to_be_visible()
    report = page.request.get(live_hub.url + page.locator("#import-errors").get_attribute("href"))
    assert report.ok and "INVALID_CODE" in report.text()
    expect(page.locator("#imports tr").first).to_contain_text("links.csv")
    assert sorted(live_hub.links(parent)) == [f"K{parent[2:]}{n:02d}" for n in range(1, 4)]
    assert overflow(page) == []
    page.screenshot(path=str(screenshots / "imports-narrow.png"), full_page=True)

    page.evaluate("""async () => {
        const { mountExport } = await import("/js/exports.js");
        const box = document.createElement("div");
        box.id = "export-here";
        document.body.append(box);
        mountExport(box, "links", () => new URLSearchParams({ area: "jaipur", limit: "5" }));
    }""")
    with page.expect_download() as download:
        page.click("#export-here button[data-format=csv]")
    saved = Path(download.value.path()).read_text()
    assert saved.splitlines()[0] == "child,parent,area,created_at"
    assert sorted(line.split(",")[0] for line in saved.splitlines()[1:]) == [
        f"K{parent[2:]}{n:02d}" for n in range(1, 4)]
    expect(page.locator("#export-here .export-progress")).to_have_text("Exported 3 rows (0.0 MB).")
    assert errors == []


def test_a_biller_is_told_the_imports_page_is_for_admins(live_hub: LiveHub, browser: Any) -> None:
    biller = live_hub.make_user("biller")
    page = browser.new_page()
    page.goto(f"{live_hub.url}/?next=%2Fimports.html")
    log_in(page, *biller)
    page.wait_for_url("**/imports.html")
    expect(page.locator("#wrong-role")).to_be_visible()
    expect(page.locator("#import-work")).to_be_hidden()
