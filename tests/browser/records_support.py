"""Helpers of the records pages' tests (lookup, lists, bill detail, audit).

- `FakeRecords`: the records API's answers (GET /api/bags/{code}, the bags, bills, scans and audit
  lists with keyset cursors, a bill's detail, the corrections and the bill edit) served from plain
  dicts through Playwright's routing, every request recorded: for what a real hub makes hard to
  stage (long values, refusals, every role), with the pages served by `static_web`.
- `scan`, `fill`: bags made through real scans over the websocket, for the tests on a real hub."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

import msgpack
from websockets.sync.client import connect

from tests.browser.page_support import watch_errors

if TYPE_CHECKING:
    from tests.browser.conftest import LiveHub

AT = "2030-01-02T08:00:05+00:00"
LIST_FIELDS = {"bags": "bags", "bills": "bills", "scans": "scans", "audit": "entries"}
FILTERS = {  # query parameter -> the item's field it must equal (prefix and q are searches)
    "bags": {"kind": "kind", "status": "status", "area": "area"},
    "bills": {"status": "status", "area": "area"},
    "scans": {"user": "user", "device": "device", "area": "area"},
    "audit": {"action": "action", "actor": "actor", "target": "target"},
}


def parent_bag(code: str, children: int, capacity: int = 30, **extra: Any) -> dict[str, Any]:
    status = "empty" if children == 0 else "complete" if children == capacity else "filling"
    return {"code": code, "kind": "parent", "format": "standard" if capacity == 30 else "mini",
            "capacity": capacity, "child_count": children, "status": status, "area": "lucknow",
            "expected_kg": f"{capacity}.00", "created_at": AT, "created_by": "dina", "completed_at": None,
            "parent": None, "bill": None,
            "children": [{"code": f"C{code[-5:]}{i:03d}", "linked_at": AT, "linked_by": "dina"}
                         for i in range(children)], **extra}


def child_bag(code: str, parent: dict[str, Any] | None, **extra: Any) -> dict[str, Any]:
    return {"code": code, "kind": "child", "format": None, "capacity": None, "child_count": 0,
            "status": "in_parent" if parent else "loose", "area": "lucknow", "expected_kg": None,
            "created_at": AT, "created_by": "dina", "completed_at": None, "children": [], "bill": None,
            "parent": ({"code": parent["code"], "child_count": parent["child_count"],
                        "capacity": parent["capacity"]} if parent else None), **extra}


def event(op: str, code: str, target: str = "", result: str = "OK", kind: str = "scan",
          user: str = "dina", device: str = "hh-1") -> dict[str, Any]:
    return {"at": AT, "kind": kind, "op": op, "code": code, "target": target, "result": result,
            "user": user, "device": device, "detail": None}


@dataclass
class FakeRecords:
    """The records API of one logged-in user (`role`, `area`) over the given data."""

    role: str = "admin"
    area: str | None = None
    bags: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> bag (with "history")
    bills: dict[str, dict[str, Any]] = field(default_factory=dict)  # code -> bill detail
    lists: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # "bags" | "bills" | ... -> rows
    requests: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[tuple[str, str], Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]] = field(default_factory=dict)

    @property
    def me(self) -> dict[str, Any]:
        home = {"dispatcher": "/scanner.html", "biller": "/bills.html", "admin": "/admin.html"}[self.role]
        return {"user": {"id": 1, "username": "tester", "role": self.role, "area": self.area}, "home": home}

    def route(self, page: Any) -> None:
        page.route("**/api/**", self._handle)

    def _handle(self, route: Any) -> None:
        request = route.request
        url = urlsplit(request.url)
        query = {name: values[-1] for name, values in parse_qs(url.query).items()}
        body = json.loads(request.post_data) if request.post_data else None
        seen = {"method": request.method, "path": unquote(url.path), "query": query, "body": body,
                "headers": request.headers}
        self.requests.append(seen)
        status, answer = self.answer(seen)
        route.fulfill(status=status, json=answer)

    def answer(self, req: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        method, path, query = req["method"], req["path"], req["query"]
        custom = self.answers.get((method, path))
        if custom is not None:
            return custom(req)
        if path == "/api/me":
            return 200, self.me
        if path == "/api/areas":
            return 200, {"areas": [{"name": n, "label": n.replace("_", " ").title()}
                                   for n in ("lucknow", "indore", "sri_ganganagar")]}
        parts = path.split("/")[2:]
        if method == "GET" and len(parts) == 1 and parts[0] in LIST_FIELDS:
            return self.page_of(parts[0], query)
        if method == "GET" and parts[0] == "bags" and len(parts) == 2:
            bag = self.bags.get(parts[1].upper())
            if bag is None:
                return 404, {"error": "UNKNOWN_BAG", "message": "No bag has this code."}
            history = bag.get("history", [])
            return 200, {"bag": {k: v for k, v in bag.items() if k != "history"}, "history": history,
                         "history_truncated": False}
        if method == "GET" and parts[0] == "bills" and len(parts) == 2:
            bill = self.bills.get(parts[1].upper())
            if bill is None:
                return 404, {"error": "UNKNOWN_BILL", "message": "No bill has this code."}
            return 200, {"bill": bill}
        if method == "PATCH" and parts[0] == "bills" and len(parts) == 2:
            bill = self.bills[parts[1].upper()]
            bill.update(req["body"])
            return 200, {"result": "OK", "data": {"bill": bill["code"], **req["body"]}}
        return 404, {"error": "NOT_FOUND", "message": "Nothing here."}

    def page_of(self, name: str, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One keyset page of a list: the cursor is the position after the previous page's last row."""
        rows = self.lists.get(name, [])
        for param, key in FILTERS[name].items():
            if query.get(param):
                rows = [row for row in rows if row.get(key) == query[param]]
        if query.get("prefix"):
            rows = [row for row in rows if row["code"].startswith(query["prefix"].upper())]
        if query.get("q"):
            text = query["q"].lower()
            rows = [row for row in rows if text in f"{row.get('destination')} {row.get('vehicle')}".lower()]
        if name == "scans" and query.get("result") == "rejected":
            rows = [row for row in rows if row["result"] != "OK"]
        after = query.get("after")
        if after is not None and not after.startswith("c"):
            return 400, {"error": "INVALID_CURSOR", "message": "This page's cursor is not valid."}
        start = int(after[1:]) if after else 0
        limit = int(query.get("limit", "50"))
        chunk = rows[start:start + limit]
        more = start + limit < len(rows)
        return 200, {LIST_FIELDS[name]: chunk, "next": f"c{start + limit}" if more else None}


def open_records_page(browser: Any, base: str, path: str, fake: FakeRecords,
                      viewport: dict[str, int]) -> tuple[Any, list[str]]:
    """Open `path` of web/ with `fake` answering /api/; the page's script and CSP errors are collected."""
    from playwright.sync_api import expect

    context = browser.new_context(service_workers="block", viewport=viewport)
    page = context.new_page()
    errors = watch_errors(page)
    fake.route(page)
    page.goto(f"{base}{path}")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page, errors


def scan(hub: LiveHub, token: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send `ops` over a websocket of their own (a handheld of the user of `token`); their acks."""
    url = hub.url.replace("http://", "ws://") + "/ws/scan"
    with connect(url, additional_headers={"Cookie": f"tt_session={token}"}) as ws:
        ws.send(msgpack.packb({"t": "hello", "device": f"hh-{uuid.uuid4().hex[:8]}", "last_seq": 0}))
        assert msgpack.unpackb(ws.recv(10))["t"] == "welcome"
        for seq, op in enumerate(ops, 1):
            ws.send(msgpack.packb({"t": "op", "seq": seq, **op}))
        return [msgpack.unpackb(ws.recv(10)) for _ in ops]


def fill(hub: LiveHub, token: str, parent: str, children: list[str]) -> None:
    """Scan `parent`, then each of `children` into it; every scan must be accepted."""
    acks = scan(hub, token, [{"op": "parent", "code": parent}]
                + [{"op": "child", "code": child, "parent": parent} for child in children])
    assert all(a["code"] == "OK" for a in acks), [a for a in acks if a["code"] != "OK"]
