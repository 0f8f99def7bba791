"""The scans log's monthly partitions exist before they are needed (migration 0014).

Every hub process makes the current and the next month's partitions (UTC months) when it starts, then
once a day: the next month's is there for weeks before its first scan. Rows of a month without a
partition (all hubs down past a month's end, a clock far off) go to the default partition, so an
insert never fails; making that month's partition later moves them into it. Several processes doing
this at once take turns in PostgreSQL (scans_add_month), and the second finds nothing to make.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime

import asyncpg

from hub.store import partitions as store
from hub.tasks import cancel

logger = logging.getLogger("tracetrack.partitions")

EVERY = 24 * 3600.0
"""Seconds between two rounds of making partitions."""


def month_of(at: datetime) -> date:
    """The UTC month `at` falls in, as its first day."""
    utc = at.astimezone(UTC)
    return date(utc.year, utc.month, 1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


async def prepare(pool: asyncpg.Pool, now: datetime) -> list[date]:
    """Make the partitions of the month of `now` and of the next month if missing; the months made."""
    current = month_of(now)
    async with pool.acquire() as conn:
        made = await store.add_months(conn, [current, next_month(current)])
    for month in made:
        logger.info("made the scans partition %s", store.table_name(month))
    return made


class PartitionKeeper:
    """Runs `prepare` at start (awaited) and then every EVERY seconds until closed.

    A round that fails (scans kept busy past the lock wait, PostgreSQL away) is logged and tried
    again at the next: the next month's partition is made weeks ahead, and without one a row goes
    to the default partition, so no insert waits on this."""

    def __init__(self, pool: asyncpg.Pool, every: float = EVERY) -> None:
        self._pool = pool
        self._every = every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self._round()
        self._task = asyncio.create_task(self._run(), name="scans-partitions")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._every)
            await self._round()

    async def _round(self) -> None:
        try:
            await prepare(self._pool, datetime.now(UTC))
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            logger.exception("making the scans partitions failed; trying again in %.0f s", self._every)

    async def close(self) -> None:
        await cancel(self._task)
