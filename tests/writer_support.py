"""A batch writer for tests, recording what it hands to `on_commit`, and a watch for its lock waits."""

from __future__ import annotations

import asyncio

import asyncpg

from hub.batch import Committed
from hub.store import formats as formats_store
from hub.writer import BatchWriter


async def recording_writer(pool: asyncpg.Pool, lanes: int = 1,
                           max_ops: int = 100) -> tuple[BatchWriter, list[Committed]]:
    """A writer (not started) and the list of batches it commits, in the order `on_commit` heard them."""
    committed: list[Committed] = []

    async def on_commit(batch: Committed) -> None:
        committed.append(batch)

    writer = BatchWriter(pool, await formats_store.load(pool), max_ops=max_ops, max_delay=0.001,
                         on_commit=on_commit, lanes=lanes)
    return writer, committed


async def lock_waiter(conn: asyncpg.Connection) -> int:
    """The backend of this database waiting for a row lock (a guard against a hang, not a timing claim)."""
    async with asyncio.timeout(20):
        while True:
            pid = await conn.fetchval("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                                      "AND wait_event_type = 'Lock'")
            if pid is not None:
                return int(pid)
            await asyncio.sleep(0.01)
