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
    return {"t": "delta", "seq": seq, "counters": counts, "areas": {"lucknow": counts}}


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
