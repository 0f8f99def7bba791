"""Reading bills: one bill with its parents and weights, and the bills list.

Changes to bills go through the batch writer, never through here.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.domain.filters import BillFilter
from hub.store.keyset import Key, Page, Query, TimeKey, fetch_page, time_key

TIMEOUT = 10.0

_BILL = """
    SELECT l.id, l.code, l.area, l.parent_count, l.capacity, l.status, l.destination, l.vehicle,
           l.created_at, l.completed_at, u.username AS created_by
      FROM bills l LEFT JOIN users u ON u.id = l.created_by"""


async def find(db: Any, code: str) -> asyncpg.Record | None:
    """A bill with its weights (actual: its parents' children, 1 kg each; expected: its parents'
    expected kg) and its creator's name; None when there is no such bill."""
    row: asyncpg.Record | None = await db.fetchrow(
        f"""SELECT q.*, w.actual_kg, w.expected_kg FROM ({_BILL} WHERE l.code = $1) q,
                   LATERAL (SELECT coalesce(sum(b.child_count), 0) AS actual_kg,
                                   coalesce(sum(b.expected_kg), 0) AS expected_kg
                              FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id
                             WHERE bp.bill_id = q.id) w""", code, timeout=TIMEOUT)
    return row


async def parents(db: Any, bill_id: int) -> list[asyncpg.Record]:
    """A bill's parents in the order they went on, with their counts and who added them."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT b.code, b.child_count, b.expected_kg, bp.added_at, u.username AS added_by
             FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id LEFT JOIN users u ON u.id = bp.added_by
            WHERE bp.bill_id = $1 ORDER BY bp.added_at, b.code""", bill_id, timeout=TIMEOUT)
    return rows


async def area_of(db: Any, code: str) -> str | None:
    """The dispatch area of a bill; None when there is no such bill."""
    area: str | None = await db.fetchval("SELECT area FROM bills WHERE code = $1", code, timeout=TIMEOUT)
    return area


def _key(row: asyncpg.Record) -> TimeKey:
    return (row["created_at"], row["id"])


def _like(text: str) -> str:
    """`text` as an ILIKE pattern matching it anywhere, its wildcards taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def list_bills(db: Any, flt: BillFilter, after: Key | None, limit: int) -> Page:
    """One page of bills matching `flt`, newest first; `after` is the previous page's `next`."""
    query = Query()
    if flt.status is not None:
        query.where(f"l.status = '{flt.status.value}'")
    if flt.area is not None:
        query.where(f"l.area = {query.arg(flt.area)}")
    if flt.text is not None:
        pattern = query.arg(_like(flt.text))
        query.where(f"(l.destination ILIKE {pattern} OR l.vehicle ILIKE {pattern})")
    query.during("l.created_at", flt.created)
    query.before("l.created_at", "l.id", time_key(after))
    return await fetch_page(db, f"{_BILL} WHERE {query.sql} ORDER BY l.created_at DESC, l.id DESC",
                            query, limit, _key, TIMEOUT)
