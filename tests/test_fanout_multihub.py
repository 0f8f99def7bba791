"""Two real hub processes on one PostgreSQL and one Redis: what is scanned on either is on every
dashboard, exactly as SQL counts it; a batch whose publication was lost is repaired from SQL;
presence crosses processes, and a hub that dies takes its scanners off the list.

The clients here (`RemoteScanner`, `RemoteDashboard`, the random workload) are shared with
test_redis_outage.py and test_slow_dashboard.py.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import msgpack
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from hub.batch import Submission, apply_batch
from hub.domain import rules
from hub.domain.rules import Actor, Role
from hub.livestate import FIELDS
from hub.store import formats as formats_store
from tests.hubprocess import HubProcess
from tests.test_dashboard import (
    Account,
    make_account,
    shown_areas,
    sql_today,
    stats_today,
    totals,
)
from tests.test_livestate import DashboardView

pytestmark = pytest.mark.slow

ACK_TIMEOUT = 10.0


# --- hubs ----------------------------------------------------------------------------------------


async def start_hubs(hub_process: type[HubProcess], count: int, **env: str) -> list[HubProcess]:
    """Start `count` hub processes side by side and wait until every one is ready."""
    hubs = [hub_process(TIMEZONE="UTC", **env) for _ in range(count)]
    for hub in hubs:
        hub.start(wait=False)
    await asyncio.gather(*(asyncio.to_thread(hub.wait_ready) for hub in hubs))
    return hubs


def ws_url(hub: HubProcess, path: str) -> str:
    return hub.url.replace("http://", "ws://", 1) + path


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
        self.ws = await websockets.connect(ws_url(self.hub, "/ws/scan"), additional_headers=self.account.cookie,
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
        self.url = ws_url(hub, "/ws/dashboard") + (f"?{query}" if query else "")
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
    assert fresh == built, dash.url


async def lose_a_batch(pool: asyncpg.Pool, account: Account, code: str) -> None:
    """Commit a batch as a hub would, and publish nothing: as if its hub died right after COMMIT."""
    actor = Actor(account.user_id, account.username, Role(account.role), account.area)
    formats = await formats_store.load(pool)
    async with pool.acquire() as conn, conn.transaction():
        results, committed = await apply_batch(
            conn, [Submission(f"lost-{uuid.uuid4().hex[:6]}", 1, actor, rules.ScanParent(code))], formats,
            datetime.now(UTC))
    assert results[0].outcome.ok and committed.seq > 0


async def issue_wall_token(hub: HubProcess, admin: Account, area: str | None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.url, headers=admin.cookie, timeout=10) as http:
        response = await http.post("/api/wall-tokens", json={"label": f"screen {area}", "area": area})
    assert response.status_code == 201, response.text
    return response.json()


# --- the tests -----------------------------------------------------------------------------------


async def test_scans_on_one_hub_reach_dashboards_on_the_other_exactly(
        hub_process: type[HubProcess], clean_db: asyncpg.Pool, redis_url: str, redis_prefix: str) -> None:
    pool = clean_db
    a, b = await start_hubs(hub_process, 2, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix))
    admin = await make_account(pool, "admin")
    luck_a, luck_b, indore_a, jaipur_b = [await make_account(pool, "dispatcher", area)
                                          for area in ("lucknow", "lucknow", "indore", "jaipur")]
    biller_a, biller_b = [await make_account(pool, "biller", area) for area in ("lucknow", "indore")]
    wall = await issue_wall_token(a, admin, "indore")
    seed = random.randrange(1 << 30)
    print(f"random workload seed {seed}")

    async with RemoteDashboard(b, "", admin) as all_b, RemoteDashboard(b, "format=json", luck_a) as lucknow_b, \
            RemoteDashboard(b, f"token={wall['token']}", None) as indore_wall_b, \
            RemoteDashboard(a, "format=json", admin) as all_a:
        dashboards = [all_b, lucknow_b, indore_wall_b, all_a]
        await asyncio.gather(*(d.until(lambda d=d: d.view.seq is not None, 10, "snapshot") for d in dashboards))
        assert lucknow_b.view.scope == "area:lucknow" and indore_wall_b.view.scope == "area:indore"

        async with RemoteScanner(a, luck_a) as s1, RemoteScanner(b, luck_b) as s2, \
                RemoteScanner(a, indore_a) as s3, RemoteScanner(b, jaipur_b) as s4, \
                RemoteScanner(a, biller_a) as s5, RemoteScanner(b, biller_b) as s6:
            scanners = [s1, s2, s3, s4, s5, s6]
            ops = [Operator(s, n + 1) for n, s in enumerate(scanners)]
            # Scans into another area's parents (WRONG_AREA), except for the two lucknow dispatchers
            # on different hubs: they fill each other's parents now and then.
            ops[0].foreign = ops[2].parents
            ops[1].foreign = ops[0].parents
            ops[2].foreign = ops[3].parents
            ops[3].foreign = ops[0].parents
            rngs = [random.Random(seed + n) for n in range(len(ops))]

            async def dispatcher(n: int) -> None:
                await dispatcher_work(ops[n], rngs[n], 60)
                if n == 1 and ops[0].parents:  # cross-hub contention on one parent
                    ops[1].parents.append(ops[0].parents[-1])
                await dispatcher_work(ops[n], rngs[n], 60)

            late: list[RemoteDashboard] = []

            async def join_late() -> None:
                await asyncio.sleep(0.5)
                dash = RemoteDashboard(a, "scope=area:lucknow", admin)
                await dash.__aenter__()
                late.append(dash)

            await asyncio.wait_for(asyncio.gather(
                *(dispatcher(n) for n in range(4)), biller_work(ops[4], rngs[4], 3), biller_work(ops[5], rngs[5], 2),
                join_late()), 90)
            dashboards += late
            try:
                counted = await assert_exact(pool, dashboards)
                await assert_acks_recorded(pool, scanners)
                codes = {a.reply["code"] for s in scanners for a in s.acks}
                assert {"OK", "WRONG_AREA", "INVALID_CODE", "UNKNOWN_PARENT", "BILL_NOT_OPEN"} <= codes, codes
                assert totals(counted)["parents_completed"] >= 5 and totals(counted)["bills_completed"] >= 4
                assert set(indore_wall_b.view.areas) <= {"indore"}
                assert {e["area"] for _, m in indore_wall_b.messages for e in m.get("events", [])} == {"indore"}
                for dash in dashboards:
                    assert dash.view.gaps == 0 and dash.close_code is None
                    await assert_view_equals_snapshot(dash)

                # A batch whose publication is lost (its hub died after COMMIT): the next batch shows
                # the gap, and within about a second every hub resyncs its dashboards from SQL.
                snapshots = [d.view.snapshots for d in dashboards]
                await lose_a_batch(pool, luck_a, "SB77777")
                assert (await s1.do("child", code="LOSTKID1", parent="SB77777"))["ok"]
                await caught_up(pool, dashboards, timeout=5)
                assert all(d.view.snapshots > n for d, n in zip(dashboards, snapshots))
                after = await assert_exact(pool, dashboards)
                assert totals(after)["accepted"] == totals(counted)["accepted"] + 2
                assert all(d.view.gaps == 0 for d in dashboards)

                # The last batch before a quiet spell is lost: no later batch shows the gap, the
                # hubs find it on the commit clock (read every few seconds).
                snapshots = [d.view.snapshots for d in dashboards]
                await lose_a_batch(pool, luck_a, "SB77778")
                took = time.monotonic()
                await caught_up(pool, dashboards, timeout=10)
                print(f"a lost last batch was repaired after {time.monotonic() - took:.1f} s")
                assert all(d.view.snapshots > n for d, n in zip(dashboards, snapshots))
                assert totals(await assert_exact(pool, dashboards))["accepted"] == totals(after)["accepted"] + 1
            finally:
                for dash in late:
                    await dash.__aexit__(None, None, None)
    latencies = sorted(a.latency for s in scanners for a in s.acks)
    print(f"{len(latencies)} acks, median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")


async def test_presence_crosses_hubs_and_a_dead_hub_drops_off(
        hub_process: type[HubProcess], clean_db: asyncpg.Pool, redis_url: str, redis_prefix: str) -> None:
    pool = clean_db
    a, b = await start_hubs(hub_process, 2, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix))
    admin = await make_account(pool, "admin")
    raipur, ranchi = [await make_account(pool, "dispatcher", area) for area in ("raipur", "ranchi")]
    async with RemoteDashboard(b, "", admin) as all_b, RemoteDashboard(b, "scope=area:ranchi", admin) as ranchi_b, \
            RemoteDashboard(a, "", admin) as all_a:
        await all_b.until(lambda: all_b.view.seq is not None, 10, "snapshot")
        async with RemoteScanner(a, raipur, "raipur-gun-1") as scanner:
            joined = await all_b.until(lambda: all_b.online() == ["raipur-gun-1"], 2, "the join")
            entry = all_b.view.online[0]
            assert (entry["user"], entry["area"], entry["parent"]) == (raipur.username, "raipur", None)
            await scanner.do("parent", code="SB60001")
            await all_b.until(lambda: all_b.view.online[0]["parent"] == "SB60001", 2, "the parent")
        left = await all_b.until(lambda: all_b.online() == [], 2, "the leave")
        print(f"presence across hubs: join {joined * 1000:.0f} ms, leave {left * 1000:.0f} ms")
        assert joined < 1.0 and left < 1.0
        assert all(m["online"] == [] for _, m in ranchi_b.messages if m["t"] == "presence")
        assert all_a.online() == []

        async with RemoteScanner(a, raipur, "raipur-gun-2"), RemoteScanner(b, ranchi, "ranchi-gun-1"):
            await all_b.until(lambda: all_b.online() == ["raipur-gun-2", "ranchi-gun-1"], 2, "both")
            await all_a.until(lambda: all_a.online() == ["raipur-gun-2", "ranchi-gun-1"], 2, "both")
            await ranchi_b.until(lambda: ranchi_b.online() == ["ranchi-gun-1"], 2, "ranchi's own")
            # Hub A dies without a word: B drops its scanners when its announcements stop.
            a.kill()
            gone = await all_b.until(lambda: all_b.online() == ["ranchi-gun-1"], 12, "A's scanners gone")
            print(f"a killed hub's scanners left the list after {gone:.1f} s")
            assert all_b.close_code is None and ranchi_b.online() == ["ranchi-gun-1"]
        await all_b.until(lambda: all_b.online() == [], 2, "the last leave")
        assert await all_a.closed() in (1006, 1012)
