"""What one render of web/dashboard.html costs with a crowded state, measured in headless Chromium.

Not a test (nothing is asserted: speed is reported, never asserted): run it by hand,

    python -m tests.browser.render_cost [supervisor|wall] [--frames 40]

The faked hub sends a snapshot with 500 scanners (all online), 200 parents, 200 bills and 50 events,
then deltas of 33 scans each (what one animation frame brings at 2,000 scans/s: random scanners
and parents, one scan each), one at a time, each after the page rendered the one before. Printed:
the render of the snapshot and of each delta as the page measures it (performance.now around its
render, `view.renderMs`), and the style, layout and paint work Chromium did for those frames (its
trace), per delta.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import statistics
import time
from typing import Any

from playwright.sync_api import sync_playwright

from tests.browser.browsers import launch_options, static_web
from tests.browser.dashboard_support import WS_ROUTE, DashboardHub, counters

SCANNERS, PARENTS, BILLS, EVENTS = 500, 200, 200, 50
SCANS_PER_FRAME = 33  # 2,000 scans/s at 60 frames/s
ADMIN = {"user": {"id": 1, "username": "ravi", "role": "admin", "area": None}, "home": "/admin.html"}
BROWSER_WORK = ("UpdateLayoutTree", "Layout", "PrePaint", "Paint")


class CrowdedHub:
    """The state a busy hub would send, and deltas that move it on by one frame's scans."""

    def __init__(self, seed: int = 1) -> None:
        self.random = random.Random(seed)
        self.now = time.time()
        self.seq = 10
        self.scan = 0
        self.scanners = {f"hh-{i:04d}": {"device": f"hh-{i:04d}", "user": f"user{i}", "area": "lucknow",
                                         **counters(accepted=i, children_linked=i)} for i in range(SCANNERS)}
        self.parents = {f"SB{i:05d}": {"code": f"SB{i:05d}", "area": "lucknow", "count": 1 + i % 29,
                                       "capacity": 30, "complete": False} for i in range(PARENTS)}
        total = sum(range(SCANNERS))
        self.totals = counters(accepted=total, children_linked=total)

    def snapshot(self) -> dict[str, Any]:
        minute = int(self.now // 60 * 60)
        return {"t": "snapshot", "seq": self.seq, "scope": "all", "day": "2030-01-02", "counters": self.totals,
                "areas": {"lucknow": self.totals}, "scanners": list(self.scanners.values()),
                "per_minute": [[minute - 60 * i, 100] for i in range(60)],
                "parents": list(self.parents.values()),
                "bills": [{"code": f"BILL-{i}", "area": "lucknow", "count": 1, "capacity": 5, "status": "open",
                           "destination": "Kanpur", "vehicle": "UP32 AB 1234", "actual_kg": "30",
                           "expected_kg": "30"} for i in range(BILLS)],
                "events": [self._event("hh-0001", "SB00001") for _ in range(EVENTS)],
                "online": [{"device": d, "user": s["user"], "area": "lucknow", "parent": None, "since": 1}
                           for d, s in self.scanners.items()],
                "stale": False}

    def delta(self) -> dict[str, Any]:
        self.seq += 1
        devices, parents, events = set(), {}, []
        for _ in range(SCANS_PER_FRAME):
            device = self.random.choice(list(self.scanners))
            parent = self.parents[self.random.choice(list(self.parents))]
            for row in (self.scanners[device], self.totals):
                row["accepted"] += 1
                row["children_linked"] += 1
            parent["count"] = parent["count"] % (parent["capacity"] - 1) + 1
            devices.add(device)
            parents[parent["code"]] = dict(parent)
            events.append(self._event(device, parent["code"]))
        return {"t": "delta", "from": self.seq, "seq": self.seq, "counters": dict(self.totals),
                "areas": {"lucknow": dict(self.totals)},
                "scanners": [dict(self.scanners[d]) for d in sorted(devices)],
                "per_minute": [[int(self.now // 60 * 60), 100 + self.seq]], "parents": list(parents.values()),
                "events": events}

    def _event(self, device: str, parent: str) -> dict[str, Any]:
        self.scan += 1
        return {"device": device, "seq": self.scan, "user": self.scanners[device]["user"], "area": "lucknow",
                "op": "child", "code": f"C{self.scan:07d}", "target": parent, "result": "OK", "data": {},
                "at": self.now}


def measure(mode: str, frames: int) -> None:
    crowded = CrowdedHub()
    first = crowded.snapshot()
    hub = DashboardHub(lambda index: first)
    with static_web() as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_options())
        page = browser.new_context(service_workers="block", viewport={"width": 1440, "height": 1000}).new_page()
        page.route("**/api/me", lambda route: route.fulfill(json=ADMIN))
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/dashboard.html" + ("?wall=1&token=t" if mode == "wall" else ""))
        page.wait_for_function(f"() => window.ttDashboard.state.seq === {first['seq']}"
                               " && window.ttDashboard.view.renders > 0", polling=20)
        page.wait_for_timeout(300)
        print(f"{mode}: render of the snapshot {page.evaluate('window.ttDashboard.view.renderMs'):.1f} ms")
        browser.start_tracing(page=page, categories=["devtools.timeline"])
        renders = []
        for _ in range(frames):
            before = page.evaluate("window.ttDashboard.view.renders")
            hub.send(crowded.delta())
            page.wait_for_function(f"() => window.ttDashboard.state.seq === {crowded.seq}"
                                   f" && window.ttDashboard.view.renders > {before}", polling=5)
            renders.append(page.evaluate("window.ttDashboard.view.renderMs"))
            page.wait_for_timeout(60)
        trace = json.loads(browser.stop_tracing())["traceEvents"]
        browser.close()
    work: dict[str, float] = collections.defaultdict(float)
    for event in trace:
        if event.get("ph") == "X" and event["name"] in BROWSER_WORK:
            work[event["name"]] += event["dur"] / 1000
    renders.sort()
    print(f"{mode}: render of a {SCANS_PER_FRAME}-scan delta, {frames} frames: median {statistics.median(renders):.1f}"
          f" ms, p90 {renders[int(len(renders) * 0.9)]:.1f} ms, max {renders[-1]:.1f} ms")
    per_delta = ", ".join(f"{name} {work[name] / frames:.1f} ms" for name in BROWSER_WORK)
    print(f"{mode}: Chromium per delta (every frame meanwhile): {per_delta}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", choices=["supervisor", "wall"], default="supervisor")
    parser.add_argument("--frames", type=int, default=40)
    args = parser.parse_args()
    measure(args.mode, args.frames)


if __name__ == "__main__":
    main()
