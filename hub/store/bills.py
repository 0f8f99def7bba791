"""Reading bills (changes to bills go through the batch writer)."""

from __future__ import annotations

from typing import Any

import asyncpg

TIMEOUT = 10.0


async def find(db: Any, code: str) -> tuple[asyncpg.Record, list[str]] | None:
    """A bill with its weights, and the codes of its parents; None when there is no such bill."""
    row = await db.fetchrow(
        """SELECT l.id, l.code, l.area, l.parent_count, l.capacity, l.status, l.destination, l.vehicle,
                  coalesce(sum(b.child_count), 0) AS actual_kg, coalesce(sum(b.expected_kg), 0) AS expected_kg
             FROM bills l
             LEFT JOIN bill_parents bp ON bp.bill_id = l.id
             LEFT JOIN bags b ON b.id = bp.parent_id
            WHERE l.code = $1
            GROUP BY l.id""", code, timeout=TIMEOUT)
    if row is None:
        return None
    parents = await db.fetch(
        """SELECT b.code FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id
            WHERE bp.bill_id = $1 ORDER BY bp.added_at, b.code""", row["id"], timeout=TIMEOUT)
    return row, [p["code"] for p in parents]


async def area_of(db: Any, code: str) -> str | None:
    """The dispatch area of a bill; None when there is no such bill."""
    area: str | None = await db.fetchval("SELECT area FROM bills WHERE code = $1", code, timeout=TIMEOUT)
    return area
