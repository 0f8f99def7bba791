"""Helpers of the dashboard page tests: snapshots and deltas as the hub sends them, a faked
/ws/dashboard, and waiting on the numbers the page shows."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import msgpack

FIELDS = ("accepted", "rejected", "children_linked", "parents_completed", "bills_completed")
WS_ROUTE = re.compile(r".*/ws/dashboard.*")


def counters(**values: int) -> dict[str, int]:
    return {name: values.get(name, 0) for name in FIELDS}


def snapshot(seq: int, accepted: int, *, stale: bool = False) -> dict[str, Any]:
    counts = counters(accepted=accepted, children_linked=accepted)
    return {"t": "snapshot", "seq": seq, "scope": "all", "day": "2030-01-02", "counters": counts,
            "areas": {"lucknow": counts}, "scanners": [], "per_minute": [], "parents": [], "bills": [],
            "events": [], "online": [], "stale": stale}


def delta(seq: int, accepted: int) -> dict[str, Any]:
    counts = counters(accepted=accepted, children_linked=accepted)
    return {"t": "delta", "from": seq, "seq": seq, "counters": counts, "areas": {"lucknow": counts}}


def value(page: Any, selector: str) -> int:
    return int(page.locator(selector).first.get_attribute("data-value") or -1)


def wait_value(page: Any, selector: str, at_least: int, timeout_ms: float) -> None:
    page.wait_for_function(
        "([sel, v]) => Number(document.querySelector(sel)?.dataset.value) >= v",
        arg=[selector, at_least], timeout=timeout_ms, polling=20,
    )


def collect_errors(page: Any) -> list[str]:
    """Uncaught exceptions and console errors of `page` (a refused websocket is expected, not an error)."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" and "WebSocket" not in msg.text and "ERR_CONNECTION_REFUSED" not in msg.text
            else None)
    return errors


def pump_until(page: Any, condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Let Playwright deliver events (websocket route callbacks) until `condition()` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(25)


class DashboardHub:
    """Playwright websocket routes standing in for /ws/dashboard: records what the page sends and
    answers its pings (unless `silent`: a hub that has gone quiet without closing)."""

    def __init__(self, first: Callable[[int], dict[str, Any] | None], silent: bool = False) -> None:
        self.first = first
        self.silent = silent
        self.sockets: list[Any] = []
        self.received: list[list[dict[str, Any]]] = []
        self.urls: list[str] = []

    def handler(self, ws: Any) -> None:
        index = len(self.sockets)
        self.sockets.append(ws)
        self.urls.append(ws.url)
        inbox: list[dict[str, Any]] = []
        self.received.append(inbox)
        ws.on_message(lambda m: self._message(ws, inbox, msgpack.unpackb(m) if isinstance(m, bytes) else json.loads(m)))
        message = self.first(index)
        if message is not None:
            ws.send(msgpack.packb(message))

    def _message(self, ws: Any, inbox: list[dict[str, Any]], message: dict[str, Any]) -> None:
        inbox.append(message)
        if message.get("t") == "ping" and not self.silent:
            ws.send(msgpack.packb({"t": "pong", "id": message.get("id")}))

    def send(self, message: dict[str, Any], index: int = -1) -> None:
        self.sockets[index].send(msgpack.packb(message))


# An init script that watches the page by animation frames, not milliseconds (window.__probe):
# - `frames` counts animation frames (its own rAF loop, registered before the page's callbacks of
#   each frame, so a render in frame N+1 sees frames == N+1);
# - every websocket message event is logged with the frame it fired in and its bytes, before the
#   page's own handler runs (the listener is added in the constructor, before `onmessage` is set);
# - `watch(selector)` logs every change of that element (a MutationObserver) with the frame and
#   the page's render count;
# - `hold(true)` keeps the page's requestAnimationFrame callbacks waiting (`held`), as a browser
#   does for a hidden tab, until `hold(false)`; `setHidden(bool)` also makes the document report
#   itself hidden or visible and fires `visibilitychange` (headless Chromium never hides a page).
# Add it after `route_web_socket`, so that it wraps the WebSocket the page will construct.
FRAME_PROBE = """
(() => {
  const probe = { frames: 0, messages: [], changes: [], held: [], holding: false, hidden: false };
  window.__probe = probe;
  const nativeFrame = window.requestAnimationFrame.bind(window);
  const count = () => { probe.frames += 1; nativeFrame(count); };
  nativeFrame(count);
  window.requestAnimationFrame = (callback) => {
    if (!probe.holding) return nativeFrame(callback);
    probe.held.push(callback);
    return -probe.held.length;
  };
  probe.hold = (holding) => {
    probe.holding = holding;
    if (!holding) for (const callback of probe.held.splice(0)) nativeFrame(callback);
  };
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => probe.hidden });
  Object.defineProperty(Document.prototype, "visibilityState", { configurable: true,
    get: () => (probe.hidden ? "hidden" : "visible") });
  probe.setHidden = (hidden) => {
    probe.hidden = hidden;
    if (hidden) probe.hold(true);
    document.dispatchEvent(new Event("visibilitychange"));
    if (!hidden) probe.hold(false);
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const data = event.data;
        probe.messages.push({ frame: probe.frames, at: performance.now(),
          bytes: typeof data === "string" ? null : Array.from(new Uint8Array(data)) });
      });
    }
  };
  probe.watch = (selector) => {
    new MutationObserver(() => probe.changes.push({ frame: probe.frames, at: performance.now(),
      renders: window.ttDashboard.view.renders })).observe(document.querySelector(selector),
      { childList: true, characterData: true, subtree: true });
  };
})();
"""


def probe(page: Any) -> dict[str, Any]:
    """What FRAME_PROBE logged so far: frames, messages (frame, at, bytes), changes, held."""
    return dict(page.evaluate("({frames: __probe.frames, messages: __probe.messages, changes: __probe.changes,"
                              " held: __probe.held.length})"))


def message_event(log: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    """The logged event of the (only) websocket message whose bytes are `message` packed."""
    packed = list(msgpack.packb(message))
    found = [m for m in log["messages"] if m["bytes"] == packed]
    assert len(found) == 1, f"{len(found)} message events carry {message}"
    return dict(found[0])
