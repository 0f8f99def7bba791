"""web/dashboard.html: wall mode and supervisor mode, in headless Chromium.

- livestate.js in Node: snapshot, in-order deltas, old deltas ignored, a gap asks for one resync.
- Against a faked hub (Playwright's websocket routing): the page sends {"t": "resync"} on a gap,
  shows the stale banner on {"t": "stale"} and while disconnected, reconnects after 1012 and 4008,
  says "token not valid" on 4001 and then retries only slowly; the supervisor view goes to the
  login page when the hub refuses it (1008) and there is no live login.
- Against a real hub process: a wall screen opened with a wall-screen token shows scans made on the
  scanner page (another page) within a second of the key press; the supervisor view, reached
  through the login page, shows areas, scanners (online marked, the parent each fills), bills in
  progress with count/capacity/weight, the chart and the latest scans with their result in words;
  both show stale data when the hub stops and reconnect by themselves when a hub is back on the
  same port; a revoked token is reported on the wall.

Screenshots: test-artifacts/screenshots/dashboard-wall.png, dashboard-supervisor.png and
dashboard-wall-offline.png (the wall while the hub is away).
"""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgpack
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.browser.browsers import (
    Unavailable,
    node_path,
    run_in_node,
    skip_loudly,
    static_web,
)
from tests.browser.conftest import LiveHub
from tests.browser.dashboard_support import (
    WS_ROUTE,
    DashboardHub,
    collect_errors,
    counters,
    delta,
    pump_until,
    snapshot,
    value,
    wait_value,
)
from tests.browser.page_support import PHONE, wedge
from tests.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

# ---- livestate.js in Node ------------------------------------------------------------------------

LIVESTATE_SCRIPT = """
async (mod, msgs) => {
  const s = new mod.LiveState();
  const out = [];
  for (const m of msgs) {
    const r = s.apply(m);
    out.push({seq: s.seq, resync: r.resync, changed: r.changed, accepted: s.counters ? s.counters.accepted : null,
              events: s.events.map(e => e.seq), parents: [...s.parents.keys()], bills: [...s.bills.keys()],
              minutes: [...s.perMinute.entries()], online: s.online.length, stale: s.hubStale,
              waiting: s.awaitingSnapshot});
  }
  return out;
}
"""


def test_livestate_follows_snapshot_deltas_gaps_and_resync() -> None:
    try:
        node_path()
    except Unavailable as exc:
        skip_loudly("livestate.js in Node", exc)
    snap = snapshot(10, 5)
    snap["parents"] = [{"code": "SB00001", "area": "lucknow", "count": 3, "capacity": 30, "complete": False,
                        "bill": None}]
    snap["bills"] = [{"code": "B1", "area": "lucknow", "count": 1, "capacity": 5, "status": "open"}]
    snap["per_minute"] = [[600, 4], [3600, 2]]
    snap["events"] = [{"seq": 1, "at": 3600.0}]
    d11 = {**delta(11, 6), "events": [{"seq": 2, "at": 3601.0}], "per_minute": [[4200, 1]],
           "parents": [{"code": "SB00001", "area": "lucknow", "count": 30, "capacity": 30, "complete": True},
                       {"code": "SB00002", "area": "lucknow", "count": 1, "capacity": 30, "complete": False}],
           "bills": [{"code": "B1", "area": "lucknow", "count": 2, "capacity": 5, "status": "completed"}]}
    messages = [
        delta(9, 1),                         # before any snapshot: ignored
        snap,                                 # seq 10
        d11,                                  # applied; minute 600 falls out of the hour
        delta(11, 99),                       # old news: ignored
        {"t": "presence", "online": [{"device": "d1"}, {"device": "d2"}]},
        {"t": "stale", "stale": True},
        {**delta(13, 8), "from": 11},       # batches 11-13, but 11 is applied already: a gap, resync asked once
        delta(14, 9),                        # still waiting for the snapshot: ignored, no second resync
        snapshot(14, 9),                     # the answer
        delta(14, 100),                      # at or below the snapshot: ignored
        delta(15, 10),                       # applied
        {**delta(17, 12), "from": 16},       # batches 16 and 17 in one delta: applied
        {"t": "delta", "from": 18, "seq": 18, "counters": counters(accepted=13),  # totals that disagree
         "areas": {"lucknow": counters(accepted=1)}},                           # with the areas
    ]
    out = run_in_node("js/livestate.js", LIVESTATE_SCRIPT, messages)
    assert [o["seq"] for o in out] == [None, 10, 11, 11, 11, 11, 11, 11, 14, 14, 15, 17, 18]
    assert [o["resync"] for o in out] == [False] * 6 + [True, False, False, False, False, False, True]
    assert [o["accepted"] for o in out] == [None, 5, 6, 6, 6, 6, 6, 6, 9, 9, 10, 12, 13]
    assert out[1]["parents"] == ["SB00001"] and out[1]["bills"] == ["B1"]
    assert out[2]["parents"] == ["SB00002"] and out[2]["bills"] == []  # complete / not open: gone
    assert out[2]["events"] == [1, 2]
    assert out[2]["minutes"] == [[3600, 2], [4200, 1]]
    assert out[4]["online"] == 2 and out[5]["stale"] is True
    assert out[7]["waiting"] is True and out[8]["waiting"] is False
    assert out[8]["stale"] is False  # the snapshot carries the hub's stale flag


PRESENCE_SCRIPT = """
async (mod, msgs) => {
  const s = new mod.LiveState();
  return msgs.map((m) => { s.apply(m); return s.online.map((e) => [e.device, e.parent ?? null]).sort(); });
}
"""


def test_livestate_takes_the_online_list_whole_or_as_its_changes() -> None:
    try:
        node_path()
    except Unavailable as exc:
        skip_loudly("livestate.js in Node", exc)
    messages = [
        {**snapshot(10, 5), "online": [{"device": "d1", "parent": None}, {"device": "d2", "parent": None}]},
        {"t": "presence", "changed": [{"device": "d2", "parent": "SB1"}, {"device": "d3", "parent": None}],
         "gone": ["d1"]},
        {"t": "presence", "changed": [], "gone": ["d9"]},  # a device it does not hold: nothing to remove
        {"t": "presence", "online": [{"device": "d4", "parent": "SB2"}]},
    ]
    out = run_in_node("js/livestate.js", PRESENCE_SCRIPT, messages)
    assert out == [[["d1", None], ["d2", None]], [["d2", "SB1"], ["d3", None]], [["d2", "SB1"], ["d3", None]],
                   [["d4", "SB2"]]]

# ---- against a faked hub -------------------------------------------------------------------------

def test_wall_page_follows_the_protocol_against_a_faked_hub(browser: Any) -> None:
    hub = DashboardHub(lambda index: snapshot(10 + 100 * index, 5 + 100 * index))
    with static_web() as base:
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        errors = collect_errors(page)
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/dashboard.html?wall=1&token=fake-token&scope=area:lucknow")
        accepted = "#wall [data-counter=accepted]"
        wait_value(page, accepted, 5, 5000)
        assert "token=fake-token" in hub.urls[0] and "scope=area%3Alucknow" in hub.urls[0]
        assert page.get_attribute("body", "data-stale") == "false"
        assert page.locator("#banner").is_hidden()

        hub.send(delta(11, 6))
        wait_value(page, accepted, 6, 1000)
        hub.send(delta(13, 8))  # 12 is missing
        pump_until(page, lambda: {"t": "resync"} in hub.received[0])
        hub.send(delta(14, 9))  # ignored until the snapshot comes
        hub.send(snapshot(14, 9))
        hub.send(delta(15, 12))
        wait_value(page, accepted, 12, 1000)
        assert hub.received[0].count({"t": "resync"}) == 1
        assert page.evaluate("window.ttDashboard.state.seq") == 15

        hub.send({"t": "stale", "stale": True})
        page.wait_for_selector("#banner:not([hidden])", timeout=1000)
        assert "behind" in page.inner_text("#banner")
        assert page.get_attribute("body", "data-stale") == "true"
        hub.send({"t": "stale", "stale": False})
        page.wait_for_selector("#banner", state="hidden", timeout=1000)

        # 1012 (hub restarting) and 4008 (slow consumer): stale at once, back by itself
        for attempt, code in enumerate((1012, 4008), start=1):
            hub.sockets[-1].close(code=code, reason="test")
            page.wait_for_function("() => document.body.dataset.stale === 'true' && "
                                   "document.getElementById('banner').innerText.includes('Not connected')",
                                   timeout=1000)
            wait_value(page, accepted, 5 + 100 * attempt, 5000)
            page.wait_for_selector("#banner", state="hidden", timeout=1000)

        # 4001: the token was revoked: say so, and retry slowly rather than hammer the hub
        hub.sockets[-1].close(code=4001, reason="wall-screen token revoked")
        page.wait_for_selector("#banner[data-kind=auth]", timeout=1000)
        assert "not valid" in page.inner_text("#banner")
        wait_ms = page.evaluate("window.ttDashboard.socket.retryAt - Date.now()")
        assert wait_ms > 30_000, wait_ms
        assert len(hub.sockets) == 3
        assert not errors, errors


def test_supervisor_page_goes_to_login_when_refused(browser: Any) -> None:
    hub = DashboardHub(lambda index: None)
    logged_in = {"yes": True}
    with static_web() as base:
        page = browser.new_page()

        def me(route: Any) -> None:
            if logged_in["yes"]:
                route.fulfill(status=200, json={"user": {"id": 1, "username": "ravi", "role": "admin",
                                                         "area": None}})
            else:
                route.fulfill(status=401, json={"error": "LOGIN_REQUIRED"})

        page.route("**/api/me", me)
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/dashboard.html?scope=all")
        pump_until(page, lambda: len(hub.sockets) == 1)
        hub.send(snapshot(3, 2))
        wait_value(page, "#supervisor [data-counter=accepted]", 2, 2000)
        logged_in["yes"] = False  # the session ends; the hub closes with 1008
        hub.sockets[0].close(code=1008, reason="login or a wall-screen token required")
        page.wait_for_url(re.compile(r".*/index\.html\?next=.*dashboard\.html.*"), timeout=5000)


# ---- against a real hub --------------------------------------------------------------------------

class Scanner:
    """A scanner on another connection than the page: the scanner protocol over a sync websocket."""

    def __init__(self, hub_url: str, cookie: str, device: str) -> None:
        self.url = hub_url.replace("http", "ws", 1) + "/ws/scan"
        self.cookie = cookie
        self.device = device
        self.seq = 0
        self.ws: ClientConnection | None = None
        self._stack = contextlib.ExitStack()

    def open(self) -> Scanner:
        self.ws = self._stack.enter_context(
            connect(self.url, additional_headers={"cookie": f"tt_session={self.cookie}"}))
        self.ws.send(msgpack.packb({"t": "hello", "device": self.device, "last_seq": self.seq}))
        welcome = msgpack.unpackb(self.ws.recv(10))
        assert welcome["t"] == "welcome", welcome
        return self

    def close(self) -> None:
        self.ws = None
        self._stack.close()

    def many(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send operations pipelined; return their acks."""
        assert self.ws is not None
        for op in ops:
            self.seq += 1
            self.ws.send(msgpack.packb({"t": "op", "seq": self.seq, **op}))
        acks = [msgpack.unpackb(self.ws.recv(10)) for _ in ops]
        assert all(a["t"] == "ack" and not a["retry"] for a in acks), acks
        return acks

    def do(self, op: str, **fields: Any) -> dict[str, Any]:
        return self.many([{"op": op, **fields}])[0]


@pytest.mark.slow
def test_dashboards_against_a_real_hub(own_hub: LiveHub, browser: Any, screenshots: Path) -> None:
    admin = own_hub.login("admin", ADMIN_PASSWORD)
    dispatcher = own_hub.login(*own_hub.make_user("dispatcher"))
    biller = own_hub.login(*own_hub.make_user("biller"))
    issued = httpx.post(f"{own_hub.url}/api/wall-tokens", json={"label": "dispatch hall", "area": None},
                        cookies={"tt_session": admin})
    assert issued.status_code == 201, issued.text
    wall = issued.json()

    tag = uuid.uuid4().hex[:6].upper()
    mini, parent, stray = own_hub.unused_parent("M444-"), own_hub.unused_parent(), f"X{tag}"
    bill, device = f"BILL-{tag}", f"hh-dash-{tag}"
    scanner = Scanner(own_hub.url, dispatcher, device).open()
    billing = Scanner(own_hub.url, biller, f"hh-bill-{tag}").open()
    try:
        # a complete mini parent on an open bill, a parent being filled, one rejection
        scanner.many([{"op": "parent", "code": mini}]
                     + [{"op": "child", "code": f"M{tag}{i:02d}", "parent": mini} for i in range(15)]
                     + [{"op": "parent", "code": parent}]
                     + [{"op": "child", "code": f"S{tag}{i:02d}", "parent": parent} for i in range(7)]
                     + [{"op": "child", "code": stray, "parent": own_hub.unused_parent()}])
        billing.many([{"op": "bill_create", "bill": bill, "capacity": 4, "destination": "Kanpur",
                       "vehicle": "UP32 AB 1234"},
                      {"op": "bill_add", "bill": bill, "parent": mini}])

        # the wall screen, opened with the link of a wall-screen token
        wall_page = browser.new_page(viewport={"width": 1920, "height": 1080})
        errors = collect_errors(wall_page)
        wall_page.goto(own_hub.url + wall["url"])
        wall_page.wait_for_function("() => document.body.dataset.stale === 'false'", timeout=10_000)
        accepted, children = "#wall [data-counter=accepted]", "#wall [data-counter=children_linked]"
        assert value(wall_page, accepted) >= 26
        assert value(wall_page, "#wall [data-counter=parents_completed]") >= 1
        assert value(wall_page, "#wall [data-counter=rejected]") >= 1
        assert value(wall_page, "#wall [data-metric=online]") == 2

        # scans made on the scanner page show on the wall within a second
        scan_context = browser.new_context(viewport=PHONE)
        scan_context.add_cookies([{"name": "tt_session", "value": dispatcher, "url": own_hub.url}])
        scan_page = scan_context.new_page()
        scan_page.goto(f"{own_hub.url}/scanner.html")
        scan_page.wait_for_selector("#conn[data-state=online]", timeout=10_000)
        wait_value(wall_page, "#wall [data-metric=online]", 3, 1000)  # presence is live too
        before = value(wall_page, accepted), value(wall_page, children)
        wedge(scan_page, parent)  # take up the parent being filled: a scan like any other
        wait_value(wall_page, accepted, before[0] + 1, 1000)
        for n in range(2):
            started = time.monotonic()
            wedge(scan_page, f"S{tag}{7 + n:02d}")
            wait_value(wall_page, children, before[1] + n + 1, 1000)
            assert time.monotonic() - started < 1.0
        assert value(wall_page, accepted) == before[0] + 3
        wall_page.wait_for_timeout(800)  # let the numbers' highlight fade
        wall_page.screenshot(path=str(screenshots / "dashboard-wall.png"))

        # the supervisor: not logged in, so via the login page and back
        sup_context = browser.new_context(viewport={"width": 1440, "height": 1000})
        sup = sup_context.new_page()
        errors.extend(collect_errors(sup))
        sup.goto(f"{own_hub.url}/dashboard.html")
        sup.wait_for_url(re.compile(r".*\?next=%2Fdashboard\.html.*"), timeout=15_000)
        sup.fill("#username", "admin")
        sup.fill("#password", ADMIN_PASSWORD)
        sup.press("#password", "Enter")
        sup.wait_for_url(re.compile(r".*/dashboard\.html$"), timeout=15_000)
        sup.wait_for_function("() => document.body.dataset.stale === 'false'", timeout=10_000)
        sup.wait_for_selector("#areas-table tr[data-area=lucknow]")
        scan_device = scan_page.locator("body").get_attribute("data-device")
        assert sup.locator(f"#scanners-table tr[data-device='{scan_device}'][data-online=true]").count() == 1
        assert parent in sup.inner_text(f"#scanners-table tr[data-device='{scan_device}']")  # filling it
        assert sup.locator(f"#scanners-table tr[data-device='{device}'][data-online=true]").count() == 1
        assert "1/4" in sup.inner_text(f"#bills-table tr[data-bill='{bill}']")
        assert "15 / 15" in sup.inner_text(f"#bills-table tr[data-bill='{bill}']")  # kg actual / expected
        assert "9/30" in sup.inner_text(f"#parents-table tr[data-parent='{parent}']")
        assert int(sup.get_attribute("#sup-chart", "data-bars") or 0) >= 1
        assert int(sup.get_attribute("#sup-chart", "data-total") or 0) >= 29
        rejected = sup.locator(f"#events li[data-code='{stray}'][data-result=UNKNOWN_PARENT] .why")
        assert rejected.count() == 1 and rejected.inner_text().strip()  # in words (messages.js)
        assert sup.locator(f"#events li[data-code='S{tag}08'][data-result=OK]").count() == 1
        started = time.monotonic()
        wedge(scan_page, f"S{tag}09")
        wait_value(sup, "#supervisor [data-counter=children_linked]", before[1] + 3, 1000)
        sup.wait_for_selector(f"#events li[data-code='S{tag}09']", timeout=1000)
        assert time.monotonic() - started < 1.5
        sup.wait_for_timeout(200)
        sup.screenshot(path=str(screenshots / "dashboard-supervisor.png"), full_page=True)

        # the hub goes away: both say their numbers are stale, then come back by themselves
        scanner.close()
        billing.close()
        scan_context.close()
        own_hub.stop()  # a graceful shutdown: it closes the pages' sockets, then the process exits
        gone = time.monotonic()
        for page in (wall_page, sup):
            page.wait_for_function("() => document.body.dataset.stale === 'true' && "
                                   "document.getElementById('banner').innerText.includes('Not connected')",
                                   timeout=5000)
        assert time.monotonic() - gone < 5
        wall_page.wait_for_timeout(300)
        wall_page.screenshot(path=str(screenshots / "dashboard-wall-offline.png"))
        own_hub.restart()
        restarted = time.monotonic()
        for page in (wall_page, sup):
            page.wait_for_function("() => document.body.dataset.stale === 'false'", timeout=20_000)
        assert time.monotonic() - restarted < 20
        back = value(wall_page, children)
        scanner.open()
        scanner.do("child", code=f"S{tag}10", parent=parent)
        wait_value(wall_page, children, back + 1, 1000)
        wait_value(sup, "#supervisor [data-counter=children_linked]", back + 1, 1000)

        # a revoked token: the wall says so (and keeps trying, slowly)
        revoked = httpx.post(f"{own_hub.url}/api/wall-tokens/{wall['id']}/revoke", cookies={"tt_session": admin})
        assert revoked.status_code == 200, revoked.text
        wall_page.wait_for_selector("#banner[data-kind=auth]", timeout=5000)
        assert "not valid" in wall_page.inner_text("#banner")
        assert not errors, errors
    finally:
        scanner.close()
        billing.close()
