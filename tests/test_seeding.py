"""`tracetrack seed`: realistic data whose counters, links, bills and scan history all agree."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub import seeding

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


async def assert_invariants(conn: asyncpg.Connection) -> None:
    broken = {rule: await conn.fetchval(sql) for rule, sql in BROKEN.items()}
    assert {rule: n for rule, n in broken.items() if n} == {}


@pytest.fixture
async def conn(clean_db: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with clean_db.acquire() as connection:
        yield connection


async def test_seeded_data_is_realistic_and_keeps_every_invariant(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    report = await seeding.seed(clean_db, 10_000)

    await assert_invariants(conn)
    counts = await conn.fetchrow(
        """SELECT (SELECT count(*) FROM bags) AS bags,
                  (SELECT count(*) FROM bags WHERE kind = 'P') AS parents,
                  (SELECT count(*) FROM bags WHERE completed_at IS NOT NULL) AS complete,
                  (SELECT count(*) FROM links) AS linked,
                  (SELECT count(*) FROM bills) AS bills,
                  (SELECT count(*) FROM bills WHERE status = 'completed') AS completed_bills,
                  (SELECT count(*) FROM bill_parents) AS billed,
                  (SELECT count(*) FROM scans) AS scans""")
    assert dict(counts) == {
        "bags": 10_000, "parents": sum(report.parents.values()), "complete": report.complete_parents,
        "linked": report.children_linked, "bills": report.bills, "completed_bills": report.bills_completed,
        "billed": report.parents_billed, "scans": report.scans,
    }
    assert report.children_loose == 0
    # Mostly standard parents, some minis; most complete, some partial; bills done and in progress.
    assert report.parents["standard"] > report.parents["mini"] > 0
    assert 0.75 < report.complete_parents / sum(report.parents.values()) < 1
    assert 0 < report.bills_completed < report.bills
    assert 0 < report.parents_billed < report.complete_parents
    assert await conn.fetchval("SELECT count(DISTINCT area) FROM bags") > 3
    assert await conn.fetchval("SELECT count(DISTINCT length(code)) FROM bags WHERE kind = 'C'") > 1
    users = await conn.fetch("SELECT role, count(DISTINCT area) AS areas FROM users WHERE username LIKE 'seed.%' "
                             "GROUP BY role ORDER BY role")
    assert [(u["role"], u["areas"]) for u in users] == [("biller", 10), ("dispatcher", 10)]
    assert report.users_created == report.users == 50 and report.password
    assert "Seeded 10,000 bags" in str(report)
    assert await conn.fetchval("SELECT after->>'bags' FROM audit_log WHERE action = 'seed'") == "10000"


async def test_seeding_again_adds_to_what_is_there(clean_db: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    first = await seeding.seed(clean_db, 2000)
    second = await seeding.seed(clean_db, 1500)

    await assert_invariants(conn)
    assert await conn.fetchval("SELECT count(*) FROM bags") == 3500
    assert await conn.fetchval("SELECT count(*) FROM bags WHERE kind = 'P'") == (
        sum(first.parents.values()) + sum(second.parents.values()))
    assert await conn.fetchval("SELECT count(*) FROM users WHERE username LIKE 'seed.%'") == 50
    assert (second.users_created, second.password) == (0, None)
    # Every run scans with new devices, numbered from 1 (checked by assert_invariants).
    assert await conn.fetchval("SELECT count(DISTINCT split_part(device_id, '-', 2)) FROM devices") == 2


async def test_when_parent_codes_run_out_the_other_bags_are_children_in_no_parent(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await conn.execute("UPDATE parent_formats SET pattern = '^SB[0-9]{2}$' WHERE name = 'standard'")
    await conn.execute("UPDATE parent_formats SET pattern = '^M444-[0-9]{1}$' WHERE name = 'mini'")
    try:
        report = await seeding.seed(clean_db, 5000)
        await assert_invariants(conn)
    finally:
        await conn.execute("UPDATE parent_formats SET pattern = '^SB[0-9]{5}$' WHERE name = 'standard'")
        await conn.execute("UPDATE parent_formats SET pattern = '^M444-[0-9]{5}$' WHERE name = 'mini'")

    assert report.parents == {"standard": 100, "mini": 10}
    assert report.children_loose == 5000 - 110 - report.children_linked > 1000
    assert await conn.fetchval(
        "SELECT count(*) FROM bags WHERE kind = 'C' AND id NOT IN (SELECT child_id FROM links)"
    ) == report.children_loose
    assert "Parent codes ran out" in str(report)
