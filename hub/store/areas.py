"""Dispatch areas: configuration kept in PostgreSQL."""

from __future__ import annotations

from typing import Any

import asyncpg

TIMEOUT = 10.0


async def list_all(db: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch("SELECT name, label FROM areas ORDER BY label", timeout=TIMEOUT)
    return rows


async def exists(db: Any, area: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM areas WHERE name = $1", area, timeout=TIMEOUT))


async def insert(db: Any, name: str, label: str) -> bool:
    """Add an area; False when the name is taken (also by a concurrent insert)."""
    return bool(await db.fetchval(
        "INSERT INTO areas (name, label) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING true",
        name, label, timeout=TIMEOUT))


async def relabel(db: Any, name: str, label: str) -> str | None:
    """Give an area a new label; the old one, or None when there is no such area."""
    old: str | None = await db.fetchval(
        """WITH old AS (SELECT name, label FROM areas WHERE name = $1 FOR UPDATE)
           UPDATE areas a SET label = $2 FROM old WHERE a.name = old.name RETURNING old.label""",
        name, label, timeout=TIMEOUT)
    return old
