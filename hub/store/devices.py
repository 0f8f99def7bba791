"""Scanner devices and the users they belong to: every SQL statement about a device's owner.

A device id is bound to the first user who says hello with it (`owner_id`), in PostgreSQL, so that
every hub process agrees; an admin's release clears the binding and the next hello binds it anew.
"""

from __future__ import annotations

from typing import Any

import asyncpg

TIMEOUT = 10.0

Db = Any
"""An asyncpg pool or connection."""


async def owners(db: Db, devices: list[str]) -> dict[str, asyncpg.Record]:
    """Of `devices`, those known: each one's `owner_id` (None while unbound) and `last_seq`."""
    rows = await db.fetch("SELECT device_id, owner_id, last_seq FROM devices WHERE device_id = ANY($1::text[])",
                          devices, timeout=TIMEOUT)
    return {row["device_id"]: row for row in rows}


async def bind(db: Db, device: str, user_id: int) -> asyncpg.Record:
    """The device's `owner_id` and `last_seq`, binding it to `user_id` if it has no owner yet.

    Asked only of a device `owners` found unbound or did not find: the usual hello (a device
    already bound) stays free of writes. The upsert decides a race between two first hellos, in
    any hub process, for exactly one user.
    """
    record: asyncpg.Record = await db.fetchrow(
        """INSERT INTO devices (device_id, owner_id, bound_at) VALUES ($1, $2, now())
           ON CONFLICT (device_id) DO UPDATE
              SET owner_id = coalesce(devices.owner_id, excluded.owner_id),
                  bound_at = CASE WHEN devices.owner_id IS NULL THEN now() ELSE devices.bound_at END
        RETURNING owner_id, last_seq""",
        device, user_id, timeout=TIMEOUT,
    )
    return record


async def release(db: Db, device: str) -> asyncpg.Record | None:
    """Unbind a device; its former owner's id and username, or None when it had no owner."""
    row: asyncpg.Record | None = await db.fetchrow(
        """WITH old AS (SELECT device_id, owner_id FROM devices WHERE device_id = $1 AND owner_id IS NOT NULL
                         FOR UPDATE)
           UPDATE devices d SET owner_id = NULL, bound_at = NULL
             FROM old LEFT JOIN users u ON u.id = old.owner_id
            WHERE d.device_id = old.device_id
        RETURNING old.owner_id, u.username""",
        device, timeout=TIMEOUT,
    )
    return row


async def rename(db: Db, device: str, name: str | None) -> tuple[bool, str | None]:
    """Give a device a name (None: none); whether the hub knows the device, and its name before."""
    row = await db.fetchrow(
        """WITH old AS (SELECT device_id, name FROM devices WHERE device_id = $1 FOR UPDATE)
           UPDATE devices d SET name = $2 FROM old WHERE d.device_id = old.device_id RETURNING old.name""",
        device, name, timeout=TIMEOUT,
    )
    return (False, None) if row is None else (True, row["name"])


async def list_bound(db: Db) -> list[asyncpg.Record]:
    """Every bound device with its owner, for the admin."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT d.device_id, d.name, d.owner_id, u.username, d.last_seq, d.bound_at, d.updated_at
             FROM devices d JOIN users u ON u.id = d.owner_id
            ORDER BY u.username, d.device_id""",
        timeout=TIMEOUT,
    )
    return rows
