"""The writer with several batches in flight (lanes) against a real PostgreSQL: one lane while it
keeps up, order per device, an undo behind its author's scan, durable acks, exact replays, commit order, and a
failure in one lane that stays in that lane."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from hub import writer as writer_module
from hub.batch import Result, Submission
from hub.codes import Code
from hub.database import create_pool
from hub.domain import rules
from hub.writer import HELD_UP, create_writer_pool
from tests.writer_support import lock_waiter, recording_writer

CHILDREN = 20


async def operators(pool: asyncpg.Pool, count: int) -> list[rules.Actor]:
    """Dispatchers of one area."""
    actors = []
    for n in range(count):
        user_id = await pool.fetchval(
            "INSERT INTO users (username, password_hash, role, area) VALUES ($1, 'x', 'dispatcher', 'indore') "
            "RETURNING id", f"lane-op-{n}")
        actors.append(rules.Actor(user_id, f"lane-op-{n}", rules.Role.DISPATCHER, "indore"))
    return actors


async def test_operations_of_several_devices_share_one_batch_while_the_first_lane_keeps_up(
        clean_db: asyncpg.Pool, database_url: str) -> None:
    """At a moderate rate a second lane would only halve every batch, and a batch costs the hub and
    PostgreSQL as much as several scans: operations of two operators arriving together share one."""
    pool = await create_writer_pool(database_url, 2)
    writer, committed = await recording_writer(pool, lanes=2)
    actors = await operators(clean_db, 2)
    writer.start()
    try:
        results = await asyncio.gather(*(writer.submit(Submission(f"one-{n}", 1, actor, rules.ScanParent(f"SB7100{n}")))
                                         for n, actor in enumerate(actors)))
    finally:
        await writer.close(5)
        await pool.close()
    assert all(result.outcome.ok for result in results)
    assert [sorted(event["device"] for event in batch.events) for batch in committed] == [["one-0", "one-1"]]


async def test_an_undo_from_a_device_new_to_the_writer_follows_its_author_s_scan_in_flight(
        clean_db: asyncpg.Pool, database_url: str) -> None:
    """An operator scans a new child on one device, and that batch is held up (another transaction
    is inserting the child); they undo it on another device. A device new to the writer would go to
    the other lane; the undo waits in its author's lane, behind the scan, and undoes it."""
    pool = await create_pool(database_url, 3)  # no lock_timeout: the scan waits as long as the insert is open
    writer, _ = await recording_writer(pool, lanes=2)
    (actor,) = await operators(clean_db, 1)
    holder = await asyncpg.connect(database_url)
    writer.start()
    try:
        assert (await writer.submit(Submission("undo-a", 1, actor, rules.ScanParent("SB76000")))).outcome.ok
        hold = holder.transaction()
        await hold.start()
        await holder.execute("INSERT INTO bags (code, kind, area) VALUES ('UND76001', 'C', 'indore')")
        scanned = writer.submit(Submission("undo-a", 2, actor, rules.ScanChild("UND76001", "SB76000")))
        await lock_waiter(holder)
        await asyncio.sleep(2 * HELD_UP)  # the scan's lane is held up: a device new to the writer would go to the other
        undone = writer.submit(Submission("undo-b", 1, actor, rules.Undo("UND76001")))
        await asyncio.sleep(HELD_UP)  # the other lane, were the undo in it, would have taken it by now
        assert writer.backlog == 1 and not undone.done()
        await hold.rollback()
        async with asyncio.timeout(20):  # a guard against a hang, not a timing claim
            assert (await scanned).outcome.ok
            result = await undone
    finally:
        await holder.close()
        await writer.close(5)
        await pool.close()
    assert result.outcome.code is Code.OK and result.outcome.data["child"] == "UND76001"
    assert await clean_db.fetchval("SELECT count(*) FROM links") == 0


async def test_many_batches_in_flight_keep_each_device_in_order_and_every_ack_durable(
        clean_db: asyncpg.Pool, database_url: str) -> None:
    pool = await create_writer_pool(database_url, 4)
    writer, committed = await recording_writer(pool, lanes=4, max_ops=16)
    actors = await operators(clean_db, 8)
    devices = [(f"many-{n:02d}", actors[n % len(actors)], f"SB{72000 + n}") for n in range(24)]
    subs: list[Submission] = []
    for device, actor, parent in devices:  # a device's operations, then the next's: they fill a lane, then the next
        for step in range(CHILDREN + 1):
            op = rules.ScanParent(parent) if step == 0 else rules.ScanChild(f"MNY{device[-2:]}{step:04d}", parent)
            subs.append(Submission(device, step + 1, actor, op, datetime.now(UTC)))
    futures = [writer.submit(sub) for sub in subs]
    busiest = 0

    async def watch() -> None:
        nonlocal busiest
        while True:
            busiest = max(busiest, pool.get_size() - pool.get_idle_size())
            await asyncio.sleep(0)

    watcher = asyncio.create_task(watch())
    writer.start()
    try:
        results = await asyncio.gather(*futures)
    finally:
        watcher.cancel()
        await writer.close(5)
        await pool.close()

    assert busiest >= 2, "several batches were in flight at once"
    by_device: dict[str, list[Result]] = {}
    for sub, result in zip(subs, results):
        by_device.setdefault(sub.device, []).append(result)
    for device, _, _ in devices:
        acks = by_device[device]
        assert all(ack.outcome.ok for ack in acks)
        assert [ack.outcome.data["count"] for ack in acks[1:]] == list(range(1, CHILDREN + 1))  # in seq order
    rows = await clean_db.fetch("SELECT device_id, seq, result FROM scans WHERE device_id LIKE 'many-%'")
    assert sorted((r["device_id"], r["seq"], r["result"]) for r in rows) == sorted(
        (sub.device, sub.seq, "OK") for sub in subs)
    counts = await clean_db.fetch("SELECT code, child_count FROM bags WHERE kind = 'P'")
    assert {r["code"]: r["child_count"] for r in counts} == {parent: CHILDREN for _, _, parent in devices}
    heard = [batch.seq for batch in committed]
    assert heard == sorted(heard) and len(set(heard)) == len(heard)  # on_commit in commit order
    assert heard[-1] == await clean_db.fetchval("SELECT seq FROM commit_clock")


async def test_two_lanes_filling_one_parent_never_overfill_it(clean_db: asyncpg.Pool, database_url: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Two operators in different lanes (one operation fills a lane) scan into the same parent at
    once: their batches meet in its row lock, and exactly its capacity of children go in."""
    monkeypatch.setattr(writer_module, "LANE_FULL", 1)
    pool = await create_writer_pool(database_url, 2)
    writer, _ = await recording_writer(pool, lanes=2, max_ops=4)
    first, second = await operators(clean_db, 2)
    writer.start()
    try:
        made = await writer.submit(Submission("fill-0", 1, first, rules.ScanParent("SB73000")))
        capacity = made.outcome.data["capacity"]
        subs = [Submission(f"fill-{n % 2}", n // 2 + 2, (first, second)[n % 2],
                           rules.ScanChild(f"FIL{n:05d}", "SB73000")) for n in range(capacity + 10)]
        results = await asyncio.gather(*(writer.submit(sub) for sub in subs))
    finally:
        await writer.close(5)
        await pool.close()
    codes = [result.outcome.code for result in results]
    assert codes.count(Code.OK) == capacity and codes.count(Code.PARENT_FULL) == 10
    assert await clean_db.fetchval("SELECT child_count FROM bags WHERE code = 'SB73000'") == capacity
    assert await clean_db.fetchval("SELECT count(*) FROM links") == capacity


async def test_a_lane_whose_connection_dies_mid_batch_fails_alone_and_its_device_resumes_in_order(
        clean_db: asyncpg.Pool, database_url: str) -> None:
    """Lane A's batch waits on a row lock; its connection is then killed (a real fault). Lane B
    commits all along; A's operations are told RETRY, later ones of its device too, until the
    device resends them, in order. A resend of what B had committed is a replay of the same answer."""
    pool = await create_pool(database_url, 4)  # no lock_timeout: the batch waits until its connection dies
    writer, committed = await recording_writer(pool, lanes=2)
    a, b = await operators(clean_db, 2)

    def scan(device: str, seq: int, actor: rules.Actor, op: rules.Operation) -> Submission:
        return Submission(device, seq, actor, op, datetime.now(UTC))

    holder = await asyncpg.connect(database_url)
    writer.start()
    try:
        assert (await writer.submit(scan("lane-a", 1, a, rules.ScanParent("SB74001")))).outcome.ok
        assert (await writer.submit(scan("lane-b", 1, b, rules.ScanParent("SB74002")))).outcome.ok
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM bags WHERE code = 'SB74001' FOR UPDATE")
        a_ops = [scan("lane-a", seq, a, rules.ScanChild(f"LNA{seq:04d}", "SB74001")) for seq in (2, 3, 4)]
        stuck = [writer.submit(sub) for sub in a_ops[:2]]
        waiting = await lock_waiter(holder)
        await asyncio.sleep(HELD_UP)  # lane A's batch is held up: an operator new to the writer goes to B

        b_ops = [scan("lane-b", seq, b, rules.ScanChild(f"LNB{seq:04d}", "SB74002")) for seq in (2, 3, 4)]
        async with asyncio.timeout(20):  # a guard against a hang, not a timing claim
            flowing = [await writer.submit(sub) for sub in b_ops]
        assert [r.outcome.data["count"] for r in flowing] == [1, 2, 3]
        assert not any(f.done() for f in stuck)

        await holder.fetchval("SELECT pg_terminate_backend($1)", waiting)
        assert [(await f).outcome.code for f in stuck] == [Code.RETRY, Code.RETRY]
        assert (await writer.submit(a_ops[2])).outcome.code is Code.RETRY  # seq 4 must not overtake 2
        await hold.rollback()

        writer.unblock("lane-a")
        resent = await asyncio.gather(*(writer.submit(sub) for sub in a_ops))
        assert [r.outcome.data["count"] for r in resent] == [1, 2, 3]
        replayed = await writer.submit(b_ops[1])
        assert replayed.replay and replayed.outcome == flowing[1].outcome
    finally:
        await holder.close()
        await writer.close(5)
        await pool.close()

    rows = await clean_db.fetch("SELECT device_id, seq, result FROM scans ORDER BY device_id, seq")
    assert [tuple(r) for r in rows] == [("lane-a", seq, "OK") for seq in (1, 2, 3, 4)] + [
        ("lane-b", seq, "OK") for seq in (1, 2, 3, 4)]
    heard = [batch.seq for batch in committed]
    assert heard == sorted(heard)


async def test_a_batch_waiting_for_another_transaction_s_new_bag_does_not_hold_the_commit_clock(
        clean_db: asyncpg.Pool, database_url: str) -> None:
    """Lane A's batch creates a child bag that another transaction has inserted and not yet
    committed, so it waits for that transaction. Its write statement takes the commit clock only
    after the new bags, so lane B's batch commits meanwhile (a batch that took the clock first would
    hold every other batch, of every hub, until the other transaction ended)."""
    pool = await create_pool(database_url, 4)  # no lock_timeout: A waits as long as the insert is open
    writer, committed = await recording_writer(pool, lanes=2)
    a, b = await operators(clean_db, 2)
    holder = await asyncpg.connect(database_url)
    writer.start()
    try:
        for device, actor, parent in (("clock-a", a, "SB75001"), ("clock-b", b, "SB75002")):
            assert (await writer.submit(Submission(device, 1, actor, rules.ScanParent(parent)))).outcome.ok
        hold = holder.transaction()
        await hold.start()
        await holder.execute("INSERT INTO bags (code, kind, area) VALUES ('CLK75000', 'C', 'indore')")
        stuck = writer.submit(Submission("clock-a", 2, a, rules.ScanChild("CLK75000", "SB75001")))
        await lock_waiter(holder)
        await asyncio.sleep(HELD_UP)  # lane A's batch is held up: an operator new to the writer goes to B
        async with asyncio.timeout(20):  # a guard against a hang, not a timing claim
            flowing = await writer.submit(Submission("clock-b", 2, b, rules.ScanChild("CLK75001", "SB75002")))
        assert flowing.outcome.ok and not stuck.done()
        await hold.rollback()
        assert (await stuck).outcome.data["count"] == 1
    finally:
        await holder.close()
        await writer.close(5)
        await pool.close()
    heard = [batch.seq for batch in committed]
    assert heard == sorted(heard) and len(set(heard)) == len(heard)
    assert heard[-1] == await clean_db.fetchval("SELECT seq FROM commit_clock")
