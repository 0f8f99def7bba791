"""The batch writer against a real PostgreSQL, including a real outage of the database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg
import pytest

from hub.batch import Submission
from hub.codes import Code
from hub.database import create_pool
from hub.domain import rules
from hub.domain.rules import Outcome
from hub.store import batches
from hub.writer import create_writer_pool
from tests.services import database_down
from tests.writer_support import lock_waiter, recording_writer


@pytest.fixture
async def actor(clean_db: asyncpg.Pool) -> rules.Actor:
    user_id = await clean_db.fetchval(
        "INSERT INTO users (username, password_hash, role, area) VALUES ('writer-op', 'x', 'dispatcher', "
        "'indore') RETURNING id")
    return rules.Actor(user_id, "writer-op", rules.Role.DISPATCHER, "indore")


async def test_after_a_retry_later_operations_of_the_device_wait_for_its_resend(
        actor: rules.Actor, postgres_server_url: str, database_url: str) -> None:
    pool = await create_pool(database_url, 2)
    writer, committed = await recording_writer(pool)
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


async def test_an_operation_the_database_refuses_is_recorded_refused_and_the_rest_of_its_batch_commits(
        actor: rules.Actor, database_url: str) -> None:
    """Data PostgreSQL refuses (a NUL in jsonb; a lone surrogate, which asyncpg cannot even encode)
    stays with its operation: it is answered and recorded BAD_REQUEST, every other operation of the
    batch commits, later operations of the same device too. Before, the whole batch was told RETRY
    and the refused operation, never recorded, came back for ever."""
    pool = await create_pool(database_url, 2)
    writer, committed = await recording_writer(pool)
    now = datetime.now(UTC)

    def sub(device: str, seq: int, op: rules.Operation, data: dict[str, str] | None = None) -> Submission:
        verdict = None if data is None else Outcome(Code.INVALID_CODE, data)
        return Submission(device, seq, actor, op, now, verdict)

    batch = [sub("iso-a", 1, rules.ScanParent("SB41001")),
             sub("iso-b", 1, rules.ScanParent("SB41002"), {"reason": "nul \x00 here"}),
             sub("iso-c", 1, rules.ScanParent("SB41003")),
             sub("iso-b", 2, rules.ScanParent("SB41004")),
             sub("iso-d", 1, rules.ScanParent("SB41005"), {"reason": "lone \ud800 surrogate"}),
             sub("iso-a", 2, rules.ScanChild("ISO0001", "SB41001")),
             sub("iso-e", 1, rules.ScanParent("SB\ud80041006"))]  # INVALID_CODE, then unstorable
    futures = [writer.submit(s) for s in batch]  # all queued before the writer runs: one batch
    writer.start()
    try:
        results = [await f for f in futures]
    finally:
        await writer.close(5)
    codes = [r.outcome.code for r in results]
    assert codes == [Code.OK, Code.BAD_REQUEST, Code.OK, Code.OK, Code.BAD_REQUEST, Code.OK,
                     Code.BAD_REQUEST], results
    assert "(UntranslatableCharacterError)" in results[1].outcome.data["reason"]
    assert "(InvalidTextRepresentationError)" in results[4].outcome.data["reason"]
    assert "(DataError)" in results[6].outcome.data["reason"]  # asyncpg could not encode it
    assert [c.seq for c in committed] == sorted(c.seq for c in committed)

    rows = await pool.fetch("SELECT device_id, seq, op, code, result, detail, client_time FROM scans "
                            "WHERE device_id LIKE 'iso-%' ORDER BY device_id, seq")
    assert [(r["device_id"], r["seq"], r["result"]) for r in rows] == [
        ("iso-a", 1, "OK"), ("iso-a", 2, "OK"), ("iso-b", 1, "BAD_REQUEST"), ("iso-b", 2, "OK"),
        ("iso-c", 1, "OK"), ("iso-d", 1, "BAD_REQUEST"), ("iso-e", 1, "BAD_REQUEST")]
    refused = [r for r in rows if r["result"] == "BAD_REQUEST"]
    assert all(r["op"] == "invalid" and r["client_time"] is None for r in refused)
    assert await pool.fetchval("SELECT child_count FROM bags WHERE code = 'SB41001'") == 1
    assert await pool.fetchval("SELECT count(*) FROM bags WHERE code = ANY($1::text[])",
                               ["SB41002", "SB41005"]) == 0
    assert dict(await pool.fetch("SELECT device_id, last_seq FROM devices WHERE device_id LIKE 'iso-%'")) == {
        "iso-a": 2, "iso-b": 2, "iso-c": 1, "iso-d": 1, "iso-e": 1}

    # a resend of the refused operation is a replay of its recorded answer, not another refusal
    again, _ = await recording_writer(pool)
    again.start()
    try:
        replay = await again.submit(batch[1])
    finally:
        await again.close(5)
        await pool.close()
    assert (replay.outcome.code, replay.replay) == (Code.BAD_REQUEST, True)


async def test_settled_waits_for_the_devices_operations_still_in_the_writer(
        actor: rules.Actor, database_url: str) -> None:
    """A welcome reads the applied seq after `settled`: it then includes everything the device had sent."""
    pool = await create_pool(database_url, 2)
    writer, _ = await recording_writer(pool)
    futures = [writer.submit(Submission("settle-dev", seq, actor, rules.ScanParent(f"SB4200{seq}")))
               for seq in (1, 2, 3)]
    writer.start()
    try:
        await writer.settled("settle-dev")
        assert all(f.done() for f in futures)
        assert await batches.applied_seq(pool, "settle-dev") == 3
        await writer.settled("nobody")  # nothing pending: returns at once
    finally:
        await writer.close(5)
        await pool.close()


async def test_live_scans_never_wait_on_an_all_or_nothing_group_and_those_of_its_bags_follow_it(
        actor: rules.Actor, database_url: str) -> None:
    """While a group of 2,000 operations holds its transaction open, another device's scan of an
    unrelated bag is acked; one of a bag in the group waits, then applies on the group's result."""
    pool = await create_pool(database_url, 4)
    writer, _ = await recording_writer(pool)
    writer.start()
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold(done: int) -> None:
        holding.set()
        await release.wait()

    parents = [f"SB6{p:04d}" for p in range(100)]
    ops = [rules.ScanChild(f"I{parent}{n:02d}", parent) for parent in parents for n in range(20)]
    group = [Submission("import-dev", seq, actor, op) for seq, op in enumerate(ops, start=1)]
    try:
        made = await asyncio.gather(*(writer.submit(Submission("setup-dev", seq, actor, rules.ScanParent(parent)))
                                      for seq, parent in enumerate(parents, start=1)))
        assert all(result.outcome.ok for result in made)
        importing = asyncio.create_task(writer.apply_group(group, lambda sub, result: result.outcome.ok,
                                                           chunk=500, progress=hold))
        await holding.wait()
        inside = writer.submit(Submission("live-a", 1, actor, rules.ScanChild("LIVE0001", "SB60000")))
        later = writer.submit(Submission("live-a", 2, actor, rules.ScanParent("SB69999")))
        unrelated = writer.submit(Submission("live-b", 1, actor, rules.ScanParent("SB70000")))
        acked = await asyncio.wait_for(unrelated, 20)  # a guard against a hang, not a timing claim
        assert acked.outcome.ok
        assert not importing.done() and not inside.done() and not later.done()
        release.set()
        committed, _ = await importing
        assert committed
        applied = await inside
        assert applied.outcome.ok and applied.outcome.data["count"] == 21
        assert (await later).outcome.ok
    finally:
        release.set()
        await writer.close(5)
        await pool.close()


async def test_a_lock_held_by_another_process_s_group_sets_aside_only_the_operation_that_met_it(
        actor: rules.Actor, database_url: str) -> None:
    """Another writer (another hub process) runs the group: this writer cannot know its codes, so
    its batch meets the lock; the operation that met it waits and is retried, the rest commit."""
    pool, other_pool = await create_writer_pool(database_url, 3), await create_writer_pool(database_url, 3)
    writer, _ = await recording_writer(pool)
    other, _ = await recording_writer(other_pool)
    holding, release = asyncio.Event(), asyncio.Event()

    async def hold(done: int) -> None:
        holding.set()
        await release.wait()

    other.start()
    try:
        assert (await other.submit(Submission("setup-dev", 1, actor, rules.ScanParent("SB61000")))).outcome.ok
        group = [Submission("import-dev", n + 1, actor, rules.ScanChild(f"IMQ{n:04d}", "SB61000"))
                 for n in range(20)]
        importing = asyncio.create_task(other.apply_group(group, lambda sub, result: result.outcome.ok,
                                                          chunk=5, progress=hold))
        await holding.wait()
        inside = writer.submit(Submission("live-a", 1, actor, rules.ScanChild("LIVQ0001", "SB61000")))
        later = writer.submit(Submission("live-a", 2, actor, rules.ScanParent("SB61001")))
        unrelated = writer.submit(Submission("live-b", 1, actor, rules.ScanParent("SB61002")))
        writer.start()  # all three in one batch
        acked = await asyncio.wait_for(unrelated, 20)  # a guard against a hang, not a timing claim
        assert acked.outcome.ok
        assert not importing.done() and not inside.done() and not later.done()
        release.set()
        assert (await importing)[0]
        applied = await inside
        assert applied.outcome.ok and applied.outcome.data["count"] == 21
        assert (await later).outcome.ok
    finally:
        release.set()
        await writer.close(5)
        await other.close(5)
        await pool.close()
        await other_pool.close()


async def test_a_batch_cut_short_by_close_mid_statement_is_cancelled_and_leaves_no_transaction_open(
        actor: rules.Actor, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """`close` cancels a lane whose batch waits in PostgreSQL (here on a row lock held by another
    transaction): the operation is told RETRY, the lane ends without logging a failed batch, and
    the cancelled statement's transaction does not stay open (its locks would hold every later
    batch touching the same bags)."""
    pool = await create_pool(database_url, 2)  # no lock_timeout: the batch waits until it is cancelled
    writer, _ = await recording_writer(pool)
    holder = await asyncpg.connect(database_url)
    writer.start()
    try:
        assert (await writer.submit(Submission("cut-dev", 1, actor, rules.ScanParent("SB76000")))).outcome.ok
        hold = holder.transaction()
        await hold.start()
        await holder.execute("SELECT 1 FROM bags WHERE code = 'SB76000' FOR UPDATE")
        stuck = writer.submit(Submission("cut-dev", 2, actor, rules.ScanChild("CUT76001", "SB76000")))
        waiting = await lock_waiter(holder)
        await asyncio.wait_for(writer.close(0.2), 20)  # a guard against a hang, not a timing claim
        assert (await stuck).outcome.code is Code.RETRY
        await hold.rollback()
        async with asyncio.timeout(20):
            while await holder.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND xact_start IS NOT NULL", waiting):
                await asyncio.sleep(0.01)
    finally:
        await holder.close()
        await writer.close(1)
        await pool.close()
    assert "failed unexpectedly" not in caplog.text
    assert "another operation is in progress" not in caplog.text
