"""The scans log partitioned by month (migration 0014): a populated database upgraded, partitions made
ahead at UTC month boundaries, exactly-once kept without a global unique key, lists pruned to the
months they bound and paged correctly across months, and a month archived and restored."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from hub import accounts, archive, partitions
from hub.batch import Result, Submission, apply_batch
from hub.cli import main
from hub.domain import rules
from hub.domain.filters import ScanFilter, TimeRange
from hub.domain.rules import Actor, Role
from hub.migrate import load_migrations, migrate
from hub.resources import MIGRATIONS_DIR
from hub.store import formats as formats_store
from hub.store import partitions as store
from hub.store.scans import list_scans
from tests import services
from tests.partitions_support import (
    Explaining,
    insert_scans,
    missing_indexes,
    month,
    months_read,
    partition_of,
    partition_rows,
)
from tests.services import tracetrack

FEB = datetime(2030, 2, 1, tzinfo=UTC)
"""A month boundary of the tests' own (far from now: its partitions are the tests' alone)."""


@pytest.fixture
def own_database(postgres_server_url: str) -> Iterator[str]:
    with services.test_database(postgres_server_url) as url:
        yield url


async def test_a_populated_database_is_upgraded_from_0013_with_its_rows_in_their_months(
        own_database: str, tmp_path: Path) -> None:
    for migration in load_migrations():
        if migration.version <= 13:
            shutil.copy(MIGRATIONS_DIR / f"{migration.version:04d}_{migration.name}.sql", tmp_path)
    conn = await asyncpg.connect(own_database)
    try:
        await conn.execute("SET TimeZone = 'Asia/Kolkata'")  # months are UTC whatever the session's zone
        await migrate(conn, tmp_path)
        # 0001-0013 only: one plain table, rows over four months, two of them on a boundary's sides.
        assert await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'scans'") == "r"
        september = datetime(2026, 9, 1, tzinfo=UTC)
        times = [datetime(2026, 8, 3, tzinfo=UTC), september - timedelta(microseconds=1), september,
                 datetime(2026, 10, 15, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC)]
        ids = await insert_scans(conn, [(f"dev-{n % 2}", n + 1, "lucknow", at) for n, at in enumerate(times)])
        before = await conn.fetch("SELECT * FROM scans ORDER BY id")

        assert [m.version for m in await migrate(conn)] == [14]

        assert await conn.fetchval("SELECT relkind::text FROM pg_class WHERE relname = 'scans'") == "p"
        assert await conn.fetch("SELECT * FROM scans ORDER BY id") == before
        assert [await partition_of(conn, i) for i in ids] == [
            "scans_2026_08", "scans_2026_08", "scans_2026_09", "scans_2026_10", "scans_2026_11"]
        held = await partition_rows(conn)
        assert {"scans_2026_08", "scans_2026_12", "scans_2027_01", "scans_default"} <= set(held)
        assert await missing_indexes(conn) == []
        new = (await insert_scans(conn, [("dev-9", 1, "lucknow", datetime.now(UTC))]))[0]
        assert new == ids[-1] + 1  # the same sequence carries on
    finally:
        await conn.close()


async def test_the_current_and_next_month_are_made_ahead_at_the_utc_boundary(clean_db: asyncpg.Pool) -> None:
    last_instant = FEB - timedelta(microseconds=1)
    made = await partitions.prepare(clean_db, last_instant)
    assert set(made) <= {month(2030, 1), month(2030, 2)}
    assert await partitions.prepare(clean_db, last_instant) == []  # nothing left to make
    async with clean_db.acquire() as conn:
        await conn.execute("SET TimeZone = 'America/Los_Angeles'")  # 16:00 on Jan 31 there
        ids = await insert_scans(conn, [("dev-1", 1, "lucknow", last_instant), ("dev-1", 2, "lucknow", FEB)])
        assert [await partition_of(conn, i) for i in ids] == ["scans_2030_01", "scans_2030_02"]
        assert await missing_indexes(conn) == []


async def test_the_hub_makes_the_partitions_at_start_and_then_again_every_round(clean_db: asyncpg.Pool) -> None:
    following = partitions.next_month(partitions.month_of(datetime.now(UTC)))
    name = store.table_name(following)
    keeper = partitions.PartitionKeeper(clean_db, every=0.1)
    await keeper.start()
    try:
        assert await store.state(clean_db, following) == "attached"
        await clean_db.execute(f"DROP TABLE {name}")  # empty: no scan is dated next month
        for _ in range(100):
            if await store.state(clean_db, following) == "attached":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"{name} was not made again")
    finally:
        await keeper.close()


async def test_a_month_without_a_partition_goes_to_the_default_until_its_partition_is_made(
        clean_db: asyncpg.Pool) -> None:
    at = datetime(2033, 5, 10, tzinfo=UTC)
    (scan,) = await insert_scans(clean_db, [("dev-1", 1, "lucknow", at)])
    assert await partition_of(clean_db, scan) == "scans_default"
    async with clean_db.acquire() as conn:
        assert await store.add_months(conn, [month(2033, 5)]) == [month(2033, 5)]
    assert await partition_of(clean_db, scan) == "scans_2033_05"
    assert (await partition_rows(clean_db))["scans_default"] == 0


async def test_a_new_devices_scan_sent_to_two_transactions_in_two_months_is_stored_once(
        clean_db: asyncpg.Pool) -> None:
    """No unique key spans months: the devices row's lock does. The device never said hello (no
    row to lock yet); the first transaction writes its scan in January and holds on, the second
    comes with the same (device, seq) in February, waits, and answers it as a replay."""
    async with clean_db.acquire() as conn:
        await store.add_months(conn, [month(2030, 1), month(2030, 2)])
    user = await accounts.create_user(clean_db, username="ravi", password="scan-all-day-long", role="dispatcher",
                                      area="lucknow")
    formats = await formats_store.load(clean_db)
    sub = Submission("dev-new", 1, Actor(user, "ravi", Role.DISPATCHER, "lucknow"), rules.ScanParent("SB00001"))

    first, second = await clean_db.acquire(), await clean_db.acquire()
    try:
        first_tx = first.transaction()
        await first_tx.start()
        (applied,), _ = await apply_batch(first, [sub], formats, FEB - timedelta(seconds=1))

        async def again() -> Result:
            async with second.transaction():
                (result,), _ = await apply_batch(second, [sub], formats, FEB + timedelta(days=3))
                return result

        racing = asyncio.create_task(again())
        for _ in range(200):  # until the second waits on the first's lock
            if await clean_db.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1",
                                       second.get_server_pid()):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the second transaction never waited for the first")
        await first_tx.commit()
        replayed = await asyncio.wait_for(racing, 10)
    finally:
        await clean_db.release(first)
        await clean_db.release(second)
    assert applied.outcome.code.value == "OK" and not applied.replay
    assert replayed.replay and replayed.outcome == applied.outcome
    rows = await clean_db.fetch("SELECT tableoid::regclass::text AS part FROM scans WHERE device_id = 'dev-new'")
    assert [r["part"] for r in rows] == ["scans_2030_01"]


async def test_a_list_reads_only_the_months_its_cursor_and_time_filter_allow(clean_db: asyncpg.Pool) -> None:
    async with clean_db.acquire() as conn:
        await store.add_months(conn, [month(2030, 1), month(2030, 2), month(2030, 3)])
        explaining = Explaining(conn)
        cursor = (FEB + timedelta(days=2), 10**9)
        await list_scans(explaining, ScanFilter(area="lucknow"), cursor, 20)
        await list_scans(explaining, ScanFilter(), None, 20)
        await list_scans(explaining, ScanFilter(at=TimeRange(FEB - timedelta(days=9), FEB - timedelta(days=2))),
                         None, 20)
    after_cursor, first_page, january = (months_read(plan) for plan in explaining.plans)
    assert {"scans_2030_01", "scans_2030_02", "scans_default"} <= after_cursor
    assert "scans_2030_03" not in after_cursor
    assert "scans_2030_03" in first_page
    assert january == {"scans_2030_01"}


# Instants on both sides of two month boundaries (with ties), and in a month with no partition.
INSTANTS = [FEB + timedelta(microseconds=d) for d in (-1, 0, 0, 1)] + [
    datetime(2030, 3, 1, tzinfo=UTC) + timedelta(seconds=d) for d in (-1, 0)] + [
    datetime(2030, 1, 5, tzinfo=UTC), datetime(2030, 7, 1, tzinfo=UTC)]
AREAS = ["lucknow", "jaipur"]


def test_keyset_pages_walk_every_row_once_in_order_across_months(database_url: str) -> None:
    async def prepare() -> None:
        conn = await asyncpg.connect(database_url)
        try:
            await store.add_months(conn, [month(2030, 1), month(2030, 2), month(2030, 3)])
        finally:
            await conn.close()

    asyncio.run(prepare())

    @hypothesis_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(rows=st.lists(st.tuples(st.sampled_from(INSTANTS), st.sampled_from(AREAS), st.sampled_from(["a", "b"])),
                         max_size=30),
           limit=st.integers(1, 7), by=st.sampled_from(["none", "area", "device"]))
    def check(rows: list[tuple[datetime, str, str]], limit: int, by: str) -> None:
        flt = {"none": ScanFilter(), "area": ScanFilter(area="jaipur"), "device": ScanFilter(device="dev-a")}[by]
        assert asyncio.run(walk(database_url, rows, flt, limit)) is None

    check()


async def walk(url: str, rows: list[tuple[datetime, str, str]], flt: ScanFilter, limit: int) -> None:
    """Insert `rows` (rolled back after), walk the list page by page, compare with the rows sorted."""
    conn = await asyncpg.connect(url)
    try:
        async with conn.transaction():
            await conn.execute("TRUNCATE scans")
            ids = await insert_scans(conn, [(f"dev-{device}", n + 1, area, at)
                                            for n, (at, area, device) in enumerate(rows)])
            wanted = sorted(((at, i) for i, (at, area, device) in zip(ids, rows)
                             if flt.area in (None, area) and flt.device in (None, f"dev-{device}")), reverse=True)
            seen: list[Any] = []
            after = None
            while True:
                page = await list_scans(conn, flt, after, limit)
                seen += [(r["server_time"], r["id"]) for r in page.rows]
                if page.next is None:
                    break
                after = page.next
            assert seen == wanted
            raise _RolledBack
    except _RolledBack:
        pass
    finally:
        await conn.close()


class _RolledBack(Exception):
    """Leaves the walk's transaction, undoing its rows."""


def test_a_past_month_is_archived_to_a_file_and_restored_from_it(own_database: str, tmp_path: Path) -> None:
    assert tracetrack(own_database, "migrate").returncode == 0
    august = datetime(2026, 8, 20, tzinfo=UTC)

    async def fill() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(own_database)
        try:
            await store.add_months(conn, [month(2026, 8)])
            await insert_scans(conn, [("dev-1", n + 1, "lucknow", august + timedelta(minutes=n)) for n in range(50)])
            await insert_scans(conn, [("dev-1", 51, "lucknow", datetime.now(UTC))])
            return list(await conn.fetch("SELECT * FROM scans ORDER BY id"))
        finally:
            await conn.close()

    async def read() -> tuple[list[asyncpg.Record], dict[str, int], list[str]]:
        conn = await asyncpg.connect(own_database)
        try:
            return (list(await conn.fetch("SELECT * FROM scans ORDER BY id")), await partition_rows(conn),
                    await missing_indexes(conn))
        finally:
            await conn.close()

    before = asyncio.run(fill())
    file = tmp_path / "scans-2026-08.dump"
    done = tracetrack(own_database, "archive", "2026-08", str(file))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"archived 50 scans of 2026-08 to {file}"
    rows, held, _ = asyncio.run(read())
    assert rows == before[50:] and "scans_2026_08" not in held
    assert not asyncio.run(_table_exists(own_database, "scans_2026_08"))

    restored = tracetrack(own_database, "archive", "--restore", str(file))
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == f"restored 50 scans of 2026-08 from {file}"
    rows, held, missing = asyncio.run(read())
    assert rows == before and held["scans_2026_08"] == 50 and missing == []


async def _table_exists(url: str, name: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))
    finally:
        await conn.close()


@pytest.mark.parametrize(("month_text", "file", "message"), [
    ("2026-1", "ok.dump", "'2026-1' is not a month: write it as YYYY-MM, e.g. 2026-01"),
    ("2026-13", "ok.dump", "'2026-13' is not a month"),
    ("2030-02", "ok.dump", "2030-02 is not over yet (months are UTC): only a past month can be archived"),
    ("2019-04", "ok.dump", "no partition of scans for 2019-04 (months held: "),
    ("2019-04", "missing/dir/x.dump", "cannot write there (No such file or directory)"),
    ("2019-04", "exists.dump", "already exists: archive into a new file"),
])
def test_an_archive_that_cannot_be_made_says_why_and_changes_nothing(
        database_url: str, tmp_path: Path, month_text: str, file: str, message: str) -> None:
    (tmp_path / "exists.dump").write_bytes(b"an earlier archive")
    with pytest.raises(archive.ArchiveError) as refused:
        archive.archive(database_url, month_text, tmp_path / file, now=datetime(2030, 2, 10, tzinfo=UTC))
    assert message in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exists.dump"]


def test_a_restore_refuses_what_is_not_an_archive_or_is_there_already(database_url: str, tmp_path: Path) -> None:
    not_archive = tmp_path / "notes.txt"
    not_archive.write_text("hello")
    for file, message in ((tmp_path / "none.dump", "no such archive file"),
                          (not_archive, "not an archive made by `tracetrack archive`")):
        with pytest.raises(archive.ArchiveError) as refused:
            archive.restore(database_url, file)
        assert message in str(refused.value)


def test_the_readme_and_operations_doc_name_every_command_and_the_archive_as_it_is() -> None:
    root = Path(__file__).resolve().parent.parent
    readme, operations = (root / "README.md").read_text(), (root / "docs" / "operations.md").read_text()
    for name in main.commands:
        assert f"tracetrack {name}" in readme or f"| {name}" in readme, name
    options = {param.opts[0] for param in main.commands["archive"].params if param.opts[0].startswith("--")}
    assert options == {"--restore"}
    for usage in ("tracetrack archive MONTH FILE", "tracetrack archive --restore FILE",
                  f"at most {store.LOCK_WAIT.removesuffix('s')} s", "archived N scans of MONTH to FILE",
                  "restored N scans of MONTH from FILE", "**UTC**", "scans_default"):
        assert usage in operations, usage
