"""The batch writer against a real PostgreSQL, including a real outage of the database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from hub.batch import Committed, Submission
from hub.codes import Code
from hub.database import create_pool
from hub.domain import rules
from hub.store import formats as formats_store
from hub.writer import BatchWriter


@contextlib.asynccontextmanager
async def database_down(server_url: str, database_url: str) -> AsyncIterator[None]:
    """Refuse new connections to the run's database and end the open ones: a real outage."""
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


@pytest.fixture
async def actor(clean_db: asyncpg.Pool) -> rules.Actor:
    user_id = await clean_db.fetchval(
        "INSERT INTO users (username, password_hash, role, area) VALUES ('writer-op', 'x', 'dispatcher', "
        "'indore') RETURNING id")
    return rules.Actor(user_id, "writer-op", rules.Role.DISPATCHER, "indore")


async def test_after_a_retry_later_operations_of_the_device_wait_for_its_resend(
        actor: rules.Actor, postgres_server_url: str, database_url: str) -> None:
    pool = await create_pool(database_url, 2)
    committed: list[Committed] = []

    async def on_commit(batch: Committed) -> None:
        committed.append(batch)

    writer = BatchWriter(pool, await formats_store.load(pool), max_ops=100, max_delay=0.001,
                         on_commit=on_commit)
    writer.start()
    try:
        def sub(seq: int, op: rules.Operation) -> Submission:
            return Submission("outage-dev", seq, actor, op, datetime.now(UTC))

        assert (await writer.submit(sub(1, rules.ScanParent("SB40001")))).outcome.ok
        async with database_down(postgres_server_url, database_url):
            failed = await writer.submit(sub(2, rules.ScanChild("OUT0002", "SB40001")))
        assert failed.outcome.code is Code.RETRY
        # The database is back, but seq 3 must not be applied before the resend of seq 2.
        held = await writer.submit(sub(3, rules.ScanChild("OUT0003", "SB40001")))
        assert held.outcome.code is Code.RETRY

        writer.unblock("outage-dev")
        resent = [writer.submit(sub(2, rules.ScanChild("OUT0002", "SB40001"))),
                  writer.submit(sub(3, rules.ScanChild("OUT0003", "SB40001")))]
        assert [(await f).outcome.data["count"] for f in resent] == [1, 2]
    finally:
        await writer.close(5)
        await pool.close()

    rows = await pool_rows(database_url)
    assert rows == [(1, "OK"), (2, "OK"), (3, "OK")]
    assert [c.seq for c in committed] == sorted(c.seq for c in committed)


async def pool_rows(database_url: str) -> list[tuple[int, str]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [(r["seq"], r["result"]) for r in await conn.fetch(
            "SELECT seq, result FROM scans WHERE device_id = 'outage-dev' ORDER BY seq")]
    finally:
        await conn.close()
