"""Users, their login state and their sessions: every SQL statement of the accounts aggregate.

Times are PostgreSQL's `now()`, never the hub's clock, so several hub processes agree on idle
expiry. Sessions are looked up by the hash of their token only.
"""

from __future__ import annotations

from typing import Any

import asyncpg

TIMEOUT = 10.0
"""Seconds any one statement here may take."""

Db = Any
"""An asyncpg pool, connection or pooled connection: whatever can run the statement."""


async def find_login(db: Db, username: str) -> asyncpg.Record | None:
    """What a login needs to know about an active user (an inactive one cannot log in)."""
    return await db.fetchrow(
        "SELECT id, username, password_hash, role, area FROM users WHERE username = $1 AND active",
        username, timeout=TIMEOUT,
    )


async def set_password_hash(db: Db, user_id: int, password_hash: str) -> None:
    await db.execute("UPDATE users SET password_hash = $2 WHERE id = $1", user_id, password_hash,
                     timeout=TIMEOUT)


async def admin_exists(db: Db) -> bool:
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE role = 'admin' AND active)",
                                  timeout=TIMEOUT))


async def find_user(db: Db, user_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT id, username, role, area FROM users WHERE id = $1", user_id,
                             timeout=TIMEOUT)


async def lock_active_admins(db: Db) -> list[int]:
    """Lock every active admin's row, in id order, and return their ids.

    Inside a transaction: a concurrent demotion waits here, and then no longer counts the admin it
    waited for if that one was demoted meanwhile (PostgreSQL re-checks the condition on the new row).
    """
    rows = await db.fetch("SELECT id FROM users WHERE role = 'admin' AND active ORDER BY id FOR UPDATE",
                          timeout=TIMEOUT)
    return [row["id"] for row in rows]


async def lock_user(db: Db, user_id: int) -> asyncpg.Record | None:
    """A user's row, locked for the rest of the transaction."""
    return await db.fetchrow("SELECT id, username, role, area, active FROM users WHERE id = $1 FOR UPDATE",
                             user_id, timeout=TIMEOUT)


async def update_user(db: Db, user_id: int, role: str, area: str | None, active: bool) -> None:
    await db.execute("UPDATE users SET role = $2, area = $3, active = $4 WHERE id = $1",
                     user_id, role, area, active, timeout=TIMEOUT)


async def list_users(db: Db) -> list[asyncpg.Record]:
    """Every account, with whether it is active and how many live sessions it has."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT u.id, u.username, u.role, u.area, u.active,
                  (SELECT count(*) FROM sessions s WHERE s.user_id = u.id AND s.revoked_at IS NULL)::int
                      AS sessions
             FROM users u ORDER BY u.username""",
        timeout=TIMEOUT,
    )
    return rows


async def insert_user(db: Db, username: str, password_hash: str, role: str, area: str | None) -> int | None:
    """Insert a user; None when the username is taken (also by a concurrent insert)."""
    user_id: int | None = await db.fetchval(
        """INSERT INTO users (username, password_hash, role, area) VALUES ($1, $2, $3, $4)
           ON CONFLICT (username) DO NOTHING RETURNING id""",
        username, password_hash, role, area, timeout=TIMEOUT,
    )
    return user_id


async def insert_session(db: Db, token_hash: bytes, user_id: int, user_agent: str) -> None:
    await db.execute(
        "INSERT INTO sessions (token_hash, user_id, user_agent) VALUES ($1, $2, $3)",
        token_hash, user_id, user_agent, timeout=TIMEOUT,
    )


async def live_sessions(db: Db, token_hashes: list[bytes], touching: list[bytes], idle_minutes: int,
                        refresh_seconds: int) -> list[asyncpg.Record]:
    """Of the sessions asked for, those neither revoked nor idle for `idle_minutes` whose user is
    active: each with its user and the seconds it has left before it expires from idleness.

    In the same round trip, those in `touching` are marked as in use now (written at most once per
    `refresh_seconds`, or per half the idle time if that is shorter). An expired session stays
    expired: touching never revives it. A row another transaction holds (a revocation, another
    hub's touch) is skipped, not waited for: a statement touching many sessions then never waits
    for, nor deadlocks with, another that locks the same rows in another order.
    """
    rows: list[asyncpg.Record] = await db.fetch(
        """WITH live AS (
               SELECT s.token_hash, s.last_seen_at, u.id, u.username, u.role, u.area
                 FROM sessions s JOIN users u ON u.id = s.user_id
                WHERE s.token_hash = ANY($1::bytea[]) AND s.revoked_at IS NULL AND u.active
                  AND s.last_seen_at > now() - make_interval(mins => $3)
           ), touched AS (
               UPDATE sessions s SET last_seen_at = now()
                 FROM (SELECT t.token_hash FROM sessions t JOIN live USING (token_hash)
                        WHERE t.token_hash = ANY($2::bytea[]) AND t.revoked_at IS NULL
                          AND live.last_seen_at < now() - make_interval(secs => least($4, $3 * 30))
                          FOR UPDATE OF t SKIP LOCKED) due
                WHERE s.token_hash = due.token_hash
            RETURNING s.token_hash, s.last_seen_at
           )
           SELECT live.token_hash, live.id, live.username, live.role, live.area,
                  extract(epoch FROM coalesce(touched.last_seen_at, live.last_seen_at)
                                     + make_interval(mins => $3) - now())::float8 AS seconds_left
             FROM live LEFT JOIN touched USING (token_hash)""",
        token_hashes, touching, idle_minutes, refresh_seconds, timeout=TIMEOUT,
    )
    return rows


async def revoke_session(db: Db, token_hash: bytes) -> bool:
    """Revoke one session; False if there was no such live session."""
    revoked = await db.fetchval(
        "UPDATE sessions SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL RETURNING 1",
        token_hash, timeout=TIMEOUT,
    )
    return revoked is not None


async def revoke_user_sessions(db: Db, user_id: int) -> int:
    """Revoke every live session of a user; how many there were."""
    rows = await db.fetch(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL RETURNING 1",
        user_id, timeout=TIMEOUT,
    )
    return len(rows)
