"""Wall-screen tokens: read-only dashboard access for screens nobody logs into."""

from __future__ import annotations

from typing import Any

import asyncpg

TIMEOUT = 10.0


async def insert(db: Any, token_hash: bytes, label: str, area: str | None, created_by: int) -> int:
    return int(await db.fetchval(
        "INSERT INTO wall_tokens (token_hash, label, area, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
        token_hash, label, area, created_by, timeout=TIMEOUT))


async def live_by_hash(db: Any, token_hash: bytes) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT id, label, area FROM wall_tokens WHERE token_hash = $1 AND revoked_at IS NULL",
        token_hash, timeout=TIMEOUT)


async def revoke(db: Any, token_id: int) -> asyncpg.Record | None:
    """Revoke a live token; the token as it was, or None when there was no live token with that id."""
    return await db.fetchrow(
        """UPDATE wall_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
           RETURNING id, label, area""", token_id, timeout=TIMEOUT)


async def list_all(db: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT id, label, area, created_at, revoked_at FROM wall_tokens ORDER BY id DESC LIMIT 500""",
        timeout=TIMEOUT)
    return rows


async def area_exists(db: Any, area: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM areas WHERE name = $1", area, timeout=TIMEOUT))


async def bill_area(db: Any, code: str) -> str | None:
    area: str | None = await db.fetchval("SELECT area FROM bills WHERE code = $1", code, timeout=TIMEOUT)
    return area
