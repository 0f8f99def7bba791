"""The monthly partitions of the scans log (migration 0014): making, listing, detaching, attaching.

A month is given as the date of its first day; months are UTC calendar months. The partition of a
month is the table `scans_YYYY_MM`; rows of a month without one are in `scans_default`.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import asyncpg

TIMEOUT = 30.0
LOCK_WAIT = "5s"
"""How long making, detaching or attaching a partition waits for the locks it needs on scans (held by
running queries) before giving up, rather than holding every new query on scans up behind it."""


def table_name(month: date) -> str:
    """The partition of `month`, as scans_month_table() names it in SQL."""
    return f"scans_{month:%Y_%m}"


async def add_months(conn: asyncpg.Connection, months: list[date]) -> list[date]:
    """Make the partitions of `months` that do not exist yet (moving the default partition's rows of
    those months into them), in one transaction; the months made now."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'", timeout=TIMEOUT)
        return [month for month in months
                if await conn.fetchval("SELECT scans_add_month($1)", month, timeout=TIMEOUT)]


async def months(db: Any) -> dict[date, int]:
    """Every month with a partition attached, with its (estimated) row count."""
    rows = await db.fetch(
        """SELECT c.relname, greatest(c.reltuples, 0)::bigint AS estimate
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = 'scans'::regclass AND c.relname ~ '^scans_[0-9]{4}_[0-9]{2}$'""",
        timeout=TIMEOUT)
    return {date(int(r["relname"][6:10]), int(r["relname"][11:13]), 1): r["estimate"] for r in rows}


async def state(db: Any, month: date) -> str | None:
    """'attached' (the month's partition), 'detached' (its table, out of scans: an archive under
    way), or None (no table of that name)."""
    value: str | None = await db.fetchval(
        """SELECT CASE WHEN i.inhrelid IS NULL THEN 'detached' ELSE 'attached' END
             FROM pg_class c LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND i.inhparent = 'scans'::regclass
            WHERE c.oid = to_regclass($1)""",
        table_name(month), timeout=TIMEOUT)
    return value


async def detach(conn: asyncpg.Connection, month: date) -> None:
    """Take the month's partition out of scans; its table stays, with its rows and indexes.

    Not CONCURRENTLY: PostgreSQL refuses that while a default partition exists. The plain detach
    holds scans exclusively for a moment (waiting at most LOCK_WAIT for queries running on it)."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'", timeout=TIMEOUT)
        await conn.execute(f"ALTER TABLE scans DETACH PARTITION {table_name(month)}", timeout=TIMEOUT)


async def attach(conn: asyncpg.Connection, month: date) -> None:
    """Put the month's table (restored from an archive) back into scans as its partition."""
    async with conn.transaction():
        await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'", timeout=TIMEOUT)
        await conn.execute("SELECT scans_attach_month($1, to_regclass($2))", month, table_name(month),
                           timeout=TIMEOUT)


async def count(db: Any, month: date) -> int:
    """The rows in the month's table (attached or not)."""
    return int(await db.fetchval(f"SELECT count(*) FROM {table_name(month)}", timeout=None))


async def drop(db: Any, month: date) -> None:
    """Drop the month's detached table (its rows archived)."""
    await db.execute(f"DROP TABLE {table_name(month)}", timeout=TIMEOUT)
