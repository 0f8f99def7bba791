"""Clients of real hub processes and what the multi-hub tests check with them.

`RemoteScanner` and `RemoteDashboard` speak to a hub subprocess over real websockets; `Operator`,
`dispatcher_work` and `biller_work` make a random day of scanning; `assert_exact` and its siblings
compare what the dashboards show and the scanners were told with what PostgreSQL holds.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgpack
import websockets
from websockets.asyncio.client import ClientConnection

from hub.livestate import FIELDS
from tests.dashboard_support import Account, DashboardView, shown_areas, sql_today, stats_today, totals
from tests.hubprocess import HubProcess

ACK_TIMEOUT = 10.0


# --- hubs ----------------------------------------------------------------------------------------


async def start_hubs(hub_process: type[HubProcess], count: int, **env: str) -> list[HubProcess]:
    """Start `count` hub processes side by side and wait until every one is ready."""
    hubs = [hub_process(TIMEZONE="UTC", **env) for _ in range(count)]
    for hub in hubs:
        hub.start(wait=False)
    await asyncio.gather(*(asyncio.to_thread(hub.wait_ready) for hub in hubs))
    return hubs


def unique_prefix(redis_prefix: str) -> str:
    """This test's own Redis namespace, so runs and tests sharing a Redis never hear each other."""
    return f"{redis_prefix}-{uuid.uuid4().hex[:8]}"


# --- a scanner -----------------------------------------------------------------------------------


@dataclass
class Ack:
    seq: int
    op: dict[str, Any]
    reply: dict[str, Any]
    latency: float


class RemoteScanner:
    """A scanner device on a real websocket: hello, numbered operations, acks with their latency."""

    def __init__(self, hub: HubProcess, account: Account, device: str | None = None) -> None:
        self.hub = hub
        self.account = account
        self.device = device or f"gun-{uuid.uuid4().hex[:10]}"
        self.seq = 0
        self.acks: list[Ack] = []
        self.ws: ClientConnection | None = None

    async def __aenter__(self) -> RemoteScanner:
        self.ws = await websockets.connect(self.hub.ws_url("/ws/scan"), additional_headers=self.account.cookie,
                                           open_timeout=10, close_timeout=2)
        await self.ws.send(msgpack.packb({"t": "hello", "device": self.device, "last_seq": self.seq}))
        welcome = msgpack.unpackb(await asyncio.wait_for(self.ws.recv(), ACK_TIMEOUT))
        assert welcome["t"] == "welcome", welcome
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.ws is not None
        await self.ws.close()

    async def do(self, op: str, **fields: Any) -> dict[str, Any]:
        """Send one operation and wait for its ack."""
        assert self.ws is not None
        self.seq += 1
        message = {"t": "op", "seq": self.seq, "op": op, **fields}
        started = time.monotonic()
        await self.ws.send(msgpack.packb(message))
        reply = msgpack.unpackb(await asyncio.wait_for(self.ws.recv(), ACK_TIMEOUT))
        assert reply["t"] == "ack" and reply["seq"] == self.seq, reply
        self.acks.append(Ack(self.seq, message, reply, time.monotonic() - started))
        return reply

    async def pipeline(self, ops: list[dict[str, Any]], window: int) -> None:
        """Send `ops` keeping up to `window` unacked, as a scanner's outbox does."""
        assert self.ws is not None
        ws = self.ws
        sent: dict[int, tuple[dict[str, Any], float]] = {}
        free = asyncio.Semaphore(window)
        last = self.seq + len(ops)

        async def read_acks() -> None:
            while not self.acks or self.acks[-1].seq < last:
                reply = msgpack.unpackb(await asyncio.wait_for(ws.recv(), ACK_TIMEOUT))
                assert reply["t"] == "ack", reply
                message, started = sent.pop(reply["seq"])
                self.acks.append(Ack(reply["seq"], message, reply, time.monotonic() - started))
                free.release()

        reader = asyncio.create_task(read_acks())
        try:
            for op in ops:
                await asyncio.wait_for(free.acquire(), ACK_TIMEOUT)
                self.seq += 1
                message = {"t": "op", "seq": self.seq, **op}
                sent[self.seq] = (message, time.monotonic())
                await ws.send(msgpack.packb(message))
            await reader
        finally:
            reader.cancel()

    def acked(self) -> dict[tuple[str, int], str]:
        """(device, seq) -> result code of every operation acked as recorded (not to be resent)."""
        return {(self.device, a.seq): a.reply["code"] for a in self.acks if not a.reply["retry"]}


# --- a dashboard ---------------------------------------------------------------------------------


class RemoteDashboard:
    """A /ws/dashboard client on a real websocket, keeping a `DashboardView` (resync on a gap)."""

    def __init__(self, hub: HubProcess, query: str = "", account: Account | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.url = hub.ws_url("/ws/dashboard") + (f"?{query}" if query else "")
        self.headers = {**(account.cookie if account else {}), **(headers or {})}
        self.view = DashboardView()
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.close_code: int | None = None
        self.ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> RemoteDashboard:
        self.ws = await websockets.connect(self.url, additional_headers=self.headers, open_timeout=10,
                                           close_timeout=2, max_size=None)
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.ws is not None and self._reader is not None
        await self.ws.close()
        await asyncio.wait_for(self._reader, 5)

    async def _read(self) -> None:
        assert self.ws is not None
        code = 1006
        try:
            async for frame in self.ws:
                message = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
                self.messages.append((time.monotonic(), message))
                if self.view.apply(message) == "resync":
                    await self.ws.send(msgpack.packb({"t": "resync"}))
                self._changed.set()
            code = self.ws.close_code or 1006
        except websockets.ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else 1006
        finally:
            self.close_code = code
            self._changed.set()

    async def send(self, message: dict[str, Any]) -> None:
        assert self.ws is not None
        await self.ws.send(msgpack.packb(message))

    async def until(self, done: Callable[[], bool], timeout: float = 10.0, what: str = "") -> float:
        """Wait until `done()`; the seconds it took."""
        started = time.monotonic()
        while not done():
            self._changed.clear()
            if done():
                break
            if self.close_code is not None:
                raise AssertionError(f"dashboard closed ({self.close_code}) waiting for {what or done}")
            remaining = started + timeout - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"dashboard {self.url}: no {what or done} in {timeout}s; "
                                   f"last messages {[m for _, m in self.messages[-3:]]}")
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass
        return time.monotonic() - started

    async def closed(self, timeout: float = 10.0) -> int:
        """Wait for the hub to close the connection; its close code."""
        await self.until(lambda: self.close_code is not None, timeout, "close")
        assert self.close_code is not None
        return self.close_code

    def online(self) -> list[str]:
        return sorted(s["device"] for s in self.view.online)


# --- a random day of scanning --------------------------------------------------------------------


@dataclass
class Operator:
    """What one operator's random scanning knows: their parents and the children they linked."""

    scanner: RemoteScanner
    tag: int
    foreign: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    linked: list[str] = field(default_factory=list)
    made: int = 0

    def new_parent(self, rng: random.Random) -> str:
        self.made += 1
        return f"M444-{self.tag}{self.made:04d}" if rng.random() < 0.8 else f"SB{self.tag}{self.made:04d}"

    def new_child(self) -> str:
        self.made += 1
        return f"C{self.tag}K{self.made:05d}"


async def dispatcher_work(op: Operator, rng: random.Random, count: int) -> None:
    """`count` scans of a dispatcher: mostly children into their current parent, with every kind of
    rejection and some undos mixed in."""
    s = op.scanner
    for _ in range(count):
        r = rng.random()
        if not op.parents or r < 0.07:
            code = op.new_parent(rng)
            if (await s.do("parent", code=code))["ok"]:
                op.parents.append(code)
        elif r < 0.80:
            code = op.new_child()
            reply = await s.do("child", code=code, parent=op.parents[-1])
            if reply["ok"]:
                op.linked.append(code)
            if reply["code"] == "PARENT_FULL" or reply["data"].get("complete"):
                op.parents.append(op.new_parent(rng))
                await s.do("parent", code=op.parents[-1])
        elif r < 0.84 and op.linked:
            await s.do("child", code=rng.choice(op.linked), parent=op.parents[-1])  # ALREADY_*
        elif r < 0.88 and op.linked:
            reply = await s.do("undo", code=op.linked[-1])
            if reply["ok"]:
                op.linked.pop()
        elif r < 0.91:
            await s.do("parent", code=rng.choice(op.parents))
        elif r < 0.94:
            await s.do("child", code=rng.choice(["??", "AB", "C-1"]), parent=op.parents[-1])  # INVALID_CODE
        elif r < 0.97 and op.foreign:
            await s.do("child", code=op.new_child(), parent=rng.choice(op.foreign))  # WRONG_AREA
        else:
            await s.do("child", code=op.new_child(), parent=f"SB9{rng.randrange(10000):04d}")  # UNKNOWN_PARENT


async def biller_work(op: Operator, rng: random.Random, bills: int) -> None:
    """A biller's shift: fill mini parents, put them on bills, finish, reopen, finish again."""
    s = op.scanner
    for n in range(bills):
        bill = f"BL{op.tag}-{n}"
        assert (await s.do("bill_create", bill=bill, capacity=3, destination="Delhi", vehicle="HR55"))["ok"]
        for _ in range(rng.randint(1, 2)):
            parent = f"M444-{op.tag}{9000 + len(op.parents):04d}"
            op.parents.append(parent)
            await s.do("parent", code=parent)
            for _ in range(15):
                await s.do("child", code=op.new_child(), parent=parent)
            await s.do("bill_add", bill=bill, parent=parent)
        await s.do("bill_add", bill=bill, parent=f"M444-{op.tag}0000")  # UNKNOWN_PARENT
        if rng.random() < 0.5:
            await s.do("undo", code=op.parents[-1])  # takes it off the bill
            await s.do("bill_add", bill=bill, parent=op.parents[-1])
        if n % 2 == 0:
            await s.do("bill_finish", bill=bill)
            await s.do("bill_reopen", bill=bill)
        await s.do("bill_finish", bill=bill)
        await s.do("bill_finish", bill=bill)  # BILL_NOT_OPEN


# --- exactness -----------------------------------------------------------------------------------


async def commit_seq(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval("SELECT seq FROM commit_clock", timeout=10))


async def caught_up(pool: asyncpg.Pool, dashboards: list[RemoteDashboard], timeout: float = 10.0) -> int:
    """Wait until every dashboard is at the last committed seq; that seq."""
    seq = await commit_seq(pool)
    await asyncio.gather(*(d.until(lambda d=d: d.view.seq == seq, timeout, f"seq {seq}") for d in dashboards))
    return seq


async def assert_exact(pool: asyncpg.Pool, dashboards: list[RemoteDashboard]) -> dict[str, dict[str, int]]:
    """Every dashboard's counters equal what SQL counts, and scan_stats agrees with both."""
    await caught_up(pool, dashboards)
    day = dashboards[0].view.day
    counted = await sql_today(pool, day)
    assert await stats_today(pool, day) == counted, "scan_stats disagrees with the base tables"
    for dash in dashboards:
        scope = dash.view.scope
        if scope == "all":
            assert dash.view.counters == totals(counted), dash.url
            assert shown_areas(dash.view) == counted, dash.url
        elif scope.startswith("area:"):
            area = scope.removeprefix("area:")
            assert dash.view.counters == totals(counted, area), dash.url
            assert shown_areas(dash.view) == {a: c for a, c in counted.items() if a == area}, dash.url
        if dash.view.counters:
            assert {f: sum(s[f] for s in dash.view.scanners.values()) for f in FIELDS} == dash.view.counters
    return counted


async def assert_acks_recorded(pool: asyncpg.Pool, scanners: list[RemoteScanner]) -> None:
    """Every acked operation is in the scans table exactly once, with the result it was acked with."""
    acked: dict[tuple[str, int], str] = {}
    for scanner in scanners:
        acked.update(scanner.acked())
    rows = await pool.fetch("SELECT device_id, seq, result FROM scans WHERE device_id = ANY($1::text[])",
                            [s.device for s in scanners], timeout=10)
    stored = [(r["device_id"], r["seq"]) for r in rows]
    assert len(stored) == len(set(stored))
    assert {(r["device_id"], r["seq"]): r["result"] for r in rows} == acked


async def assert_view_equals_snapshot(dash: RemoteDashboard) -> None:
    """What the deltas built is what a fresh snapshot says (recent events aside: see below)."""
    built = dash.view.state(time.time())
    snapshots = dash.view.snapshots
    await dash.send({"t": "resync"})
    await dash.until(lambda: dash.view.snapshots == snapshots + 1, 10, "the resync's snapshot")
    fresh = dash.view.state(time.time())
    assert fresh["seq"] == built["seq"]
    # Recent events: a hub keeps the latest RECENT_EVENTS of all areas, so an area's snapshot holds
    # only those of its area, while its client has kept appending up to RECENT_EVENTS of its own.
    fresh_events, built_events = fresh.pop("events"), built.pop("events")
    assert set(fresh_events) <= set(built_events), dash.url
    differing = {key: (built.get(key), fresh.get(key)) for key in fresh.keys() | built.keys()
                 if fresh.get(key) != built.get(key)}
    assert not differing, f"{dash.url}: built from deltas, then a fresh snapshot: {differing!r:.3000}"


async def check_invariants(pool: asyncpg.Pool) -> None:
    """The brief's invariants, in SQL, over the whole database."""
    assert await pool.fetch("SELECT child_id FROM links GROUP BY child_id HAVING count(*) > 1") == []
    assert await pool.fetch(
        """SELECT p.code, p.child_count, p.capacity, p.completed_at FROM bags p
            WHERE p.kind = 'P'
              AND (p.child_count <> (SELECT count(*) FROM links l WHERE l.parent_id = p.id)
                   OR p.child_count > p.capacity
                   OR (p.completed_at IS NOT NULL) <> (p.child_count = p.capacity))""") == []
    assert await pool.fetch("""SELECT c.code FROM links l JOIN bags c ON c.id = l.child_id
                                WHERE c.kind <> 'C'
                               UNION ALL
                               SELECT p.code FROM links l JOIN bags p ON p.id = l.parent_id
                                WHERE p.kind <> 'P'""") == []
    assert await pool.fetch("SELECT parent_id FROM bill_parents GROUP BY parent_id HAVING count(*) > 1") == []
    assert await pool.fetch(
        """SELECT b.code FROM bills b
            WHERE b.parent_count <> (SELECT count(*) FROM bill_parents bp WHERE bp.bill_id = b.id)
               OR b.parent_count > b.capacity
               OR (b.status = 'completed' AND b.parent_count = 0)""") == []
    assert await pool.fetch(
        """SELECT p.code FROM bill_parents bp JOIN bags p ON p.id = bp.parent_id
            WHERE p.child_count <> p.capacity OR p.kind <> 'P'""") == []
