"""Idempotent replay, in-process: a scanner drops its connection mid-stream, reconnects with the same
device id and resends its outbox; every (device, seq) is applied exactly once and a resend is answered
with the original result. Checked in the acks and in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from hub import accounts
from hub.batch import Submission, apply_batch
from hub.domain import rules
from hub.domain.rules import Actor, Role
from hub.store import formats as formats_store
from tests.support import make_user
from tests.ws_support import Connection, close_connections

WAIT = 15.0


@pytest.fixture
def client(client: TestClient) -> Iterator[TestClient]:
    """conftest's in-process app; websockets a test left open (a failing one, say) are closed before
    it shuts down, since an open TestClient websocket would hang the shutdown instead of failing."""
    yield client
    close_connections()


def op(seq: int, kind: str, **fields: Any) -> dict[str, Any]:
    return {"t": "op", "seq": seq, "op": kind, "at": 1_795_881_600_000 + seq, **fields}


def shift() -> tuple[list[dict[str, Any]], list[str]]:
    """A dispatcher's outbox and the result each operation must get, in order."""
    ops = [op(1, "parent", code="SB00001")]
    expected = ["OK"]
    for n in range(1, 31):
        ops.append(op(len(ops) + 1, "child", code=f"C{n:04d}", parent="SB00001"))
        expected.append("OK")
    ops += [op(len(ops) + 1, "child", code="C0031", parent="SB00001"),  # the parent is full
            op(len(ops) + 2, "child", code="C0007", parent="SB00001"),  # already in it
            op(len(ops) + 3, "parent", code="M444-00001"),
            op(len(ops) + 4, "child", code="C0031", parent="M444-00001"),
            op(len(ops) + 5, "child", code="C0012", parent="M444-00001"),  # in SB00001 already
            op(len(ops) + 6, "child", code="C0032", parent="M444-00001"),
            op(len(ops) + 7, "child", code="SB00001", parent="M444-00001")]  # a parent is no child
    expected += ["PARENT_FULL", "ALREADY_IN_PARENT", "OK", "OK", "ALREADY_LINKED", "OK", "NOT_A_CHILD"]
    assert [o["seq"] for o in ops] == list(range(1, len(ops) + 1))
    return ops, expected


async def wait_for(predicate: Any, what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def scans_of(pool: asyncpg.Pool, device: str) -> dict[int, asyncpg.Record]:
    rows = await pool.fetch("SELECT seq, op, code, target, result, detail FROM scans WHERE device_id = $1",
                            device)
    seqs = [r["seq"] for r in rows]
    assert len(seqs) == len(set(seqs)), f"a seq was recorded twice: {sorted(seqs)}"
    return {r["seq"]: r for r in rows}


async def links_of(pool: asyncpg.Pool, parent: str) -> list[str]:
    rows = await pool.fetch(
        """SELECT c.code FROM links l JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id
            WHERE p.code = $1 ORDER BY c.code""", parent)
    return [r["code"] for r in rows]


async def child_count(pool: asyncpg.Pool, parent: str) -> int:
    return await pool.fetchval("SELECT child_count FROM bags WHERE code = $1", parent)


async def last_seq(pool: asyncpg.Pool, device: str) -> int | None:
    return await pool.fetchval("SELECT last_seq FROM devices WHERE device_id = $1", device)


# --- disconnect mid-stream, reconnect, resend -------------------------------------------------


async def test_a_dropped_stream_resent_in_full_is_applied_exactly_once(client: TestClient,
                                                                       clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    device = "hh-replay-1"
    ops, expected = shift()
    first = Connection(client, token, device)
    assert first.welcome["applied_seq"] == 0
    for message in ops:
        first.send(message)
    seen = {n: first.ack(n) for n in range(1, 11)}  # the connection drops after ten acks
    first.close()

    second = Connection(client, token, device, last_seq=len(ops))
    applied = second.welcome["applied_seq"]
    assert 10 <= applied <= len(ops)
    for message in ops:  # the whole outbox again, acked ones too, same seqs and fields
        second.send(message)
    acks = [second.ack(message["seq"]) for message in ops]
    second.close()

    for ack, code in zip(acks, expected):
        assert ack["code"] == code, ack
        assert ack["ok"] is (code == "OK") and ack["retry"] is False
        if ack["seq"] in seen:  # acked, so long done: a replay of the very same ack
            assert ack["replay"] is True, f"seq {ack['seq']} was applied before, yet not answered as a replay"
            assert {**ack, "replay": False} == seen[ack["seq"]], "a replay must repeat the original ack"
    assert [a["data"]["count"] for a in acks[1:31]] == list(range(1, 31))

    scans = await scans_of(clean_db, device)
    assert sorted(scans) == [o["seq"] for o in ops]
    assert [scans[o["seq"]]["result"] for o in ops] == expected
    for ack in acks:
        assert scans[ack["seq"]]["detail"] == ack["data"]
    assert await links_of(clean_db, "SB00001") == [f"C{n:04d}" for n in range(1, 31)]
    assert await links_of(clean_db, "M444-00001") == ["C0031", "C0032"]
    assert await child_count(clean_db, "SB00001") == 30
    assert await child_count(clean_db, "M444-00001") == 2
    assert await clean_db.fetchval("SELECT completed_at IS NOT NULL FROM bags WHERE code = 'SB00001'")
    assert await last_seq(clean_db, device) == len(ops)


async def test_resending_only_the_unacked_after_the_hub_caught_up(client: TestClient,
                                                                  clean_db: asyncpg.Pool) -> None:
    """The protocol's own client: drop after some acks, wait, resend just the outbox: all replays."""
    token = make_user(client)
    device = "hh-replay-2"
    ops, expected = shift()
    first = Connection(client, token, device)
    for message in ops[:20]:
        first.send(message)
    for n in range(1, 6):
        first.ack(n)
    first.close()

    async def caught_up() -> bool:  # everything the hub received is committed, at most all 20
        before = await last_seq(clean_db, device)
        await asyncio.sleep(0.3)
        return before == await last_seq(clean_db, device) and before is not None

    await wait_for(caught_up, "the hub to commit what it had received")
    committed = await last_seq(clean_db, device)
    assert committed is not None and 5 <= committed <= 20
    second = Connection(client, token, device, last_seq=20)
    assert second.welcome["applied_seq"] == committed
    for message in ops[5:]:
        second.send(message)
    acks = [second.ack(message["seq"]) for message in ops[5:]]
    assert [a["code"] for a in acks] == expected[5:]
    assert [a["seq"] for a in acks if a["replay"]] == list(range(6, committed + 1))
    # the connection goes on as normal afterwards
    second.send(op(len(ops) + 1, "child", code="C0033", parent="M444-00001"))
    assert second.ack(len(ops) + 1)["data"]["count"] == 3
    second.close()

    scans = await scans_of(clean_db, device)
    assert sorted(scans) == list(range(1, len(ops) + 2))
    assert await child_count(clean_db, "SB00001") == 30
    assert await links_of(clean_db, "M444-00001") == ["C0031", "C0032", "C0033"]
    assert await last_seq(clean_db, device) == len(ops) + 1


async def test_a_reconnect_replaces_the_older_connection_of_the_device(client: TestClient,
                                                                       clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    first = Connection(client, token, "hh-twice")
    first.send(op(1, "parent", code="SB00002"))
    first.ack(1)
    second = Connection(client, token, "hh-twice", last_seq=1)
    assert second.welcome["applied_seq"] == 1
    with pytest.raises(WebSocketDisconnect) as closed:
        first.receive()
    assert closed.value.code == 4002
    second.send(op(2, "child", code="C0001", parent="SB00002"))
    assert second.ack(2)["code"] == "OK"
    second.close()
    first.close()
    assert sorted(await scans_of(clean_db, "hh-twice")) == [1, 2]


# --- sequence numbers -------------------------------------------------------------------------


async def test_an_unknown_old_seq_is_stale_and_not_recorded(client: TestClient, clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    device = "hh-stale"
    conn = Connection(client, token, device)
    for seq, message in ((1, op(1, "parent", code="SB00003")),
                         (2, op(2, "child", code="C0001", parent="SB00003")),
                         (10, op(10, "child", code="C0002", parent="SB00003"))):  # gaps are allowed
        conn.send(message)
        assert conn.ack(seq)["code"] == "OK"
    conn.send(op(5, "child", code="C0005", parent="SB00003"))
    stale = conn.ack(5)
    assert stale == {"t": "ack", "seq": 5, "ok": False, "code": "STALE_SEQ",
                     "msg": "This scan is older than scans already recorded from this device.",
                     "retry": False, "replay": False, "data": {"applied_seq": 10}}
    # A seq that was applied is a replay of the original, whatever the resend carries.
    conn.send(op(2, "child", code="C0009", parent="SB00003"))
    replay = conn.ack(2)
    assert (replay["code"], replay["replay"], replay["data"]["child"], replay["data"]["count"]) == (
        "OK", True, "C0001", 1)
    conn.send(op(11, "child", code="C0003", parent="SB00003"))
    assert conn.ack(11)["data"]["count"] == 3
    conn.close()

    assert sorted(await scans_of(clean_db, device)) == [1, 2, 10, 11]
    assert await last_seq(clean_db, device) == 11
    assert await links_of(clean_db, "SB00003") == ["C0001", "C0002", "C0003"]
    assert await clean_db.fetchval("SELECT count(*) FROM bags WHERE code IN ('C0005', 'C0009')") == 0


async def test_a_new_device_starts_from_nothing(client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Seqs are per device: another device may use seq 1 again, and it is applied."""
    token = make_user(client)
    a = Connection(client, token, "hh-a")
    a.send(op(1, "parent", code="SB00004"))
    assert a.ack(1)["data"]["created"] is True
    a.close()
    b = Connection(client, token, "hh-b")
    assert b.welcome["applied_seq"] == 0
    b.send(op(1, "child", code="C0001", parent="SB00004"))
    reply = b.ack(1)
    assert (reply["code"], reply["replay"]) == ("OK", False)
    b.close()
    assert await last_seq(clean_db, "hh-a") == 1 and await last_seq(clean_db, "hh-b") == 1


# --- a resend racing its original ------------------------------------------------------------


async def waiting_for_a_lock(pool: asyncpg.Pool) -> bool:
    return bool(await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"))


async def test_a_resend_while_the_original_is_still_queued_is_applied_once(client: TestClient,
                                                                           clean_db: asyncpg.Pool) -> None:
    """The writer is held up (the device's row is locked), so the original of seq 2 is in a batch
    that cannot commit and seq 3 waits in the queue behind it, when the scanner reconnects and
    resends both. Each is applied once, and the new connection gets their acks."""
    token = make_user(client)
    device = "hh-racing"
    first = Connection(client, token, device)
    first.send(op(1, "parent", code="SB00005"))
    first.ack(1)
    async with clean_db.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        try:
            await blocker.execute("SELECT 1 FROM devices WHERE device_id = $1 FOR UPDATE", device)
            first.send(op(2, "child", code="C0001", parent="SB00005"))
            await wait_for(lambda: waiting_for_a_lock(clean_db), "the writer to wait for the device's row")
            first.send(op(3, "child", code="C0002", parent="SB00005"))
            second = Connection(client, token, device, last_seq=3)
            assert second.welcome["applied_seq"] == 1
            second.send(op(2, "child", code="C0001", parent="SB00005"))
            second.send(op(3, "child", code="C0002", parent="SB00005"))
            await asyncio.sleep(0.2)
            assert await clean_db.fetchval("SELECT count(*) FROM scans WHERE device_id = $1", device) == 1
        finally:
            await transaction.rollback()
    acks = [second.ack(2), second.ack(3)]
    assert [(a["code"], a["data"]["count"]) for a in acks] == [("OK", 1), ("OK", 2)]
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:  # the replaced connection may or may not get its acks out before it is closed
            reply = first.receive()
            assert reply["t"] == "ack" and reply["code"] == "OK", reply
    assert closed.value.code == 4002
    second.close()
    first.close()

    assert sorted(await scans_of(clean_db, device)) == [1, 2, 3]
    assert await links_of(clean_db, "SB00005") == ["C0001", "C0002"]
    assert await child_count(clean_db, "SB00005") == 2
    assert await last_seq(clean_db, device) == 3


async def test_the_same_seq_twice_on_one_connection_gets_two_equal_acks(client: TestClient,
                                                                        clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    conn = Connection(client, token, "hh-double")
    conn.send(op(1, "parent", code="SB00006"))
    conn.send(op(2, "child", code="C0001", parent="SB00006"))
    conn.send(op(2, "child", code="C0001", parent="SB00006"))
    conn.ack(1)
    first, again = conn.ack(2), conn.ack(2)
    assert first["code"] == again["code"] == "OK"
    assert first["data"] == again["data"]
    conn.close()
    assert sorted(await scans_of(clean_db, "hh-double")) == [1, 2]
    assert await child_count(clean_db, "SB00006") == 1


# --- what an undo sees after a replayed outbox was applied in one batch -----------------------


class Batches:
    """Batches applied straight through `apply_batch`, as the writer applies them, one device."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.seq = 0
        self.formats: tuple[Any, ...] = ()

    async def actor(self, username: str, role: str = "dispatcher") -> Actor:
        user_id = await accounts.create_user(self.pool, username=username, password="scan-all-day-long",
                                             role=role, area="lucknow")
        return Actor(user_id, username, Role(role), "lucknow")

    async def apply(self, *ops: tuple[Actor, rules.Operation]) -> list[tuple[str, dict[str, Any]]]:
        if not self.formats:
            self.formats = await formats_store.load(self.pool)
        subs = []
        for actor, operation in ops:
            self.seq += 1
            subs.append(Submission("hh-batch", self.seq, actor, operation))
        async with self.pool.acquire() as conn, conn.transaction():
            results, _ = await apply_batch(conn, subs, self.formats, datetime.now(UTC))
        return [(r.outcome.code.value, r.outcome.data) for r in results]


async def test_a_child_undone_and_relinked_in_one_batch_belongs_to_its_new_linker(clean_db: asyncpg.Pool) -> None:
    """Ravi undoes X, Sita puts X back into the same parent, both in one batch: the link is Sita's now.
    (Found by this test: the batch wrote no change, leaving Ravi's link row, so Ravi could undo Sita's
    scan and Sita could not.)"""
    batches = Batches(clean_db)
    ravi, sita = await batches.actor("ravi"), await batches.actor("sita")
    await batches.apply((ravi, rules.ScanParent("SB00001")), (ravi, rules.ScanChild("X0001", "SB00001")))
    await batches.apply((sita, rules.ScanChild("Z0001", "SB00001")))
    assert [c for c, _ in await batches.apply((ravi, rules.Undo("X0001")),
                                              (sita, rules.ScanChild("X0001", "SB00001")))] == ["OK", "OK"]
    linked_by = await clean_db.fetchval(
        "SELECT l.linked_by FROM links l JOIN bags c ON c.id = l.child_id WHERE c.code = 'X0001'")
    assert linked_by == sita.user_id
    assert (await batches.apply((ravi, rules.Undo("X0001"))))[0][0] == "NOTHING_TO_UNDO"
    assert (await batches.apply((sita, rules.Undo("X0001"))))[0][0] == "OK"
    assert await child_count(clean_db, "SB00001") == 1


async def test_a_parent_taken_off_and_put_back_on_a_bill_in_one_batch_is_the_new_adders(
        clean_db: asyncpg.Pool) -> None:
    batches = Batches(clean_db)
    ravi = await batches.actor("ravi")
    bina, bela = await batches.actor("bina", "biller"), await batches.actor("bela", "biller")
    await batches.apply((ravi, rules.ScanParent("M444-00001")),
                        *[(ravi, rules.ScanChild(f"K{n:04d}", "M444-00001")) for n in range(15)])
    await batches.apply((bina, rules.CreateBill("B1", 2)), (bina, rules.AddToBill("B1", "M444-00001")))
    assert [c for c, _ in await batches.apply((bina, rules.Undo("M444-00001")),
                                              (bela, rules.AddToBill("B1", "M444-00001")))] == ["OK", "OK"]
    added_by = await clean_db.fetchval("SELECT added_by FROM bill_parents")
    assert added_by == bela.user_id
    assert (await batches.apply((bina, rules.Undo("M444-00001"))))[0][0] == "NOTHING_TO_UNDO"
    assert (await batches.apply((bela, rules.Undo("M444-00001"))))[0][0] == "OK"
    assert await clean_db.fetchval("SELECT parent_count FROM bills WHERE code = 'B1'") == 0


async def test_undo_after_a_resent_outbox_undoes_the_operators_last_scan(clean_db: asyncpg.Pool) -> None:
    batches = Batches(clean_db)
    ravi = await batches.actor("ravi")
    await batches.apply((ravi, rules.ScanParent("SB00001")))
    for round_ in range(3):
        codes = [f"R{round_}X{n}" for n in range(3)]
        await batches.apply(*[(ravi, rules.ScanChild(code, "SB00001")) for code in codes])
        code, data = (await batches.apply((ravi, rules.Undo(codes[-1]))))[0]
        assert code == "OK", (code, data)
