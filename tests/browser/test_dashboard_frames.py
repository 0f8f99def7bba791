"""web/dashboard.html repaints by animation frames (issue 10, target 4), against a faked hub.

Counted in frames, never in milliseconds (tests/browser/dashboard_support.py: FRAME_PROBE):
- a delta shows in the first animation frame after its message event, on the wall screen and in
  the supervisor view (whose tables are the costly part);
- all deltas that arrive before a frame are shown by one render of that frame: the page asks for
  one frame, not one per delta;
- a hidden tab asks for no frame at all while deltas arrive, and catches up with one render in the
  first frame after it is shown again;
- a delta that changes one scanner of 500 rebuilds that scanner's row only; the other rows are the
  same elements as before.
- keyed.js (web/js/keyed.js) keeps a list in step with items: builds only new or changed items,
  moves, removes, and gives a key seen twice two elements.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.browsers import run_in_chromium, static_web
from tests.browser.dashboard_support import (
    FRAME_PROBE,
    WS_ROUTE,
    DashboardHub,
    collect_errors,
    delta,
    message_event,
    probe,
    snapshot,
    wait_value,
)

pytestmark = pytest.mark.browser

ADMIN = {"user": {"id": 1, "username": "ravi", "role": "admin", "area": None}, "home": "/admin.html"}
MODES = {"wall": ("?wall=1&token=fake-token", "#wall"), "supervisor": ("", "#supervisor")}


def open_dashboard(browser: Any, base: str, mode: str, first: dict[str, Any]) -> tuple[Any, DashboardHub, list[str]]:
    query, _ = MODES[mode]
    page = browser.new_context(service_workers="block", viewport={"width": 1440, "height": 1000}).new_page()
    errors = collect_errors(page)
    hub = DashboardHub(lambda index: first)
    page.route("**/api/me", lambda route: route.fulfill(json=ADMIN))
    page.route_web_socket(WS_ROUTE, hub.handler)
    page.add_init_script(FRAME_PROBE)
    page.goto(f"{base}/dashboard.html{query}")
    page.wait_for_function(f"() => window.ttDashboard.state.seq === {first['seq']} && "
                           "window.ttDashboard.view.renders > 0", polling=20)
    return page, hub, errors


WALL_COUNTER = "#wall [data-counter=accepted]"


def watched_wall(browser: Any, base: str) -> tuple[Any, DashboardHub, list[str], int]:
    """The wall screen at its first snapshot, its counter watched by the probe; and its renders so far."""
    page, hub, errors = open_dashboard(browser, base, "wall", snapshot(10, 5))
    wait_value(page, WALL_COUNTER, 5, 5000)
    page.evaluate(f"__probe.watch({WALL_COUNTER!r})")
    return page, hub, errors, page.evaluate("window.ttDashboard.view.renders")


def seq_reached(page: Any, seq: int) -> None:
    page.wait_for_function(f"() => window.ttDashboard.state.seq === {seq}", timeout=5000, polling=20)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_a_delta_shows_in_the_next_animation_frame(browser: Any, mode: str) -> None:
    counter = f"{MODES[mode][1]} [data-counter=accepted]"
    with static_web() as base:
        page, hub, errors = open_dashboard(browser, base, mode, snapshot(10, 5))
        wait_value(page, counter, 5, 5000)
        page.evaluate(f"__probe.watch({counter!r})")
        for n in range(1, 6):
            message = delta(10 + n, 5 + n)
            hub.send(message)
            wait_value(page, counter, 5 + n, 5000)
            log = probe(page)
            arrived = message_event(log, message)
            shown = next(c for c in log["changes"] if c["at"] >= arrived["at"])
            assert shown["frame"] <= arrived["frame"] + 1, (arrived, shown)
        page.context.close()
    assert errors == []


def test_deltas_that_arrive_before_a_frame_share_one_render(browser: Any) -> None:
    with static_web() as base:
        page, hub, errors, renders = watched_wall(browser, base)
        page.evaluate("__probe.hold(true)")  # the next frame is late: every delta lands before it
        for n in range(1, 11):
            hub.send(delta(10 + n, 5 + n))
        seq_reached(page, 20)
        log = probe(page)
        assert log["held"] == 1  # one frame asked for, not ten
        assert log["changes"] == [] and page.evaluate("window.ttDashboard.view.renders") == renders
        page.evaluate("__probe.hold(false)")
        wait_value(page, WALL_COUNTER, 15, 5000)
        log = probe(page)
        assert [c["renders"] for c in log["changes"]] == [renders + 1]  # one render shows all ten
        page.context.close()
    assert errors == []


def test_a_hidden_tab_catches_up_when_shown(browser: Any) -> None:
    with static_web() as base:
        page, hub, errors, renders = watched_wall(browser, base)
        page.evaluate("__probe.setHidden(true)")
        for n in range(1, 31):
            hub.send(delta(10 + n, 5 + n))
        seq_reached(page, 40)  # the state follows while hidden ...
        log = probe(page)
        assert log["held"] == 0  # ... but no frame is asked for: nothing piles up
        assert log["changes"] == [] and page.evaluate("window.ttDashboard.view.renders") == renders
        shown_at = page.evaluate("(() => { __probe.setHidden(false); return __probe.frames; })()")
        wait_value(page, WALL_COUNTER, 35, 5000)
        log = probe(page)
        assert [c["renders"] for c in log["changes"]] == [renders + 1]
        assert log["changes"][0]["frame"] <= shown_at + 1
        page.context.close()
    assert errors == []


def crowded_snapshot() -> dict[str, Any]:
    message = snapshot(10, 0)
    message["scanners"] = [{"device": f"hh-{i:03d}", "user": f"user{i}", "area": "lucknow", "accepted": i,
                            "rejected": 0, "children_linked": i, "parents_completed": 0, "bills_completed": 0}
                           for i in range(500)]
    total = sum(range(500))
    message["counters"] = message["areas"]["lucknow"] = {**message["counters"], "accepted": total,
                                                         "children_linked": total}
    message["parents"] = [{"code": f"SB{i:05d}", "area": "lucknow", "count": 1 + i % 29, "capacity": 30,
                           "complete": False} for i in range(200)]
    return message


def test_a_delta_rebuilds_only_the_rows_it_changes(browser: Any) -> None:
    with static_web() as base:
        page, hub, errors = open_dashboard(browser, base, "supervisor", crowded_snapshot())
        rows = "#scanners-table tbody tr"
        assert page.locator(rows).count() == 100
        page.evaluate(f"document.querySelectorAll({rows!r}).forEach((row) => {{ row.__before = true; }})")
        # hh-450 scans once more: it ties with hh-451 and moves up one place; only its row is built again
        total = sum(range(500)) + 1
        counts = {"accepted": total, "rejected": 0, "children_linked": total, "parents_completed": 0,
                  "bills_completed": 0}
        hub.send({"t": "delta", "from": 11, "seq": 11, "counters": counts, "areas": {"lucknow": counts},
                  "scanners": [{"device": "hh-450", "user": "user450", "area": "lucknow", "accepted": 451,
                                "rejected": 0, "children_linked": 451, "parents_completed": 0,
                                "bills_completed": 0}]})
        page.wait_for_function("() => document.querySelector(\"#scanners-table tr[data-device='hh-450'] "
                               "td:nth-child(6)\").textContent === '451'", timeout=5000, polling=20)
        fresh = page.evaluate(f"[...document.querySelectorAll({rows!r})].filter((row) => !row.__before)"
                              ".map((row) => row.dataset.device)")
        assert fresh == ["hh-450"]
        order = [page.locator(rows).nth(i).get_attribute("data-device") for i in (47, 48, 49, 50)]
        assert order == ["hh-452", "hh-450", "hh-451", "hh-449"]
        page.context.close()
    assert errors == []


KEYED_SCRIPT = """
async (mod, steps) => {
  const list = document.createElement("ol");
  let builds = 0;
  const keyed = new mod.KeyedChildren(list, (item) => item.key, (item) => item.text, (item) => {
    builds += 1;
    const li = document.createElement("li");
    li.textContent = item.text;
    return li;
  });
  const out = [];
  let before = [];
  for (const items of steps) {
    builds = 0;
    const built = keyed.update(items);
    const now = [...list.children];
    out.push({ texts: now.map((li) => li.textContent), built, builds,
               kept: now.filter((li) => before.includes(li)).length });
    before = now;
  }
  return out;
}
"""


def test_keyed_children_build_only_what_changed(browser: Any) -> None:
    a, b, c, d = ({"key": k, "text": k.lower()} for k in "ABCD")
    steps = [
        [a, b, c],
        [c, a, b],                     # moved: nothing built
        [c, {**a, "text": "a2"}, b],   # one changed: one built
        [d, b],                        # one new, two gone
        [b, b],                        # a key twice: two elements
        [],
    ]
    out = run_in_chromium(browser, "js/keyed.js", KEYED_SCRIPT, steps)
    assert [o["texts"] for o in out] == [["a", "b", "c"], ["c", "a", "b"], ["c", "a2", "b"], ["d", "b"],
                                         ["b", "b"], []]
    assert [o["built"] for o in out] == [3, 0, 1, 1, 1, 0]
    assert [o["builds"] for o in out] == [o["built"] for o in out]
    assert [o["kept"] for o in out] == [0, 3, 2, 1, 1, 0]
