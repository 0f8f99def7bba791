"""`tracetrack seed`: realistic data whose counters, links, bills and scan history all agree."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from hub import seeding
from hub.store.seeding import may_load_set_wise
from tests.seeding_support import assert_invariants, broken_rules, role_without_superuser, scan_through_the_writer


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
    # The per-minute counters (dashboards) and the scan history (SQL, exports) count the same completions.
    assert await conn.fetchval("SELECT sum(parents_completed) FROM scan_stats") == report.complete_parents == \
        await conn.fetchval("SELECT count(*) FROM scans WHERE op = 'child' AND (detail->>'complete')::boolean")
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


async def test_seeding_a_database_that_is_in_use_adds_to_it_and_leaves_what_was_scanned(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await scan_through_the_writer(clean_db)
    before = await conn.fetch("SELECT * FROM bags ORDER BY id")
    bills_before = await conn.fetch("SELECT * FROM bills ORDER BY id")
    # The writer stamps a completion with its transaction's time, a moment before the completing
    # scan's server_time, which is what the rule matches by: its one parent counts before and after.
    scanned = await broken_rules(conn)
    assert scanned == {"scan_stats disagreeing with the scans": 1}

    report = await seeding.seed(clean_db, 5000)

    assert await broken_rules(conn) == scanned
    assert await conn.fetch("SELECT * FROM bags WHERE id <= $1 ORDER BY id", before[-1]["id"]) == before
    assert await conn.fetch("SELECT * FROM bills WHERE id <= $1 ORDER BY id", bills_before[-1]["id"]) == bills_before
    assert await conn.fetchval("SELECT count(*) FROM bags") == len(before) + 5000
    assert await conn.fetchval("SELECT count(*) FROM bills") == len(bills_before) + report.bills


async def test_a_role_that_may_not_turn_triggers_off_seeds_through_them(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection, database_url: str
) -> None:
    await seeding.seed(clean_db, 2000)
    async with role_without_superuser(clean_db, database_url) as pool:
        async with pool.acquire() as plain:
            assert not await may_load_set_wise(plain)
        await seeding.seed(pool, 1500)
    await seeding.seed(clean_db, 1000)

    await assert_invariants(conn)
    assert await conn.fetchval("SELECT count(*) FROM bags") == 4500
