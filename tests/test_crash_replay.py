"""kill -9 of a hub under load, a new hub, replay: every acked scan is in PostgreSQL, none twice.

Real hub processes (`python -m hub serve`) and real websocket clients. Several scanners pipeline
operations with a durable outbox, as docs/protocol.md section 9 describes; the hub is SIGKILLed while
operations are in flight; a new hub process starts on the same database; the scanners reconnect and
resend everything unacked. Then PostgreSQL must hold every acked operation exactly once with the
acked result, and the links must be exactly those the acks describe.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from hub import accounts

WAIT = 20.0
PASSWORD = "scan-all-day-long"


async def create_users(pool: asyncpg.Pool, names: list[str], role: str = "dispatcher",
                       area: str = "lucknow") -> None:
    for name in names:
        await accounts.create_user(pool, username=name, password=PASSWORD, role=role, area=area)


async def login(base_url: str, username: str) -> str:
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as http:
        response = await http.post("/api/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.text
        return response.cookies["tt_session"]


def ws_url(base_url: str) -> str:
    return base_url.replace("http://", "ws://") + "/ws/scan"


@dataclass
class Device:
    """A scanner as the protocol describes it: numbered operations, a durable outbox, pipelining.

    `ops` are the operations it will make, in order (seq = position + 1). An operation enters the
    outbox before it is sent and leaves it when its ack arrives (a RETRY ack keeps it there).
    """

    name: str
    token: str
    ops: list[dict[str, Any]]
    window: int = 16
    burst: int = 8
    pause: float = 0.02
    sent: int = 0  # operations ever sent: ops[:sent] went out at least once
    outbox: dict[int, dict[str, Any]] = field(default_factory=dict)
    acks: dict[int, dict[str, Any]] = field(default_factory=dict)
    replays: list[int] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    reading: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: acks are not read
    start: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: wait after the welcome

    def __post_init__(self) -> None:
        self.reading.set()
        self.start.set()
        self.ops = [{"t": "op", "seq": n, **op} for n, op in enumerate(self.ops, start=1)]

    @property
    def done(self) -> bool:
        return len(self.acks) == len(self.ops)

    async def session(self, url: str) -> str:
        """One connection: hello, resend the outbox, go on; 'done', or 'closed' when it dropped."""
        try:
            ws = await connect(url, additional_headers={"Cookie": f"tt_session={self.token}"},
                               open_timeout=WAIT, close_timeout=2)
        except (OSError, ConnectionClosed):
            return "closed"
        try:
            await ws.send(msgpack.packb({"t": "hello", "device": self.name, "last_seq": self.sent}))
            welcome = msgpack.unpackb(await ws.recv())
            assert welcome["t"] == "welcome", welcome
            self.welcomes.append(welcome)
            await self.start.wait()
            slots = asyncio.Semaphore(self.window)
            sender = asyncio.create_task(self._send(ws, slots))
            receiver = asyncio.create_task(self._receive(ws, slots))
            closed = asyncio.create_task(ws.wait_closed())
            try:
                await asyncio.wait({receiver, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not receiver.done() and not self.reading.is_set():
                    # Dropped while not reading: whatever acks the socket still holds are lost.
                    return "closed"
                await receiver
            finally:
                for task in (sender, receiver, closed):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
            return "done" if self.done else "closed"
        except ConnectionClosed:
            return "closed"
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)

    async def _send(self, ws: ClientConnection, slots: asyncio.Semaphore) -> None:
        for seq in sorted(self.outbox):  # everything unacked, in seq order, unchanged
            await slots.acquire()
            await ws.send(msgpack.packb(self.outbox[seq]))
        while self.sent < len(self.ops):
            for _ in range(self.burst):
                if self.sent == len(self.ops):
                    break
                await slots.acquire()
                op = self.ops[self.sent]
                self.outbox[op["seq"]] = op  # into the outbox first, then onto the wire
                self.sent += 1
                await ws.send(msgpack.packb(op))
            await asyncio.sleep(self.pause)

    async def _receive(self, ws: ClientConnection, slots: asyncio.Semaphore) -> None:
        while not self.done:
            await self.reading.wait()
            reply = msgpack.unpackb(await ws.recv())
            assert reply["t"] == "ack", reply
            seq = reply["seq"]
            slots.release()
            if reply["retry"]:
                self.retries.append(seq)
                return  # the session ends ('done' is not claimed: see run_all); the outbox is resent
            assert seq in self.outbox, f"{self.name}: ack of seq {seq}, which is not in the outbox"
            assert seq not in self.acks, f"{self.name}: seq {seq} acked twice"
            del self.outbox[seq]
            self.acks[seq] = reply
            if reply["replay"]:
                self.replays.append(seq)

    def expected_links(self) -> dict[str, str]:
        """child -> parent, from this device's acks in seq order."""
        links: dict[str, str] = {}
        for seq in sorted(self.acks):
            ack, op = self.acks[seq], self.ops[seq - 1]
            if ack["code"] != "OK":
                continue
            if op["op"] == "child":
                links[ack["data"]["child"]] = ack["data"]["parent"]
            elif op["op"] == "undo" and ack["data"]["undone"] == "link":
                del links[ack["data"]["child"]]
        return links


def dispatcher_shift(n: int) -> list[dict[str, Any]]:
    """A dispatcher's day in miniature: fill a standard parent (with rescans, a slip undone and
    redone, overfill), then a mini parent."""
    parent, mini = f"SB{n:05d}", f"M444-{n:05d}"
    ops: list[dict[str, Any]] = [{"op": "parent", "code": parent}]
    for k in range(1, 34):
        child = f"D{n}C{k:04d}"
        ops.append({"op": "child", "code": child, "parent": parent})
        if k % 7 == 0:
            ops.append({"op": "child", "code": child, "parent": parent})  # scanned twice
        if k == 12:
            ops.append({"op": "undo", "code": child})
            ops.append({"op": "child", "code": child, "parent": parent})
    ops.append({"op": "parent", "code": mini})
    ops += [{"op": "child", "code": f"D{n}M{k:04d}", "parent": mini} for k in range(1, 17)]
    ops.append({"op": "child", "code": f"D{n}C0001", "parent": mini})  # already in the other parent
    return ops


async def run_all(devices: list[Device], url: str, timeout: float, reconnect: bool = False) -> list[str]:
    """Run every device against `url`; with `reconnect`, a dropped device reconnects (with a short
    backoff) until its operations are all acked."""
    async def run(device: Device) -> str:
        while True:
            status = await device.session(url)
            if status == "done" or not reconnect:
                return status
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(asyncio.gather(*(run(d) for d in devices)), timeout)


async def check_database(pool: asyncpg.Pool, devices: list[Device]) -> None:
    """Every ack is in scans once with its result; links, counters and stats agree with the acks."""
    for device in devices:
        rows = await pool.fetch("SELECT seq, result, detail FROM scans WHERE device_id = $1", device.name)
        by_seq = Counter(r["seq"] for r in rows)
        assert all(n == 1 for n in by_seq.values()), f"{device.name}: recorded twice: {by_seq.most_common(3)}"
        assert sorted(by_seq) == sorted(device.acks) == list(range(1, len(device.ops) + 1))
        for row in rows:
            ack = device.acks[row["seq"]]
            assert (row["result"], row["detail"]) == (ack["code"], ack["data"]), (device.name, row["seq"])
        assert await pool.fetchval("SELECT last_seq FROM devices WHERE device_id = $1", device.name) == len(
            device.ops)
        # Applied once, effects too: the per-minute counters were written in the same transactions.
        stats = await pool.fetchrow(
            "SELECT sum(accepted) AS accepted, sum(rejected) AS rejected, sum(children_linked) AS linked "
            "FROM scan_stats WHERE device_id = $1", device.name)
        oks = [device.ops[s - 1]["op"] for s, a in device.acks.items() if a["code"] == "OK"]
        assert stats["accepted"] == len(oks)
        assert stats["rejected"] == len(device.acks) - len(oks)
        assert stats["linked"] == oks.count("child") - oks.count("undo")

    expected: dict[str, str] = {}
    for device in devices:
        expected.update(device.expected_links())
    rows = await pool.fetch("SELECT c.code AS child, p.code AS parent FROM links l "
                            "JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id")
    assert {r["child"]: r["parent"] for r in rows} == expected
    bad = await pool.fetch(
        """SELECT p.code, p.child_count, p.capacity, p.completed_at IS NOT NULL AS completed,
                  (SELECT count(*) FROM links l WHERE l.parent_id = p.id) AS links
             FROM bags p WHERE p.kind = 'P'
              AND (p.child_count <> (SELECT count(*) FROM links l WHERE l.parent_id = p.id)
                   OR p.child_count > p.capacity
                   OR (p.completed_at IS NOT NULL) <> (p.child_count = p.capacity))""")
    assert bad == [], bad


async def test_kill_9_under_load_then_replay_to_a_new_hub_loses_and_doubles_nothing(
        hub_process: Any, clean_db: asyncpg.Pool) -> None:
    names = [f"crash{n}" for n in range(1, 5)]
    await create_users(clean_db, names)
    first = await asyncio.to_thread(lambda: hub_process().start())
    tokens = [await login(first.url, name) for name in names]
    # Two scanners will stop reading acks: the hub commits what they sent, and its acks never reach
    # them (as if the hub died before they got out). Two keep scanning fast until the hub dies.
    devices = [Device(f"hh-crash-{n}", token, dispatcher_shift(n), burst=4, pause=0.05) if n <= 2 else
               Device(f"hh-crash-{n}", token, dispatcher_shift(n) + dispatcher_shift(n + 10), burst=4, pause=0.02)
               for n, token in enumerate(tokens, start=1)]
    deaf, busy = devices[:2], devices[2:]

    async def until(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert not sessions.done(), f"the scanners finished before {what}"
            assert time.monotonic() < deadline, f"the scanners made no progress towards {what}"
            await asyncio.sleep(0.002)

    sessions = asyncio.ensure_future(run_all(devices, ws_url(first.url), 60))
    await until(lambda: all(len(d.acks) >= 12 for d in deaf), "the deaf scanners were under way")
    for device in deaf:
        device.reading.clear()
    stopped = time.monotonic()
    await until(lambda: all(len(d.acks) >= 0.4 * len(d.ops) for d in busy) and time.monotonic() > stopped + 0.3,
                "the busy scanners were under way")
    await asyncio.to_thread(first.kill)  # SIGKILL: no shutdown, no drain, no goodbye
    acked_before = {d.name: dict(d.acks) for d in devices}
    sent_before = {d.name: d.sent for d in devices}
    assert await asyncio.wait_for(sessions, WAIT) == ["closed"] * len(devices)
    for device in devices:
        device.reading.set()
        assert not device.done, f"{device.name} finished before the hub died"
    for device in deaf:
        assert device.outbox, f"{device.name} had nothing in flight when the hub died"

    second = await asyncio.to_thread(lambda: hub_process().start())
    assert await run_all(devices, ws_url(second.url), 90, reconnect=True) == ["done"] * len(devices)

    for device in devices:
        before = acked_before[device.name]
        applied = device.welcomes[1]["applied_seq"]
        # Durable: the new hub knows every seq acked before the crash (and nothing never sent).
        assert max(before, default=0) <= applied <= sent_before[device.name]
        for seq, ack in before.items():
            assert device.acks[seq] == ack
        # Resent operations the dead hub had committed are replays; the rest were applied now.
        assert all(seq <= applied for seq in device.replays)
        assert device.retries == []
    # The unread acks were of committed operations: their resends were answered as replays.
    assert all(device.replays for device in deaf)
    await check_database(clean_db, devices)
    # Every parent filled exactly as its acks say: 30 in each standard parent, 15 in each mini.
    counts = {r["code"]: r["child_count"] for r in await clean_db.fetch("SELECT code, child_count FROM bags "
                                                                         "WHERE kind = 'P'")}
    shifts = [1, 2, 3, 4, 13, 14]
    assert counts == {**{f"SB{n:05d}": 30 for n in shifts}, **{f"M444-{n:05d}": 15 for n in shifts}}
