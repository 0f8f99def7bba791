"""The schema holds every invariant itself: each test tries to break one with raw SQL.

Races are played out for real: two connections, the second transaction started while the first is
still open, and the first committed only once the second waits for it (or has already finished).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from hub.migrate import load_migrations, migrate
from tests import services

Step = Callable[[asyncpg.Connection], Awaitable[object]]

# --- migrations -------------------------------------------------------------------------------

SCHEMA_DUMP = """
    SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' '
           || is_nullable || ' ' || coalesce(column_default, '')
      FROM information_schema.columns WHERE table_schema = 'public'
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger
     WHERE NOT tgisinternal AND tgrelid::regclass::text NOT LIKE 'pg_%'
    UNION ALL
    SELECT 'function ' || pg_get_functiondef(oid) FROM pg_proc
     WHERE pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'sequence ' || sequence_name || ' ' || data_type FROM information_schema.sequences
     WHERE sequence_schema = 'public'
    UNION ALL
    SELECT 'area ' || a::text FROM areas a
    UNION ALL
    SELECT 'format ' || f::text FROM parent_formats f
    UNION ALL
    SELECT 'migration ' || m::text FROM schema_migrations m
"""


async def schema_dump(conn: asyncpg.Connection) -> list[str]:
    """Tables, constraints, indexes, triggers, functions, sequences and configuration rows."""
    return sorted(row[0] for row in await conn.fetch(SCHEMA_DUMP))


@pytest.fixture
def empty_database(postgres_server_url: str) -> Iterator[str]:
    """A database of this test's own with nothing in it, dropped afterwards."""
    with services.test_database(postgres_server_url) as url:
        yield url


async def test_migrations_build_an_empty_database_then_change_nothing(empty_database: str) -> None:
    conn = await asyncpg.connect(empty_database)
    try:
        first = await migrate(conn)
        assert [m.version for m in first] == [m.version for m in load_migrations()]
        assert await conn.fetchval("SELECT count(*) FROM areas") == 10
        assert await conn.fetchval("SELECT count(*) FROM parent_formats") == 2
        before = await schema_dump(conn)
        for table in ("bags", "links", "bills", "bill_parents", "scans", "devices", "scan_stats"):
            assert any(line.startswith(f"column {table}.") for line in before), table
        assert any(line.startswith("trigger CREATE TRIGGER links_count_insert") for line in before)

        assert await migrate(conn) == []
        assert await schema_dump(conn) == before
    finally:
        await conn.close()


async def test_hub_processes_migrating_at_once_apply_each_migration_once(empty_database: str) -> None:
    first, second = await asyncpg.connect(empty_database), await asyncpg.connect(empty_database)
    try:
        results = await asyncio.gather(migrate(first), migrate(second))
        assert sorted(len(applied) for applied in results) == [0, len(load_migrations())]
        assert await first.fetchval("SELECT count(*) FROM schema_migrations") == len(load_migrations())
    finally:
        await first.close()
        await second.close()



async def test_a_migration_may_outlast_the_connections_statement_timeout(empty_database: str,
                                                                        tmp_path: Path) -> None:
    """An index over tens of millions of rows takes minutes; the hub's connections give up on a
    statement after 30 s. Here the bound is 0.2 s and the migration takes 1 s."""
    (tmp_path / "0001_slow.sql").write_text("SELECT pg_sleep(1); CREATE TABLE slowly_made (id int);")
    conn = await asyncpg.connect(empty_database, command_timeout=0.2)
    try:
        assert [m.name for m in await migrate(conn, tmp_path)] == ["slow"]
        assert await conn.fetchval("SELECT to_regclass('slowly_made') IS NOT NULL")
    finally:
        await conn.close()


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture
async def conn(clean_db: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    async with clean_db.acquire() as connection:
        yield connection


async def parent(conn: asyncpg.Connection, code: str, fmt: str = "mini") -> int:
    return await conn.fetchval(
        """INSERT INTO bags (code, kind, format, capacity, expected_kg, area)
           SELECT $1, 'P', name, capacity, expected_kg, 'lucknow' FROM parent_formats WHERE name = $2
           RETURNING id""",
        code, fmt,
    )


async def children(conn: asyncpg.Connection, prefix: str, n: int) -> list[int]:
    rows = await conn.fetch(
        """INSERT INTO bags (code, kind, area)
           SELECT $1 || lpad(i::text, 4, '0'), 'C', 'lucknow' FROM generate_series(1, $2) AS i
           RETURNING id""",
        prefix, n,
    )
    return [row["id"] for row in rows]


async def link(conn: asyncpg.Connection, parent_id: int, child_ids: list[int]) -> None:
    await conn.execute("INSERT INTO links (child_id, parent_id) SELECT unnest($1::bigint[]), $2",
                       child_ids, parent_id)


async def full_parent(conn: asyncpg.Connection, code: str) -> int:
    """A complete mini parent (15 children)."""
    parent_id = await parent(conn, code)
    await link(conn, parent_id, await children(conn, f"C{code}", 15))
    return parent_id


async def bill(conn: asyncpg.Connection, code: str, capacity: int) -> int:
    return await conn.fetchval(
        "INSERT INTO bills (code, capacity, area) VALUES ($1, $2, 'lucknow') RETURNING id", code, capacity
    )


async def put_on_bill(conn: asyncpg.Connection, bill_id: int, parent_ids: list[int]) -> None:
    await conn.execute("INSERT INTO bill_parents (parent_id, bill_id) SELECT unnest($1::bigint[]), $2",
                       parent_ids, bill_id)


async def unlink_one(conn: asyncpg.Connection, parent_id: int) -> None:
    await conn.execute("DELETE FROM links WHERE child_id = (SELECT max(child_id) FROM links WHERE parent_id = $1)",
                       parent_id)


async def complete_bill(conn: asyncpg.Connection, bill_id: int) -> None:
    await conn.execute("UPDATE bills SET status = 'completed', completed_at = now() WHERE id = $1", bill_id)


async def child_count(conn: asyncpg.Connection, parent_id: int) -> tuple[int, int]:
    """(bags.child_count, number of links) of a parent."""
    row = await conn.fetchrow(
        "SELECT child_count, (SELECT count(*) FROM links WHERE parent_id = $1) AS links FROM bags WHERE id = $1",
        parent_id,
    )
    return row["child_count"], row["links"]


@dataclass(frozen=True)
class Race:
    blocked: bool
    """The second transaction waited for the first's locks."""
    error: asyncpg.PostgresError | None
    """What the second transaction failed with, once the first had committed."""


async def race(pool: asyncpg.Pool, first: Step, second: Step) -> Race:
    """Run `first` in one transaction and, while it is open, `second` in another; commit the first
    once the second waits for it (or has finished), then commit the second if it succeeded."""
    async with pool.acquire() as a, pool.acquire() as b:
        open_transactions = [a.transaction(), b.transaction()]
        for tx in open_transactions:
            await tx.start()
        task: asyncio.Task[object] | None = None
        try:
            await first(a)
            task = asyncio.create_task(second(b))
            blocked = await _blocked_or_done(pool, b.get_server_pid(), task)
            await open_transactions.pop(0).commit()
            try:
                await task
            except asyncpg.PostgresError as exc:
                return Race(blocked, exc)
            await open_transactions.pop().commit()
            return Race(blocked, None)
        finally:
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, asyncpg.PostgresError):
                    await task
            for tx in open_transactions:
                await tx.rollback()


async def _blocked_or_done(pool: asyncpg.Pool, pid: int, task: asyncio.Task[object]) -> bool:
    for _ in range(1000):
        if task.done():
            return False
        if await pool.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
            return True
        await asyncio.sleep(0.01)
    raise AssertionError("the second transaction neither finished nor waited for a lock")


# --- parents and children ---------------------------------------------------------------------


async def test_a_child_goes_only_into_a_parent_of_its_area(conn: asyncpg.Connection) -> None:
    parent_id = await parent(conn, "M444-00031")
    (child_id,) = await children(conn, "CX", 1)
    await conn.execute("UPDATE bags SET area = 'indore' WHERE id = $1", child_id)
    with pytest.raises(asyncpg.CheckViolationError, match="its own dispatch area"):
        await link(conn, parent_id, [child_id])


async def test_a_parent_changes_area_only_with_its_children(conn: asyncpg.Connection) -> None:
    parent_id = await parent(conn, "M444-00032")
    child_ids = await children(conn, "CY", 2)
    await link(conn, parent_id, child_ids)
    for alone in ([parent_id], child_ids[:1]):
        with pytest.raises(asyncpg.CheckViolationError, match="with all its children"):
            await conn.execute("UPDATE bags SET area = 'indore' WHERE id = ANY($1::bigint[])", alone)
    await conn.execute("UPDATE bags SET area = 'indore' WHERE id = ANY($1::bigint[])", [parent_id, *child_ids])
    assert await conn.fetchval("SELECT count(DISTINCT area) FROM bags WHERE id = ANY($1::bigint[])",
                               [parent_id, *child_ids]) == 1


async def test_a_child_is_in_one_parent_only(conn: asyncpg.Connection) -> None:
    first, second = await parent(conn, "M444-00001"), await parent(conn, "M444-00002")
    [child] = await children(conn, "KID", 1)
    await link(conn, first, [child])
    for target in (second, first):
        with pytest.raises(asyncpg.UniqueViolationError):
            await link(conn, target, [child])
    assert await child_count(conn, first) == (1, 1)
    assert await child_count(conn, second) == (0, 0)


async def test_a_child_is_in_one_parent_only_under_a_race(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    first, second = await parent(conn, "M444-00001"), await parent(conn, "M444-00002")
    [child] = await children(conn, "KID", 1)
    result = await race(clean_db, lambda c: link(c, first, [child]), lambda c: link(c, second, [child]))
    assert result.blocked
    assert isinstance(result.error, asyncpg.UniqueViolationError)
    assert await child_count(conn, first) == (1, 1)
    assert await child_count(conn, second) == (0, 0)


async def test_a_parent_never_holds_more_than_its_capacity(conn: asyncpg.Connection) -> None:
    mini = await parent(conn, "M444-00001")
    kids = await children(conn, "KID", 16)
    with pytest.raises(asyncpg.CheckViolationError):
        await link(conn, mini, kids)
    await link(conn, mini, kids[:15])
    with pytest.raises(asyncpg.CheckViolationError):
        await link(conn, mini, kids[15:])
    assert await child_count(conn, mini) == (15, 15)


async def test_two_transactions_filling_the_last_free_slot(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    mini = await parent(conn, "M444-00001")
    kids = await children(conn, "KID", 16)
    await link(conn, mini, kids[:14])
    result = await race(clean_db, lambda c: link(c, mini, [kids[14]]), lambda c: link(c, mini, [kids[15]]))
    assert result.blocked
    assert isinstance(result.error, asyncpg.CheckViolationError)
    assert await child_count(conn, mini) == (15, 15)


async def test_links_join_a_child_to_a_parent_and_nothing_else(conn: asyncpg.Connection) -> None:
    big, small = await parent(conn, "SB00001", "standard"), await parent(conn, "M444-00001")
    [child, other_child] = await children(conn, "KID", 2)
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # a parent inside a parent
        await link(conn, big, [small])
    with pytest.raises(asyncpg.CheckViolationError):  # ... even claiming to be a child
        await conn.execute("INSERT INTO links (child_id, child_kind, parent_id) VALUES ($1, 'P', $2)", small, big)
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # a child as a parent
        await link(conn, child, [other_child])
    with pytest.raises(asyncpg.ForeignKeyViolationError):  # a child on a bill
        await put_on_bill(conn, await bill(conn, "B1", 5), [child])
    assert await conn.fetchval("SELECT count(*) FROM links") == 0


@pytest.mark.parametrize("change", [
    "kind = 'C', format = NULL, capacity = NULL, expected_kg = NULL",
    "capacity = 40",
])
async def test_a_parent_stays_a_parent_of_its_capacity(conn: asyncpg.Connection, change: str) -> None:
    big = await parent(conn, "SB00001", "standard")
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute(f"UPDATE bags SET {change} WHERE id = $1", big)


async def test_a_child_stays_a_child(conn: asyncpg.Connection) -> None:
    [child] = await children(conn, "KID", 1)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE bags SET kind = 'P', format = 'mini', capacity = 15, expected_kg = 15 "
                           "WHERE id = $1", child)


async def test_child_count_moves_only_with_links(conn: asyncpg.Connection) -> None:
    """Else lowering the counter would let a parent take more children than it holds."""
    mini = await full_parent(conn, "M444-00001")
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE bags SET child_count = 0, completed_at = NULL WHERE id = $1", mini)
    with pytest.raises(asyncpg.RestrictViolationError):  # a "complete" parent with no children
        await conn.execute(
            """INSERT INTO bags (code, kind, format, capacity, expected_kg, area, child_count, completed_at)
               VALUES ('M444-00002', 'P', 'mini', 15, 15, 'lucknow', 15, now())""")
    assert await child_count(conn, mini) == (15, 15)


async def test_parent_count_moves_only_with_bill_parents(conn: asyncpg.Connection) -> None:
    with pytest.raises(asyncpg.RestrictViolationError):  # a "completed" bill with no parents
        await conn.execute("INSERT INTO bills (code, capacity, area, parent_count, status, completed_at) "
                           "VALUES ('B1', 5, 'lucknow', 1, 'completed', now())")
    bill_id = await bill(conn, "B2", 5)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE bills SET parent_count = 1 WHERE id = $1", bill_id)


async def test_on_bill_follows_bill_parents_and_nothing_else(conn: asyncpg.Connection) -> None:
    parents = [await full_parent(conn, f"M444-0000{n}") for n in (1, 2, 3)]
    bill_id = await bill(conn, "B1", 5)

    async def on_bill() -> list[bool]:
        rows = await conn.fetch("SELECT on_bill FROM bags WHERE id = ANY($1::bigint[]) ORDER BY id", parents)
        return [row["on_bill"] for row in rows]

    assert await on_bill() == [False, False, False]
    await put_on_bill(conn, bill_id, parents[:2])
    assert await on_bill() == [True, True, False]
    await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", parents[0])
    assert await on_bill() == [False, True, False]
    for parent_id, value in ((parents[2], True), (parents[1], False)):
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute("UPDATE bags SET on_bill = $2 WHERE id = $1", parent_id, value)
    assert await on_bill() == [False, True, False]


async def test_completed_at_is_set_exactly_when_a_parent_is_full(conn: asyncpg.Connection) -> None:
    mini = await parent(conn, "M444-00001")
    kids = await children(conn, "KID", 15)

    async def completed() -> bool:
        return await conn.fetchval("SELECT completed_at IS NOT NULL FROM bags WHERE id = $1", mini)

    await link(conn, mini, kids[:14])
    assert not await completed()
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE bags SET completed_at = now() WHERE id = $1", mini)
    await link(conn, mini, kids[14:])
    assert await completed()
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE bags SET completed_at = NULL WHERE id = $1", mini)
    await unlink_one(conn, mini)
    assert not await completed()
    assert await child_count(conn, mini) == (14, 14)


@pytest.mark.parametrize("change", ["parent_id = $2", "linked_at = linked_at - interval '1 day'"])
async def test_links_are_never_updated(conn: asyncpg.Connection, change: str) -> None:
    first, second = await parent(conn, "M444-00001"), await parent(conn, "M444-00002")
    [child] = await children(conn, "KID", 1)
    await link(conn, first, [child])
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute(f"UPDATE links SET {change} WHERE child_id = $1",
                           child, *([second] if "$2" in change else []))
    assert await child_count(conn, first) == (1, 1)


# --- bills ------------------------------------------------------------------------------------


async def test_a_parent_is_on_one_bill_only(conn: asyncpg.Connection) -> None:
    mini = await full_parent(conn, "M444-00001")
    first, second = await bill(conn, "B1", 5), await bill(conn, "B2", 5)
    await put_on_bill(conn, first, [mini])
    with pytest.raises(asyncpg.UniqueViolationError):
        await put_on_bill(conn, second, [mini])
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE bill_parents SET bill_id = $1 WHERE parent_id = $2", second, mini)
    assert await conn.fetch("SELECT code, parent_count FROM bills ORDER BY code") == [("B1", 1), ("B2", 0)]


async def test_a_parent_is_on_one_bill_only_under_a_race(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    mini = await full_parent(conn, "M444-00001")
    first, second = await bill(conn, "B1", 5), await bill(conn, "B2", 5)
    result = await race(clean_db, lambda c: put_on_bill(c, first, [mini]),
                        lambda c: put_on_bill(c, second, [mini]))
    assert result.blocked
    assert isinstance(result.error, asyncpg.UniqueViolationError)
    assert await conn.fetch("SELECT code, parent_count FROM bills ORDER BY code") == [("B1", 1), ("B2", 0)]


async def test_a_bill_never_holds_more_than_its_capacity(conn: asyncpg.Connection) -> None:
    parents = [await full_parent(conn, f"M444-0000{i}") for i in range(1, 4)]
    bill_id = await bill(conn, "B1", 2)
    with pytest.raises(asyncpg.CheckViolationError):
        await put_on_bill(conn, bill_id, parents)
    await put_on_bill(conn, bill_id, parents[:2])
    with pytest.raises(asyncpg.CheckViolationError):
        await put_on_bill(conn, bill_id, parents[2:])
    assert await conn.fetchval("SELECT parent_count FROM bills WHERE id = $1", bill_id) == 2


async def test_two_transactions_filling_a_bills_last_slot(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    first, second = await full_parent(conn, "M444-00001"), await full_parent(conn, "M444-00002")
    bill_id = await bill(conn, "B1", 1)
    result = await race(clean_db, lambda c: put_on_bill(c, bill_id, [first]),
                        lambda c: put_on_bill(c, bill_id, [second]))
    assert result.blocked
    assert isinstance(result.error, asyncpg.CheckViolationError)
    assert await conn.fetchval("SELECT parent_count FROM bills WHERE id = $1", bill_id) == 1
    assert await conn.fetchval("SELECT array_agg(parent_id) FROM bill_parents") == [first]


async def test_only_complete_parents_go_on_a_bill(conn: asyncpg.Connection) -> None:
    mini = await parent(conn, "M444-00001")
    await link(conn, mini, await children(conn, "KID", 14))
    with pytest.raises(asyncpg.CheckViolationError):
        await put_on_bill(conn, await bill(conn, "B1", 5), [mini])


@pytest.mark.parametrize("unlink_first", [True, False], ids=["unlink-then-bill", "bill-then-unlink"])
async def test_a_parent_being_emptied_does_not_go_on_a_bill(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection, unlink_first: bool
) -> None:
    """An undo of a child and the parent's bill scan at the same moment: only one of them wins."""
    mini = await full_parent(conn, "M444-00001")
    bill_id = await bill(conn, "B1", 5)
    steps: tuple[Step, Step] = (lambda c: unlink_one(c, mini), lambda c: put_on_bill(c, bill_id, [mini]))
    result = await race(clean_db, *(steps if unlink_first else steps[::-1]))
    assert result.blocked
    assert isinstance(result.error, asyncpg.CheckViolationError)
    on_bill = await conn.fetchval("SELECT count(*) FROM bill_parents WHERE parent_id = $1", mini)
    assert (await child_count(conn, mini), on_bill) == (((14, 14), 0) if unlink_first else ((15, 15), 1))


async def test_only_open_bills_take_parents(conn: asyncpg.Connection) -> None:
    first, second = await full_parent(conn, "M444-00001"), await full_parent(conn, "M444-00002")
    bill_id = await bill(conn, "B1", 5)
    await put_on_bill(conn, bill_id, [first])
    await complete_bill(conn, bill_id)
    with pytest.raises(asyncpg.CheckViolationError):
        await put_on_bill(conn, bill_id, [second])


async def test_a_bill_being_completed_takes_no_more_parents(
    clean_db: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    first, second = await full_parent(conn, "M444-00001"), await full_parent(conn, "M444-00002")
    bill_id = await bill(conn, "B1", 5)
    await put_on_bill(conn, bill_id, [first])
    result = await race(clean_db, lambda c: complete_bill(c, bill_id),
                        lambda c: put_on_bill(c, bill_id, [second]))
    assert result.blocked
    assert isinstance(result.error, asyncpg.CheckViolationError)
    bill_row = await conn.fetchrow("SELECT status, parent_count FROM bills WHERE id = $1", bill_id)
    assert tuple(bill_row) == ("completed", 1)


async def test_a_completed_bill_has_a_parent(clean_db: asyncpg.Pool, conn: asyncpg.Connection) -> None:
    empty = await bill(conn, "B1", 5)
    with pytest.raises(asyncpg.CheckViolationError):
        await complete_bill(conn, empty)
    mini = await full_parent(conn, "M444-00001")
    bill_id = await bill(conn, "B2", 5)
    await put_on_bill(conn, bill_id, [mini])
    result = await race(clean_db, lambda c: c.execute("DELETE FROM bill_parents WHERE parent_id = $1", mini),
                        lambda c: complete_bill(c, bill_id))
    assert result.blocked
    assert isinstance(result.error, asyncpg.CheckViolationError)
    assert await conn.fetchrow("SELECT status, parent_count FROM bills WHERE id = $1", bill_id) == ("open", 0)


async def test_a_parent_on_a_bill_keeps_its_children(conn: asyncpg.Connection) -> None:
    mini = await full_parent(conn, "M444-00001")
    await put_on_bill(conn, await bill(conn, "B1", 5), [mini])
    with pytest.raises(asyncpg.CheckViolationError):
        await unlink_one(conn, mini)
    assert await child_count(conn, mini) == (15, 15)


# --- codes and scans --------------------------------------------------------------------------


async def test_codes_are_unique_whatever_their_case(conn: asyncpg.Connection) -> None:
    await parent(conn, "SB00001", "standard")
    with pytest.raises(asyncpg.CheckViolationError):
        await parent(conn, "sb00001", "standard")
    with pytest.raises(asyncpg.UniqueViolationError):
        await parent(conn, "SB00001", "standard")
    await children(conn, "KELVIN", 1)
    with pytest.raises(asyncpg.CheckViolationError):  # upper-case already, but lower-cases to "kelvin0001"
        await children(conn, "\u212aELVIN", 1)
    await bill(conn, "B-1", 5)
    for code in ("b-1", "\u212a-1"):
        with pytest.raises(asyncpg.CheckViolationError):
            await bill(conn, code, 5)
    assert await conn.fetchval("SELECT count(DISTINCT lower(code)) FROM bags") == 2


async def test_a_devices_scan_number_is_used_once(conn: asyncpg.Connection) -> None:
    insert = "INSERT INTO scans (device_id, seq, op, result) VALUES ($1, $2, 'child', 'OK')"
    await conn.execute(insert, "dev-1", 1)
    await conn.execute(insert, "dev-2", 1)
    with pytest.raises(asyncpg.UniqueViolationError):
        await conn.execute(insert, "dev-1", 1)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute(insert, "dev-1", 0)


async def test_the_hubs_connections_plan_per_call_and_never_jit_compile(clean_db: asyncpg.Pool) -> None:
    """At 10 million bags the cost estimates of a 1 ms lookup cross JIT's threshold (40-80 ms of compiling)."""
    assert await clean_db.fetchval("SHOW jit") == "off"
    assert await clean_db.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
