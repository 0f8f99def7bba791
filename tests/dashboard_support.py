"""Dashboard test helpers: a client's view of the dashboard stream, accounts with a live session,
and the day's counters as SQL counts them.

`DashboardView` is a dashboard client written from docs/protocol.md sections 12 and 13 alone; the
pure live-state tests, the in-process dashboard tests and those against real hub processes all use it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from hub import accounts
from hub.livestate import FIELDS, MINUTES_SHOWN, RECENT_EVENTS

SESSION_SECRET = b"test-session-secret"  # the SESSION_SECRET of conftest's settings and hub processes


# --- a dashboard client, from the protocol document ---------------------------------------------


class DashboardView:
    """What a dashboard holds: the last snapshot with every later delta applied, in seq order.

    `apply` returns "resync" when a delta does not start at the next seq: the client must then send
    `{"t": "resync"}` and take the snapshot that answers it.
    """

    def __init__(self) -> None:
        self.seq: int | None = None
        self.scope = ""
        self.day = ""
        self.counters: dict[str, int] = {}
        self.areas: dict[str, dict[str, int]] = {}
        self.scanners: dict[str, dict[str, Any]] = {}
        self.per_minute: dict[int, int] = {}
        self.parents: dict[str, dict[str, Any]] = {}
        self.bills: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.online: list[dict[str, Any]] = []
        self.stale = False
        self.snapshots = 0
        self.deltas = 0
        self.gaps = 0
        self.awaiting_resync = False

    def apply(self, message: dict[str, Any]) -> str | None:
        kind = message["t"]
        if kind == "snapshot":
            self._snapshot(message)
        elif kind == "delta":
            if self.seq is None or message["seq"] <= self.seq:
                return None  # before the first snapshot, or already in the snapshot
            if message["from"] != self.seq + 1:
                self.gaps += 1
                if self.awaiting_resync:
                    return None
                self.awaiting_resync = True
                return "resync"
            if self.awaiting_resync:
                return None  # a resync is on its way; its snapshot replaces everything
            self._delta(message)
        elif kind == "presence":
            self._presence(message)
        elif kind == "stale":
            self.stale = message["stale"]
        return None

    def _presence(self, message: dict[str, Any]) -> None:
        """The whole list (`online`), or what changed in it (`changed` by device, `gone`)."""
        if "online" in message:
            self.online = message["online"]
            return
        online = {entry["device"]: entry for entry in self.online}
        for device in message["gone"]:
            online.pop(device, None)
        online.update((entry["device"], entry) for entry in message["changed"])
        self.online = list(online.values())

    def _snapshot(self, message: dict[str, Any]) -> None:
        self.snapshots += 1
        self.awaiting_resync = False
        self.seq = message["seq"]
        self.scope = message["scope"]
        self.day = message.get("day", "")
        self.counters = dict(message.get("counters", {}))
        self.areas = {area: dict(counts) for area, counts in message.get("areas", {}).items()}
        self.scanners = {s["device"]: dict(s) for s in message.get("scanners", [])}
        self.per_minute = {minute: count for minute, count in message.get("per_minute", [])}
        self.parents = {p["code"]: p for p in message.get("parents", [])}
        self.bills = {b["code"]: b for b in message.get("bills", [])}
        self.events = list(message.get("events", []))
        if "online" in message:
            self.online = message["online"]
        if "stale" in message:
            self.stale = message["stale"]

    def _delta(self, message: dict[str, Any]) -> None:
        self.deltas += 1
        self.seq = message["seq"]
        if "counters" in message:
            self.counters = dict(message["counters"])
        self.areas.update({area: dict(counts) for area, counts in message.get("areas", {}).items()})
        self.scanners.update({s["device"]: dict(s) for s in message.get("scanners", [])})
        self.per_minute.update({minute: count for minute, count in message.get("per_minute", [])})
        for parent in message.get("parents", []):
            self.parents.pop(parent["code"], None)
            if parent["count"] > 0 and not parent["complete"] and not parent.get("dropped"):
                self.parents[parent["code"]] = parent
        for bill in message.get("bills", []):
            self.bills.pop(bill["code"], None)
            if bill["status"] == "open" and not bill.get("dropped"):
                self.bills[bill["code"]] = bill
        self.events = (self.events + message.get("events", []))[-RECENT_EVENTS:]

    def state(self, now: float) -> dict[str, Any]:
        """What the screen shows at time `now`, comparable between two views (all-zero rows left out)."""
        window = int(now // 60 * 60) - MINUTES_SHOWN * 60
        return {
            "seq": self.seq, "scope": self.scope, "day": self.day, "counters": self.counters,
            "areas": {a: c for a, c in self.areas.items() if any(c.values())},
            "scanners": {d: {k: v for k, v in s.items() if k in FIELDS}
                         for d, s in self.scanners.items() if any(s[k] for k in FIELDS)},
            "per_minute": {m: n for m, n in self.per_minute.items() if m > window and n},
            "parents": self.parents,
            "bills": self.bills,
            "events": [(e["device"], e["seq"], e["result"]) for e in self.events],
        }


# --- accounts and the counters SQL counts -------------------------------------------------------


@dataclass(frozen=True)
class Account:
    user_id: int
    username: str
    token: str
    role: str
    area: str | None

    @property
    def cookie(self) -> dict[str, str]:
        return {"cookie": f"tt_session={self.token}"}


async def make_account(pool: asyncpg.Pool, role: str = "dispatcher", area: str | None = "lucknow") -> Account:
    """A user and a live session for them, straight through the hub's own session code.

    (Logging in costs two argon2 runs, about two seconds here; login has tests of its own.)
    """
    username = f"{role[:4]}-{uuid.uuid4().hex[:8]}"
    area = None if role == "admin" else area
    user_id = await pool.fetchval(
        "INSERT INTO users (username, password_hash, role, area) VALUES ($1, 'no-password', $2, $3) RETURNING id",
        username, role, area, timeout=10)
    token = await accounts.open_session(pool, SESSION_SECRET, user_id, "tests")
    return Account(user_id, username, token, role, area)


TODAY_SQL = """
WITH day AS (SELECT $1::timestamptz AS first, $1::timestamptz + interval '1 day' AS after)
SELECT area, sum(accepted)::int AS accepted, sum(rejected)::int AS rejected,
       sum(children_linked)::int AS children_linked, sum(parents_completed)::int AS parents_completed,
       sum(bills_completed)::int AS bills_completed
  FROM (SELECT s.area, count(*) FILTER (WHERE s.result = 'OK') AS accepted,
               count(*) FILTER (WHERE s.result <> 'OK') AS rejected,
               0 AS children_linked, 0 AS parents_completed, 0 AS bills_completed
          FROM scans s, day WHERE s.server_time >= day.first AND s.server_time < day.after GROUP BY s.area
        UNION ALL
        SELECT p.area, 0, 0, count(*), 0, 0
          FROM links l JOIN bags p ON p.id = l.parent_id, day
         WHERE l.linked_at >= day.first AND l.linked_at < day.after GROUP BY p.area
        UNION ALL
        SELECT b.area, 0, 0, 0, count(*), 0
          FROM bags b, day
         WHERE b.kind = 'P' AND b.completed_at >= day.first AND b.completed_at < day.after GROUP BY b.area
        UNION ALL
        SELECT l.area, 0, 0, 0, 0, count(*)
          FROM bills l, day
         WHERE l.status = 'completed' AND l.completed_at >= day.first AND l.completed_at < day.after
         GROUP BY l.area) counted
 GROUP BY area
"""

STATS_SQL = """
SELECT area, sum(accepted)::int AS accepted, sum(rejected)::int AS rejected,
       sum(children_linked)::int AS children_linked, sum(parents_completed)::int AS parents_completed,
       sum(bills_completed)::int AS bills_completed
  FROM scan_stats WHERE minute >= $1::timestamptz AND minute < $1::timestamptz + interval '1 day'
 GROUP BY area
"""


def _nonzero(rows: list[asyncpg.Record]) -> dict[str, dict[str, int]]:
    counted = {row["area"]: {name: row[name] for name in FIELDS} for row in rows}
    return {area: counts for area, counts in counted.items() if any(counts.values())}


async def sql_today(db: asyncpg.Pool | asyncpg.Connection, day: str) -> dict[str, dict[str, int]]:
    """Today's counters per area, counted from the base tables (scans, links, bags, bills).

    `day` is the dashboard's `day` (the hubs here run with TIMEZONE=UTC).
    """
    return _nonzero(await db.fetch(TODAY_SQL, datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC),
                                   timeout=30))


async def stats_today(db: asyncpg.Pool | asyncpg.Connection, day: str) -> dict[str, dict[str, int]]:
    """Today's counters per area as scan_stats holds them."""
    return _nonzero(await db.fetch(STATS_SQL, datetime.combine(date.fromisoformat(day), datetime.min.time(), UTC),
                                   timeout=30))


def totals(areas: dict[str, dict[str, int]], only: str | None = None) -> dict[str, int]:
    """The counters of all areas (or of `only`), summed."""
    return {name: sum(c[name] for a, c in areas.items() if only is None or a == only) for name in FIELDS}


def shown_areas(view: DashboardView) -> dict[str, dict[str, int]]:
    return {area: counts for area, counts in view.areas.items() if any(counts.values())}
