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
