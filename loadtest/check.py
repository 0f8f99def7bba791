"""The final check against PostgreSQL: an acked scan is durable, so every one must be stored.

Each acked (device, seq) must be in `scans` exactly once, with the result code its ack carried,
and each accepted child must be linked to the parent its scan named. Acks with `retry: true`,
`STALE_SEQ`, `SEQ_TOO_FAR` recorded nothing (docs/protocol.md section 5); they must not be stored.

With dashboards, each one's final counters must equal what SQL counts for its scope, as of the same
commit seq (docs/protocol.md section 13: "counters are exact").
"""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg

from loadtest.scanner import Ack

NOT_RECORDED = frozenset({"RETRY", "RATE_LIMITED", "STALE_SEQ", "SEQ_TOO_FAR"})
TIMEOUT = 120.0


class Ledger:
    """The last ack of every operation of the run, by (device, seq)."""

    def __init__(self) -> None:
        self.acks: dict[tuple[str, int], Ack] = {}

    def on_ack(self, ack: Ack) -> None:
        self.acks[(ack.device, ack.seq)] = ack


async def existing_parents(pool: asyncpg.Pool) -> set[str]:
    """Parent codes already in the database, which the run must not pick as fresh ones."""
    rows = await pool.fetch("SELECT code FROM bags WHERE kind = 'P'", timeout=TIMEOUT)
    return {row["code"] for row in rows}


async def verify(pool: asyncpg.Pool, ledger: Ledger, devices: list[str]) -> dict[str, Any]:
    """Compare the ledger with PostgreSQL; `lost` and `duplicated` must both be 0."""
    rows = await pool.fetch(
        """SELECT device_id, seq, min(result) AS result, count(*) AS copies
             FROM scans WHERE device_id = ANY($1::text[]) GROUP BY device_id, seq""",
        devices, timeout=TIMEOUT,
    )
    stored = {(row["device_id"], row["seq"]): (row["result"], row["copies"]) for row in rows}
    lost = duplicated = mismatched = recorded_anyway = 0
    for key, ack in ledger.acks.items():
        row = stored.get(key)
        if ack.retry or ack.code in NOT_RECORDED:
            recorded_anyway += row is not None
        elif row is None:
            lost += 1
        else:
            duplicated += row[1] > 1
            mismatched += row[0] != ack.code
    accepted = {ack.op["code"]: ack.op["parent"] for ack in ledger.acks.values()
                if ack.code == "OK" and ack.op["op"] == "child"}
    missing_links = await _missing_links(pool, accepted)
    details = {
        "acked": len(ledger.acks), "stored": len(stored), "mismatched": mismatched,
        "recorded_although_not_recorded_answer": recorded_anyway,
        "stored_but_unacked": len(stored.keys() - ledger.acks.keys()),
        "children_accepted": len(accepted), "missing_links": missing_links,
    }
    details["ok"] = lost == duplicated == mismatched == recorded_anyway == missing_links == 0
    return {"lost": lost, "duplicated": duplicated, "check": details}


BROKEN_PARENTS_SQL = """
SELECT p.code, p.child_count, p.capacity, p.completed_at IS NOT NULL AS completed,
       (SELECT count(*) FROM links l WHERE l.parent_id = p.id) AS links
  FROM bags p
 WHERE p.kind = 'P'
   AND (p.child_count <> (SELECT count(*) FROM links l WHERE l.parent_id = p.id)
        OR p.child_count > p.capacity
        OR (p.completed_at IS NOT NULL) <> (p.child_count = p.capacity))
"""


async def broken_parents(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Parents whose counter differs from their links, that hold more than their capacity, or whose
    completion disagrees with their count: the invariants the database's locked counters keep."""
    return [dict(row) for row in await pool.fetch(BROKEN_PARENTS_SQL, timeout=TIMEOUT)]


async def _missing_links(pool: asyncpg.Pool, accepted: dict[str, str]) -> int:
    """Accepted children that are not (or no longer) in the parent their scan named."""
    rows = await pool.fetch(
        """SELECT c.code AS child, p.code AS parent
             FROM bags c JOIN links l ON l.child_id = c.id JOIN bags p ON p.id = l.parent_id
            WHERE c.code = ANY($1::text[])""",
        list(accepted), timeout=TIMEOUT,
    )
    linked = {row["child"]: row["parent"] for row in rows}
    return sum(linked.get(child) != parent for child, parent in accepted.items())


COUNTERS = ("accepted", "rejected", "children_linked", "parents_completed", "bills_completed")
# A dashboard's counters as SQL counts them over the day's recorded scans: every scan is accepted or
# rejected; a child link counts until undone; a parent completes with the child that fills it and
# stops being complete when that link is undone; a bill completes when finished, until reopened.
COUNTERS_SQL = """
SELECT count(*) FILTER (WHERE result = 'OK') AS accepted,
       count(*) FILTER (WHERE result <> 'OK') AS rejected,
       count(*) FILTER (WHERE result = 'OK' AND op = 'child')
         - count(*) FILTER (WHERE result = 'OK' AND op = 'undo' AND detail->>'undone' = 'link')
         AS children_linked,
       count(*) FILTER (WHERE result = 'OK' AND op = 'child' AND detail->>'complete' = 'true')
         - count(*) FILTER (WHERE result = 'OK' AND op = 'undo' AND detail->>'undone' = 'link'
                              AND (detail->>'count')::int = (detail->>'capacity')::int - 1)
         AS parents_completed,
       count(*) FILTER (WHERE result = 'OK' AND op = 'bill_finish')
         - count(*) FILTER (WHERE result = 'OK' AND op = 'bill_reopen') AS bills_completed
  FROM scans
 WHERE server_time >= $1::date::timestamp AT TIME ZONE $2
   AND server_time < ($1::date + 1)::timestamp AT TIME ZONE $2
   AND ($3::text IS NULL OR area = $3)
"""


async def dashboard_truth(pool: asyncpg.Pool, scopes: set[str], day: str,
                          timezone: str) -> tuple[int, dict[str, dict[str, int]]]:
    """The commit seq and, as of it, each scope's counters ('all' or 'area:NAME') for `day`."""
    truth: dict[str, dict[str, int]] = {}
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        seq = await conn.fetchval("SELECT seq FROM commit_clock", timeout=TIMEOUT)
        for scope in scopes:
            area = scope.removeprefix("area:") if scope.startswith("area:") else None
            row = await conn.fetchrow(COUNTERS_SQL, datetime.date.fromisoformat(day), timezone, area,
                                      timeout=TIMEOUT)
            truth[scope] = {name: row[name] for name in COUNTERS}
    return seq, truth
