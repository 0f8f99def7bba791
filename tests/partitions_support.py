"""Helpers of the partitioned-scans tests: rows at chosen instants, where they landed, query plans."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import asyncpg


async def insert_scans(db: Any, rows: list[tuple[str, int, str, datetime]]) -> list[int]:
    """(device, seq, area, server_time) rows as accepted child scans; their ids, in order."""
    return [await db.fetchval(
        """INSERT INTO scans (device_id, seq, area, op, code, result, server_time)
           VALUES ($1, $2, $3, 'child', 'C1', 'OK', $4) RETURNING id""", *row) for row in rows]


async def partition_of(db: Any, scan_id: int) -> str:
    """The table a scan row is stored in."""
    return str(await db.fetchval("SELECT tableoid::regclass::text FROM scans WHERE id = $1", scan_id))


async def partition_rows(db: Any) -> dict[str, int]:
    """Rows per partition of scans (every partition, empty ones too)."""
    rows = await db.fetch(
        """SELECT c.relname, (SELECT count(*) FROM scans s WHERE s.tableoid = c.oid) AS n
             FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'scans'::regclass""")
    return {r["relname"]: r["n"] for r in rows}


async def missing_indexes(db: Any) -> list[str]:
    """(partition, index) pairs where a partitioned index of scans has no index on that partition,
    or the partition lacks its own unique (device_id, seq): empty when every partition is complete."""
    rows = await db.fetch(
        """SELECT c.relname || ' ' || pi.relname AS missing
             FROM pg_inherits p JOIN pg_class c ON c.oid = p.inhrelid
             CROSS JOIN pg_index x JOIN pg_class pi ON pi.oid = x.indexrelid
            WHERE p.inhparent = 'scans'::regclass AND x.indrelid = 'scans'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_inherits ii JOIN pg_index ci ON ci.indexrelid = ii.inhrelid
                               WHERE ii.inhparent = x.indexrelid AND ci.indrelid = c.oid)
           UNION ALL
           SELECT c.relname || ' unique (device_id, seq)'
             FROM pg_inherits p JOIN pg_class c ON c.oid = p.inhrelid
            WHERE p.inhparent = 'scans'::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_index ci WHERE ci.indrelid = c.oid AND ci.indisunique
                                 AND pg_get_indexdef(ci.indexrelid) LIKE '%(device_id, seq)')""")
    return sorted(r["missing"] for r in rows)


class Explaining:
    """A connection whose `fetch` first asks PostgreSQL for the statement's plan (kept in `plans`),
    then runs it: which partitions a store function's query reads, from the real planner."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn
        self.plans: list[str] = []

    async def fetch(self, sql: str, *args: Any, timeout: float | None = None) -> list[asyncpg.Record]:
        plan = await self.conn.fetch(f"EXPLAIN {sql}", *args, timeout=timeout)
        self.plans.append("\n".join(row[0] for row in plan))
        return list(await self.conn.fetch(sql, *args, timeout=timeout))


def months_read(plan: str) -> set[str]:
    """The scans partitions a plan reads."""
    return set(re.findall(r" on (scans_\d{4}_\d{2}|scans_default)\b", plan))


def month(year: int, number: int) -> date:
    return date(year, number, 1)
