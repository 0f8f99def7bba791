"""The operator's words for every result code (web/js/messages.js) and how the pages show them.

- Every `Code` of hub/codes.py, and every `Close` code, has an entry in messages.js (and no entry
  names a code the hub does not have).
- Against a faked hub (Playwright's websocket routing), the scanner and the bill scanner show
  each code's message when an ack carries it, with the error signal; a retry code stays pending and is
  sent again; close codes 4002, 4003 and 4001 do what docs/protocol.md says.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import expect

from hub.codes import CODES, Close, Code
from tests.browser.browsers import Unavailable, chromium_path, node_path, run_module, skip_loudly
from tests.browser.conftest import FakeHub, ack

pytestmark = pytest.mark.browser

# every detail an ack's data may carry, so each message's blanks get filled
DETAILS = {"parent": "SB00001", "count": 3, "capacity": 30, "complete": False, "area": "indore",
           "other_parent": "SB00002", "bill": "B-7", "last": "C0001", "reason": "field 'code' must be a string"}
ERROR_CODES = [code for code in Code if code is not Code.OK]


def test_every_code_of_the_hub_has_words_for_the_operator(request: pytest.FixtureRequest) -> None:
    try:
        node_path()
        runtime = "node"
    except Unavailable:
        try:
            chromium_path()
            runtime = "chromium"
        except Unavailable as exc:
            skip_loudly("messages.js check (no node, no chromium)", exc)
    snippet = """(m) => ({{
        codes: Object.keys(m.MESSAGES),
        closes: Object.keys(m.CLOSE_MESSAGES).map(Number),
        bare: Object.fromEntries(Object.keys(m.MESSAGES).map((c) => [c, m.describe(c)])),
        full: Object.fromEntries(Object.keys(m.MESSAGES).map((c) => [c, m.describe(c, {})])),
    }})""".format(json.dumps({**DETAILS, "code": "C1001"}))
    browser = request.getfixturevalue("browser") if runtime == "chromium" else None
    out = run_module(runtime, "js/messages.js", snippet, None, browser)
    assert set(out["codes"]) == {code.value for code in Code}, "messages.js and hub/codes.py differ"
    assert set(out["closes"]) >= {int(close) for close in Close}
    for code in Code:
        for words in (out["bare"][code.value], out["full"][code.value]):
            text = words["title"] + " " + words["say"]
            assert words["title"] and words["say"], code
            assert not re.search(r"[{}\[\]]|undefined|null|NaN", text), (code, text)  # every blank filled
            if code is not Code.OK:  # the page's own words, not the code's name nor the hub's sentence
                assert code.value not in text and words["say"] != CODES[code].message, (code, text)


def words(page: Any, cases: dict[str, Code]) -> dict[str, dict[str, str]]:
    """What messages.js says for each scanned code's result: {scanned: {title, say}}."""
    return page.evaluate(
        "async ([cases, details]) => { const m = await import('/js/messages.js');"
        " return Object.fromEntries(Object.entries(cases).map(([scanned, code]) =>"
        " [scanned, m.describe(code, { ...details, code: scanned })])); }",
        [{scanned: code.value for scanned, code in cases.items()}, DETAILS])


@pytest.mark.parametrize("kind", ["scanner", "bills"])
def test_every_error_code_shows_its_message(kind: str, fake_site: Any) -> None:
    by_scan: dict[str, Code] = {f"E{i:02d}X{kind[0].upper()}": code for i, code in enumerate(ERROR_CODES)}
    retried: set[int] = set()

    def answer(op: dict[str, Any]) -> dict[str, Any]:
        if op["op"] in ("parent", "bill_create"):
            view = ({"parent": op["code"], "count": 0, "capacity": 30, "complete": False, "created": True}
                    if op["op"] == "parent" else
                    {"bill": op["bill"], "count": 0, "capacity": 5, "status": "open", "actual_kg": "0",
                     "expected_kg": "0"})
            return ack(op["seq"], Code.OK, view)
        code = by_scan[op.get("code") if op["op"] == "child" else op["parent"]]
        if CODES[code].retry and op["seq"] in retried:  # sent again: saved this time
            return ack(op["seq"], Code.OK, {**DETAILS, "count": 4})
        if CODES[code].retry:
            retried.add(op["seq"])
        return ack(op["seq"], code, DETAILS)

    hub = FakeHub(answer)
    page = fake_site(f"/{kind}.html", hub)
    if kind == "scanner":
        page.keyboard.type("SB00001")
        page.keyboard.press("Enter")
    else:
        page.fill("#bill-code", "B-7")
        page.fill("#bill-capacity", "5")
        page.press("#bill-capacity", "Enter")
    expect(page.locator("#recent li[data-status='ok']")).to_have_count(1)

    expected_words = words(page, by_scan)
    for scanned, code in by_scan.items():
        page.keyboard.type(scanned)
        page.keyboard.press("Enter")
        expected = expected_words[scanned]
        expect(page.locator("#msg-title")).to_have_text(expected["title"])
        expect(page.locator("#msg-say")).to_have_text(expected["say"])
        assert page.locator("body").get_attribute("data-last-signal") in ("error", "warn")
        row = page.locator("#recent li", has_text=scanned)
        if CODES[code].retry:
            expect(row).to_have_attribute("data-status", "pending")
            expect(row).to_contain_text("sending again")
            expect(row).to_have_attribute("data-status", "ok", timeout=10_000)  # resent after a delay
        else:
            expect(row).to_have_attribute("data-status", "error")
            expect(row).to_contain_text(expected["title"])
    expect(page.locator("#pending")).to_have_text("All sent ✓")
    seqs = [op["seq"] for op in hub.ops]
    retries = sum(CODES[code].retry for code in ERROR_CODES)
    assert seqs == sorted(seqs) and len(seqs) == len(ERROR_CODES) + 1 + retries  # each retried op went twice


def test_close_codes_replaced_taken_and_session_ended(fake_site: Any) -> None:
    hub = FakeHub(lambda op: ack(op["seq"], Code.OK, {}))
    page = fake_site("/scanner.html", hub, role="dispatcher")
    hub.sockets[-1].close(code=4002, reason="device connected again")
    expect(page.locator("#conn")).to_have_attribute("data-state", "replaced")
    expect(page.locator("#banner")).to_be_visible()
    page.wait_for_timeout(1500)
    assert len(hub.sockets) == 1  # replaced: no reconnect by itself
    page.click("#use-here")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    assert len(hub.sockets) == 2

    hub.sockets[-1].close(code=4003, reason="device released by an admin")  # or another user's device
    expect(page.locator("#conn")).to_have_attribute("data-state", "taken")
    expect(page.locator("#banner-text")).to_contain_text("registered to another user")
    expect(page.locator("#banner-text")).to_contain_text(hub.hellos[0]["device"])  # what an admin releases
    page.wait_for_timeout(1500)
    assert len(hub.sockets) == 2  # no reconnect loop: only an admin's release helps
    expect(page.locator("#use-here")).to_have_text("Try again")
    page.click("#use-here")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online")
    expect(page.locator("#banner")).to_be_hidden()

    hub.sockets[-1].close(code=1012, reason="restart")
    expect(page.locator("#conn")).to_have_attribute("data-state", "online", timeout=5000)  # reconnects
    assert len(hub.sockets) == 4

    page.unroute("**/api/me")
    page.route("**/api/me", lambda route: route.fulfill(status=401, json={"error": "UNAUTHENTICATED"}))
    hub.sockets[-1].close(code=4001, reason="session revoked")
    page.wait_for_url(re.compile(r".*/\?next=%2Fscanner\.html$"))
