"""Wall-screen tokens: read-only dashboard access for screens nobody logs into."""

from __future__ import annotations

from typing import Any

import asyncpg

TIMEOUT = 10.0


async def insert(db: Any, token_hash: bytes, label: str, area: str | None, created_by: int,
                 expires_days: int | None) -> asyncpg.Record:
    """The new token's id and expiry (None: until revoked), `expires_days` from PostgreSQL's now."""
    row: asyncpg.Record = await db.fetchrow(
        """INSERT INTO wall_tokens (token_hash, label, area, created_by, expires_at)
           VALUES ($1, $2, $3, $4, now() + make_interval(days => $5)) RETURNING id, expires_at""",
        token_hash, label, area, created_by, expires_days, timeout=TIMEOUT)
    return row


async def live_by_hashes(db: Any, token_hashes: list[bytes]) -> list[asyncpg.Record]:
    """Those of the tokens asked for that are neither revoked nor expired."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT token_hash, id, label, area FROM wall_tokens
            WHERE token_hash = ANY($1::bytea[]) AND revoked_at IS NULL
              AND (expires_at IS NULL OR expires_at > now())""",
        token_hashes, timeout=TIMEOUT)
    return rows


async def revoke(db: Any, token_id: int) -> asyncpg.Record | None:
    """Revoke a live token; the token as it was, or None when there was no live token with that id."""
    return await db.fetchrow(
        """UPDATE wall_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL
           RETURNING id, label, area""", token_id, timeout=TIMEOUT)


async def list_all(db: Any) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT id, label, area, created_at, revoked_at, expires_at,
                  coalesce(expires_at <= now(), false) AS expired
             FROM wall_tokens ORDER BY id DESC LIMIT 500""",
        timeout=TIMEOUT)
    return rows

