"""Helpers for seeding tests: the invariants a seeded database keeps, a planned chunk to break, and
data scanned through the batch writer for a seed to add to."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import asyncpg

from hub import seeding
from hub.batch import Committed, Submission
from hub.database import create_pool
from hub.domain import rules
from hub.store import formats as formats_store
from hub.store.seeding import Chunk
from hub.writer import BatchWriter

# Each query counts the rows that break one rule; all must count 0.
BROKEN = {
    "child_count differs from the links": """
        SELECT count(*) FROM bags b
         WHERE child_count <> (SELECT count(*) FROM links l WHERE l.parent_id = b.id)""",
    "completed_at not set exactly when full": """
        SELECT count(*) FROM bags WHERE kind = 'P' AND (completed_at IS NOT NULL) <> (child_count = capacity)""",
    "parent_count differs from bill_parents": """
        SELECT count(*) FROM bills l
         WHERE parent_count <> (SELECT count(*) FROM bill_parents p WHERE p.bill_id = l.id)""",
    "an incomplete parent, or one of another area, on a bill": """
        SELECT count(*) FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id JOIN bills l ON l.id = bp.bill_id
         WHERE b.completed_at IS NULL OR b.area <> l.area OR bp.added_at < b.completed_at""",
    "a completed bill without parents":
        "SELECT count(*) FROM bills WHERE status = 'completed' AND parent_count = 0",
    "a parent code not of its format": """
        SELECT count(*) FROM bags b JOIN parent_formats f ON f.name = b.format
         WHERE b.code !~ f.pattern OR b.capacity <> f.capacity""",
    "a child code that is not 4-20 of A-Z0-9, or looks like a parent": """
        SELECT count(*) FROM bags b WHERE kind = 'C'
           AND (code !~ '^[A-Z0-9]{4,20}$'
                OR EXISTS (SELECT 1 FROM parent_formats f WHERE b.code ~ f.pattern))""",
    "a child in another area than its parent": """
        SELECT count(*) FROM links l JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id
         WHERE c.area <> p.area""",
    "a link without its accepted child scan": """
        SELECT count(*) FROM links l JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id
         WHERE NOT EXISTS (SELECT 1 FROM scans s WHERE s.op = 'child' AND s.code = c.code AND s.target = p.code
                              AND s.result = 'OK' AND s.server_time = l.linked_at AND s.user_id = l.linked_by)""",
    "a child scan without its link": """
        SELECT (SELECT count(*) FROM scans WHERE op = 'child') - (SELECT count(*) FROM links)""",
    "a parent without its creating scan": """
        SELECT count(*) FROM bags b WHERE kind = 'P'
           AND NOT EXISTS (SELECT 1 FROM scans s WHERE s.op = 'parent' AND s.code = b.code)""",
    "a bill parent without its bill_add scan": """
        SELECT count(*) FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id JOIN bills l ON l.id = bp.bill_id
         WHERE NOT EXISTS (SELECT 1 FROM scans s
                            WHERE s.op = 'bill_add' AND s.code = b.code AND s.target = l.code)""",
    "a device whose last_seq is not its scans' last, or whose seqs have gaps": """
        SELECT count(*) FROM (SELECT device_id, max(seq) AS last, count(*) AS n FROM scans GROUP BY device_id) s
          LEFT JOIN devices d USING (device_id)
         WHERE d.last_seq IS DISTINCT FROM s.last OR s.n <> s.last""",
    "a device's scan earlier than its previous one": """
        SELECT count(*) FROM (
            SELECT server_time < lag(server_time) OVER (PARTITION BY device_id ORDER BY seq) AS back FROM scans
        ) s WHERE back""",
    "a scan in the future": "SELECT count(*) FROM scans WHERE server_time > now() OR client_time > server_time",
    "scan_stats disagreeing with the scans": """
        SELECT count(*) FROM (
            (SELECT minute, area, device_id, accepted, rejected, children_linked, parents_completed,
                    bills_completed FROM scan_stats
             EXCEPT
             SELECT date_trunc('minute', s.server_time), s.area, s.device_id,
                    count(*) FILTER (WHERE s.result = 'OK'), count(*) FILTER (WHERE s.result <> 'OK'),
                    count(*) FILTER (WHERE s.op = 'child'),
                    count(*) FILTER (WHERE s.op = 'child' AND p.completed_at = s.server_time
                                     AND p.child_count = p.capacity),
                    count(*) FILTER (WHERE s.op = 'bill_finish')
               FROM scans s LEFT JOIN bags p ON s.op = 'child' AND p.code = s.target
              GROUP BY 1, 2, 3)
        ) x""",
    "scan_stats missing scans": """
        SELECT (SELECT count(*) FROM scans) - (SELECT coalesce(sum(accepted + rejected), 0) FROM scan_stats)""",
}


async def broken_rules(conn: asyncpg.Connection) -> dict[str, int]:
    """Each rule some rows break, with how many."""
    counts = {rule: await conn.fetchval(sql) for rule, sql in BROKEN.items()}
    return {rule: n for rule, n in counts.items() if n}


async def assert_invariants(conn: asyncpg.Connection) -> None:
    broken = await broken_rules(conn)
    assert broken == {}, broken



async def planned_chunk(pool: asyncpg.Pool, bags: int) -> Chunk:
    """The first chunk of a run of `bags` bags (one chunk, with finished bills, from 10,000 up)."""
    async with pool.acquire() as conn:
        chunks = await seeding.plan(conn, bags, await formats_store.load(pool), seeding.SeedReport(bags=bags))
    return next(chunks)


async def chunk_written(conn: asyncpg.Connection, chunk: Chunk) -> dict[str, int]:
    """How many rows of the chunk are in the database, table by table."""
    first, last = chunk.ids.start, chunk.ids.stop - 1
    row = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM bags WHERE id BETWEEN $1 AND $2) AS bags,
                  (SELECT count(*) FROM links WHERE child_id BETWEEN $1 AND $2) AS links,
                  (SELECT count(*) FROM bills WHERE code = ANY($3::text[])) AS bills,
                  (SELECT count(*) FROM scans WHERE device_id = ANY($4::text[])) AS scans,
                  (SELECT count(*) FROM devices WHERE device_id = ANY($4::text[])) AS devices,
                  (SELECT count(*) FROM scan_stats WHERE device_id = ANY($4::text[])) AS scan_stats""",
        first, last, [bill[0] for bill in chunk.bills], list(chunk.devices))
    assert row is not None
    return dict(row)


@asynccontextmanager
async def role_without_superuser(pool: asyncpg.Pool, database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool of a new role with every right on the database's tables but not superuser (so it may
    not turn triggers off); the role goes again afterwards."""
    role = f"tt_seed_{uuid.uuid4().hex[:8]}"
    await pool.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        await pool.execute(f'GRANT USAGE, CREATE ON SCHEMA public TO "{role}"; '
                           f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"; '
                           f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
        scheme, _, rest = database_url.partition("://")
        role_pool = await create_pool(f"{scheme}://{role}@{rest.rpartition('@')[2]}", 4)
        try:
            yield role_pool
        finally:
            await role_pool.close()
    finally:
        await pool.execute(f'DROP OWNED BY "{role}"; DROP ROLE "{role}"')


async def scan_through_the_writer(pool: asyncpg.Pool) -> None:
    """What a shift in indore leaves: a complete parent billed on a finished bill, a partial parent,
    scanned by a dispatcher and a biller through the batch writer."""
    users = await pool.fetch(
        """INSERT INTO users (username, password_hash, role, area)
           VALUES ('shift-op', 'x', 'dispatcher', 'indore'), ('shift-biller', 'x', 'biller', 'indore')
           RETURNING id, username, role""")
    dispatcher, biller = (rules.Actor(u["id"], u["username"], rules.Role(u["role"]), "indore") for u in users)

    async def on_commit(batch: Committed) -> None:
        pass

    writer = BatchWriter(pool, await formats_store.load(pool), max_ops=100, max_delay=0.001, on_commit=on_commit)
    writer.start()
    seqs: dict[str, int] = {}

    async def scan(device: str, actor: rules.Actor, operation: rules.Operation) -> None:
        seqs[device] = seqs.get(device, 0) + 1
        result = await writer.submit(Submission(device, seqs[device], actor, operation, datetime.now(UTC)))
        assert result.outcome.ok, result.outcome

    try:
        for parent, children in (("SB00001", 30), ("SB00002", 5)):
            await scan("shift-scanner", dispatcher, rules.ScanParent(parent))
            for n in range(children):
                await scan("shift-scanner", dispatcher, rules.ScanChild(f"SHIFT{parent[2:]}{n:03d}", parent))
        await scan("shift-biller", biller, rules.CreateBill("SHIFT-BILL-1", 10))
        await scan("shift-biller", biller, rules.AddToBill("SHIFT-BILL-1", "SB00001"))
        await scan("shift-biller", biller, rules.FinishBill("SHIFT-BILL-1"))
    finally:
        await writer.close(5)
