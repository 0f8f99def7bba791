"""Dashboards in-process: who may watch what, wall-screen tokens, the message formats, exact counters.

`DashboardConnection` (the bounded queue, coalescing, 4008, 4001) is also driven directly through a
fake transport, with no network and no database. Real hub processes: test_fanout_multihub.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import msgpack
import pytest
from starlette.testclient import TestClient

from hub import dashboard, protocol
from hub import fanout as fanout_module
from hub.app import create_app
from hub.codes import Close
from hub.dashboard import DashboardConnection
from hub.fanout import DELTA_INTERVAL, PRESENCE_INTERVAL, Fanout
from hub.livestate import FIELDS, LiveState, Scope
from hub.settings import Settings
from hub.transport import Disconnect
from tests.dashboard_support import Account, DashboardView, make_account, shown_areas, sql_today, stats_today, totals
from tests.support import Scanner
from tests.ws_support import next_message

ZERO = dict.fromkeys(FIELDS, 0)


# --- an in-process dashboard ---------------------------------------------------------------------


class Closed(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Dashboard:
    """A /ws/dashboard client on the TestClient that keeps a `DashboardView` and resyncs on a gap."""

    def __init__(self, client: TestClient, query: str = "", account: Account | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.ws = client.websocket_connect("/ws/dashboard" + (f"?{query}" if query else ""),
                                           headers={**(account.cookie if account else {}), **(headers or {})})
        self.view = DashboardView()
        self.messages: list[dict[str, Any]] = []
        self.frames: list[bytes | str] = []

    def __enter__(self) -> Dashboard:
        self.ws.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.__exit__(None, None, None)

    def send(self, message: dict[str, Any], binary: bool = True) -> None:
        if binary:
            self.ws.send_bytes(msgpack.packb(message))
        else:
            self.ws.send_text(json.dumps(message))

    def receive(self, timeout: float = 5.0) -> dict[str, Any]:
        message = next_message(self.ws, timeout)
        if message["type"] == "websocket.close":
            raise Closed(message.get("code", 1000), message.get("reason") or "")
        frame = message["bytes"] if message.get("bytes") is not None else message["text"]
        self.frames.append(frame)
        decoded = msgpack.unpackb(frame) if isinstance(frame, bytes) else json.loads(frame)
        self.messages.append(decoded)
        if self.view.apply(decoded) == "resync":
            self.send({"t": "resync"})
        return decoded

    def until(self, done: Callable[[], bool], timeout: float = 5.0) -> None:
        end = time.monotonic() + timeout
        while not done():
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"dashboard did not get there in {timeout}s; last: {self.messages[-3:]}")
            self.receive(remaining)

    def close_code(self, timeout: float = 5.0) -> int:
        """Read until the hub closes the connection; its close code."""
        try:
            while True:
                self.receive(timeout)
        except Closed as closed:
            return closed.code


def hub_of(client: TestClient) -> Any:
    return client.app.state.hub  # type: ignore[attr-defined]


def account(client: TestClient, role: str = "dispatcher", area: str | None = "lucknow") -> Account:
    return client.portal.call(make_account, hub_of(client).pool, role, area)  # type: ignore[union-attr]


def refused(client: TestClient, query: str, account: Account | None = None,
            headers: dict[str, str] | None = None) -> tuple[int, str]:
    """Connect and expect to be closed before any snapshot: (code, reason)."""
    with Dashboard(client, query, account, headers) as dash:
        try:
            message = dash.receive()
        except Closed as closed:
            return closed.code, closed.reason
    raise AssertionError(f"expected a close, got {message}")


def fill_mini_parent(scanner: Scanner, code: str, prefix: str, count: int = 15) -> list[dict[str, Any]]:
    acks = [scanner.do("parent", code=code)]
    acks += [scanner.do("child", code=f"{prefix}{n:04d}", parent=code) for n in range(count)]
    return acks


# --- authentication and origin -------------------------------------------------------------------


def test_a_dashboard_needs_a_login_or_a_token(client: TestClient) -> None:
    assert refused(client, "")[0] == Close.POLICY_VIOLATION
    assert refused(client, "scope=all")[0] == Close.POLICY_VIOLATION
    assert refused(client, "", headers={"cookie": "tt_session=not-a-session"})[0] == Close.POLICY_VIOLATION
    assert refused(client, "token=not-a-token")[0] == Close.POLICY_VIOLATION
    assert refused(client, "token=" + "x" * 200)[0] == Close.POLICY_VIOLATION
    admin = account(client, "admin")
    assert client.post("/api/logout", headers=admin.cookie).status_code in (200, 204)
    assert refused(client, "", admin)[0] == Close.POLICY_VIOLATION


def test_a_foreign_origin_is_refused(client: TestClient) -> None:
    admin = account(client, "admin")
    code, reason = refused(client, "", admin, {"origin": "http://evil.example"})
    assert code == Close.POLICY_VIOLATION and "origin" in reason
    # Its own origin, or none (not a browser), is fine.
    for headers in ({"origin": "http://testserver"}, {}):
        with Dashboard(client, "", admin, headers) as dash:
            assert dash.receive()["t"] == "snapshot"


# --- scopes --------------------------------------------------------------------------------------


def test_a_dispatcher_watches_only_their_own_area(client: TestClient) -> None:
    lucknow = account(client, "dispatcher", "lucknow")
    indore = account(client, "dispatcher", "indore")
    biller = account(client, "biller", "lucknow")
    indore_biller = account(client, "biller", "indore")
    with Scanner(client, biller.token) as scanner:
        assert scanner.do("bill_create", bill="luck-1", capacity=3)["ok"]
    with Scanner(client, indore_biller.token) as scanner:
        assert scanner.do("bill_create", bill="ind-1", capacity=3)["ok"]

    for query in ("scope=all", "scope=area:indore", "scope=bill:IND-1", "scope=bill:NO-SUCH-BILL",
                  "scope=zone:lucknow", "scope=area:"):
        assert refused(client, query, lucknow)[0] == Close.POLICY_VIOLATION, query

    with Dashboard(client, "", lucknow) as own, Dashboard(client, "format=json", indore) as other, \
            Dashboard(client, "scope=bill:luck-1", lucknow) as bill:
        snapshot = own.receive()
        assert snapshot["t"] == "snapshot" and snapshot["scope"] == "area:lucknow"
        assert other.receive()["scope"] == "area:indore"
        bill_snapshot = bill.receive()
        assert set(bill_snapshot) == {"t", "seq", "scope", "bills", "events", "online", "stale", "names"}
        assert bill_snapshot["scope"] == "bill:LUCK-1" and [b["code"] for b in bill_snapshot["bills"]] == ["LUCK-1"]
        assert bill_snapshot["online"] == []

        with Scanner(client, lucknow.token) as luck_scanner, Scanner(client, indore.token) as ind_scanner:
            luck_scanner.do("parent", code="SB10001")
            luck_scanner.do("child", code="LK0001", parent="SB10001")
            ind_scanner.do("parent", code="SB20001")
            ind_scanner.do("child", code="LK0002", parent="SB10001")  # WRONG_AREA: counts in lucknow
            last = ind_scanner.do("child", code="ID0001", parent="SB20001")
        assert last["ok"]
        seq = snapshot["seq"] + 5
        own.until(lambda: own.view.seq == seq)
        other.until(lambda: other.view.seq == seq)
        bill.until(lambda: bill.view.seq == seq)
        assert {e["area"] for m in own.messages for e in m.get("events", [])} == {"lucknow"}
        assert {e["area"] for m in other.messages for e in m.get("events", [])} == {"indore"}
        assert set(own.view.areas) == {"lucknow"} and set(other.view.areas) == {"indore"}
        counted = client.portal.call(sql_today, hub_of(client).pool, snapshot["day"])
        assert own.view.counters == totals(counted, "lucknow") and own.view.counters["accepted"] == 3
        assert other.view.counters == totals(counted, "indore") and other.view.counters["accepted"] == 3
        assert own.view.counters["rejected"] + other.view.counters["rejected"] == 1  # the WRONG_AREA
        # Each screen's scanners add up to its counters: a device shows only its scans in that area.
        for view in (own.view, other.view):
            assert {f: sum(s[f] for s in view.scanners.values()) for f in FIELDS} == view.counters
        # The bill's screen got deltas covering every seq, none with anything in it.
        deltas = [m for m in bill.messages[1:] if m["t"] == "delta"]
        assert all(set(m) == {"t", "from", "seq"} for m in deltas)
        assert [m["from"] for m in deltas] == [snapshot["seq"] + 1] + [m["seq"] + 1 for m in deltas[:-1]]
        # All dashboards, online: each sees the scanners of its own area only.
        assert all(s["area"] == "lucknow" for m in own.messages if m["t"] == "presence" for s in m["online"])


def test_an_admin_may_follow_any_scope(client: TestClient) -> None:
    admin = account(client, "admin")
    for query, scope in (("", "all"), ("scope=area:hisar", "area:hisar"), ("scope=bill:nothing", "bill:NOTHING")):
        with Dashboard(client, query, admin) as dash:
            assert dash.receive()["scope"] == scope
    assert refused(client, "scope=everything", admin)[0] == Close.POLICY_VIOLATION


# --- wall-screen tokens --------------------------------------------------------------------------


def test_wall_screen_tokens_issue_watch_revoke(client: TestClient) -> None:
    admin = account(client, "admin")
    dispatcher = account(client, "dispatcher", "indore")
    assert client.post("/api/wall-tokens", json={"label": "dock", "area": "indore"},
                       headers=dispatcher.cookie).status_code == 403
    assert client.post("/api/wall-tokens", json={"label": "dock", "area": "atlantis"},
                       headers=admin.cookie).status_code == 400
    assert client.post("/api/wall-tokens", json={"label": "", "area": None},
                       headers=admin.cookie).status_code == 400
    issued = client.post("/api/wall-tokens", json={"label": "Indore dock 3", "area": "indore"},
                         headers=admin.cookie)
    assert issued.status_code == 201, issued.text
    wall = issued.json()
    assert wall["area"] == "indore" and wall["url"] == f"/dashboard.html?wall=1&token={wall['token']}"
    everywhere = client.post("/api/wall-tokens", json={"label": "Head office", "area": None},
                             headers=admin.cookie).json()

    for scope in ("all", "area:lucknow", "bill:B1"):
        assert refused(client, f"token={wall['token']}&scope={scope}")[0] == Close.POLICY_VIOLATION, scope
    with Dashboard(client, f"token={everywhere['token']}&scope=area:lucknow") as anywhere:
        assert anywhere.receive()["scope"] == "area:lucknow"

    lucknow = account(client, "dispatcher", "lucknow")
    with Dashboard(client, f"token={wall['token']}") as screen, \
            Dashboard(client, f"token={everywhere['token']}&format=json") as office:
        first = screen.receive()
        assert first["t"] == "snapshot" and first["scope"] == "area:indore"
        assert office.receive()["scope"] == "all"
        with Scanner(client, lucknow.token) as luck_scanner, Scanner(client, dispatcher.token) as ind_scanner:
            luck_scanner.do("parent", code="SB30001")
            ind_scanner.do("parent", code="SB40001")
        screen.until(lambda: screen.view.seq == first["seq"] + 2)
        office.until(lambda: office.view.seq == first["seq"] + 2)
        assert screen.view.counters["accepted"] == 1 and set(screen.view.areas) == {"indore"}
        assert office.view.counters["accepted"] == 2
        assert [e["area"] for e in screen.view.events] == ["indore"]

        # Revoking closes the screen now, with 4001; the other token's screen goes on.
        revoked = client.post(f"/api/wall-tokens/{wall['id']}/revoke", headers=admin.cookie)
        assert revoked.status_code == 200 and revoked.json() == {"revoked": wall["id"]}
        assert screen.close_code() == Close.SESSION_REVOKED
        office.send({"t": "ping", "id": 1}, binary=False)
        office.until(lambda: office.messages[-1] == {"t": "pong", "id": 1})
    assert client.post(f"/api/wall-tokens/{wall['id']}/revoke", headers=admin.cookie).status_code == 404
    assert refused(client, f"token={wall['token']}")[0] == Close.POLICY_VIOLATION
    listed = client.get("/api/wall-tokens", headers=admin.cookie).json()["tokens"]
    assert {(t["id"], t["revoked"]) for t in listed} >= {(wall["id"], True), (everywhere["id"], False)}
    assert all("token" not in t and "token_hash" not in t for t in listed)


# --- messages and formats ------------------------------------------------------------------------


def test_snapshot_and_deltas_are_exact_in_both_formats(client: TestClient) -> None:
    admin = account(client, "admin")
    dispatcher = account(client, "dispatcher", "jaipur")
    biller = account(client, "biller", "jaipur")
    with Dashboard(client, "", admin) as packed, Dashboard(client, "format=json", admin) as text:
        first = packed.receive()
        assert isinstance(packed.frames[0], bytes)
        assert text.receive() == first and isinstance(text.frames[0], str)
        assert set(first) == {"t", "seq", "scope", "day", "counters", "areas", "scanners", "per_minute",
                              "parents", "bills", "events", "online", "stale", "names"}
        assert first["stale"] is False and first["counters"] == ZERO
        with Scanner(client, dispatcher.token) as scanner:
            fill_mini_parent(scanner, "M444-00001", "JA")
            fill_mini_parent(scanner, "M444-00002", "JB", 10)
            assert scanner.do("child", code="JA0000", parent="M444-00002")["code"] == "ALREADY_LINKED"
            assert scanner.do("undo", code="JB0009")["data"]["undone"] == "link"
            assert scanner.do("child", code="JB0009", parent="M444-00002")["ok"]
            assert scanner.do("child", code="??", parent="M444-00002")["code"] == "INVALID_CODE"
        with Scanner(client, biller.token) as scanner:
            fill_mini_parent(scanner, "M444-00003", "JC")
            assert scanner.do("undo", code="JC0014")["ok"]  # the parent is no longer complete
            assert scanner.do("child", code="JC0014", parent="M444-00003")["data"]["complete"]
            assert scanner.do("bill_create", bill="jp-1", capacity=2, destination="Delhi")["ok"]
            assert scanner.do("bill_add", bill="jp-1", parent="M444-00002")["code"] == "PARENT_INCOMPLETE"
            assert scanner.do("bill_add", bill="jp-1", parent="M444-00001")["ok"]
            assert scanner.do("bill_add", bill="jp-1", parent="M444-00003")["ok"]
            assert scanner.do("bill_finish", bill="jp-1")["ok"]
            assert scanner.do("bill_reopen", bill="jp-1")["ok"]
            assert scanner.do("bill_finish", bill="jp-1")["ok"]
        seq = hub_of(client).fanout.state.seq
        packed.until(lambda: packed.view.seq == seq)
        text.until(lambda: text.view.seq == seq)
        assert packed.messages == text.messages  # the same messages, MessagePack or JSON
        assert all(isinstance(f, bytes) for f in packed.frames) and all(isinstance(f, str) for f in text.frames)
        assert packed.view.gaps == 0 and packed.view.snapshots == 1

        counted = client.portal.call(sql_today, hub_of(client).pool, first["day"])
        assert counted == {"jaipur": {"accepted": 53, "rejected": 3, "children_linked": 40,
                                      "parents_completed": 2, "bills_completed": 1}}
        assert client.portal.call(stats_today, hub_of(client).pool, first["day"]) == counted
        assert packed.view.counters == totals(counted) and shown_areas(packed.view) == counted
        assert sum(s["accepted"] for s in packed.view.scanners.values()) == 53
        assert packed.view.bills == {} and set(packed.view.parents) == {"M444-00002"}
        assert sum(n for n in packed.view.per_minute.values()) == 56

        # A resync answers with a snapshot equal to what the deltas built.
        built = packed.view.state(_now())
        packed.send({"t": "resync"})
        packed.until(lambda: packed.view.snapshots == 2)
        assert packed.view.state(_now()) == built


def test_resync_ping_and_bad_frames(client: TestClient) -> None:
    admin = account(client, "admin")
    with Dashboard(client, "format=json", admin) as dash:
        assert dash.receive()["t"] == "snapshot"
        dash.send({"t": "ping", "id": "x"}, binary=False)
        assert dash.receive() == {"t": "pong", "id": "x"}
        dash.send({"t": "resync"})
        assert dash.receive()["t"] == "snapshot"
        dash.send({"t": "hello"})
        assert dash.receive()["t"] == "error"
        dash.ws.send_bytes(b"\xc1")  # not MessagePack
        assert dash.receive()["t"] == "error"
        dash.ws.send_text("[1, 2]")
        assert dash.receive()["t"] == "error"
        dash.send({"t": "ping", "id": 2})
        assert dash.receive() == {"t": "pong", "id": 2}  # still open


def test_presence_and_staleness_reach_the_dashboards(client: TestClient) -> None:
    admin = account(client, "admin")
    dispatcher = account(client, "dispatcher", "hisar")
    with Dashboard(client, "", admin) as everything, Dashboard(client, "scope=area:lucknow", admin) as lucknow:
        assert everything.receive()["online"] == [] and lucknow.receive()["t"] == "snapshot"
        with Scanner(client, dispatcher.token, device="hisar-gun-1") as scanner:
            everything.until(lambda: [s["device"] for s in everything.view.online] == ["hisar-gun-1"])
            assert everything.view.online[0]["user"] == dispatcher.username
            assert everything.view.online[0]["area"] == "hisar" and everything.view.online[0]["parent"] is None
            scanner.do("parent", code="SB50001")
            everything.until(lambda: everything.view.online[0]["parent"] == "SB50001")
        everything.until(lambda: everything.view.online == [])
        assert all(m["online"] == [] for m in lucknow.messages if m["t"] == "presence")

        # The broker tells the hub it is gone, then back: stale, then fresh snapshots.
        client.portal.call(hub_of(client).on_broker_availability, False)  # type: ignore[union-attr]
        everything.until(lambda: everything.view.stale)
        lucknow.until(lambda: lucknow.view.stale)
        client.portal.call(hub_of(client).on_broker_availability, True)  # type: ignore[union-attr]
        everything.until(lambda: not everything.view.stale and everything.view.snapshots == 2)
        lucknow.until(lambda: not lucknow.view.stale and lucknow.view.snapshots == 2)


def _now() -> float:
    return datetime.now(UTC).timestamp()


# --- DashboardConnection through a fake transport --------------------------------------------------


class FakeTransport:
    """A socket whose sending the test controls: `blocked` holds every send until it is cleared."""

    def __init__(self) -> None:
        self.sent: list[bytes | str] = []
        self.inbox: asyncio.Queue[bytes | str | None] = asyncio.Queue()
        self.open = asyncio.Event()
        self.open.set()
        self.closed: tuple[int, str] | None = None
        self.fail_sends = False

    async def receive(self) -> bytes | str:
        frame = await self.inbox.get()
        if frame is None:
            raise Disconnect(1000)
        return frame

    async def send(self, frame: bytes | str) -> None:
        await self.open.wait()
        if self.fail_sends:
            raise Disconnect()
        self.sent.append(frame)

    async def close(self, code: int, reason: str = "") -> None:
        self.closed = (code, reason)
        self.inbox.put_nowait(None)

    def messages(self) -> list[dict[str, Any]]:
        return [msgpack.unpackb(f) for f in self.sent]


def _loader(state: LiveState) -> Callable[[], Awaitable[LiveState]]:
    async def load() -> LiveState:
        return state

    return load


@contextlib.asynccontextmanager
async def _watching(fanout: Fanout) -> AsyncIterator[FakeTransport]:
    """A dashboard of scope `all` on `fanout`, once it has its snapshot; closed afterwards."""
    transport = FakeTransport()
    task = asyncio.create_task(DashboardConnection(transport, Scope.parse("all"), True, 1 << 20, fanout,
                                                   _allowed).run())
    try:
        await _until(lambda: len(transport.sent) == 1)
        yield transport
    finally:
        transport.inbox.put_nowait(None)
        await asyncio.wait_for(task, 5)


async def _fanout(state: LiveState) -> Fanout:
    fanout = Fanout(_loader(state), lambda scope: [])
    await fanout.start()
    return fanout


def _batch(seq: int, n: int = 1) -> dict[str, Any]:
    return {"origin": "t", "seq": seq, "at": _now(), "parents": [], "bills": [],
            "events": [{"device": "d", "seq": seq * 100 + i, "user": "u", "area": "lucknow", "op": "parent",
                        "code": f"SB{seq:05d}", "target": "", "result": "OK", "data": {"pad": "x" * 40},
                        "stats": [1, 0, 0, 0, 0]} for i in range(n)]}


async def _until(done: Callable[[], bool], timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not done():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(poll(), timeout)


async def _allowed() -> bool:
    return True


async def test_a_connection_that_cannot_send_is_coalesced_into_one_snapshot() -> None:
    state = LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)
    fanout = await _fanout(state)
    slow, healthy = FakeTransport(), FakeTransport()
    slow_conn = DashboardConnection(slow, Scope.parse("all"), True, 2000, fanout, _allowed)
    healthy_conn = DashboardConnection(healthy, Scope.parse("all"), True, 2000, fanout, _allowed)
    tasks = [asyncio.create_task(slow_conn.run()), asyncio.create_task(healthy_conn.run())]
    try:
        await _until(lambda: len(slow.sent) == 1 and len(healthy.sent) == 1)
        slow.open.clear()  # from now on the slow socket takes nothing
        for seq in range(1, 41):
            fanout.on_batch(_batch(seq, 4))
            await asyncio.sleep(DELTA_INTERVAL + 0.005)  # one delta per batch, read at once by a healthy client
        await _until(lambda: healthy.messages()[-1]["seq"] == 40)
        assert [m["seq"] for m in healthy.messages()] == list(range(41))
        assert healthy_conn.coalesced == 0
        assert slow_conn.coalesced > 0
        assert slow_conn._queued_bytes <= 2000
        slow.open.set()
        await _until(lambda: slow.messages()[-1]["seq"] == 40)
        kinds = [(m["t"], m["seq"]) for m in slow.messages()]
        assert kinds[0] == ("snapshot", 0) and kinds[-1] == ("snapshot", 40)
        assert len(kinds) < 20  # the backlog was dropped, not sent late
        seqs = [seq for _, seq in kinds]
        assert seqs == sorted(seqs)
        # A big delta on a connection that keeps up is sent as is, not replaced by a snapshot.
        fanout.on_batch(_batch(41, 60))
        await _until(lambda: healthy.messages()[-1]["seq"] == 41)
        assert healthy.messages()[-1]["t"] == "delta" and len(healthy.sent[-1]) > 2000
    finally:
        for transport in (slow, healthy):
            transport.open.set()
            transport.inbox.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        await fanout.close()
    assert fanout.subscribers == set()


async def test_a_connection_that_reads_nothing_is_closed_4008(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "SEND_TIMEOUT", 0.3)
    fanout = await _fanout(LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC))
    stuck = FakeTransport()
    stuck.open.clear()
    conn = DashboardConnection(stuck, Scope.parse("all"), True, 10_000, fanout, _allowed)
    try:
        await asyncio.wait_for(conn.run(), 5)
    finally:
        await fanout.close()
    assert stuck.closed is not None and stuck.closed[0] == Close.SLOW_CONSUMER
    assert fanout.subscribers == set()


async def test_a_close_that_cannot_be_sent_either_still_ends_the_connection(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Uvicorn sends a close frame like any other frame, once the socket is writable again: for a
    client that never reads, that is never. The connection must end (and leave the fan-out) anyway."""
    monkeypatch.setattr(dashboard, "SEND_TIMEOUT", 0.3)
    monkeypatch.setattr(dashboard, "CLOSE_TIMEOUT", 0.3)
    fanout = await _fanout(LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC))
    stuck = FakeTransport()
    stuck.open.clear()

    async def close_when_writable(code: int, reason: str = "") -> None:
        await stuck.open.wait()
        stuck.closed = (code, reason)

    stuck.close = close_when_writable  # type: ignore[method-assign]
    conn = DashboardConnection(stuck, Scope.parse("all"), True, 10_000, fanout, _allowed)
    task = asyncio.create_task(conn.run())
    try:
        await asyncio.sleep(0.1)
        assert fanout.subscribers == {conn}
        done, _ = await asyncio.wait({task}, timeout=3)
        assert task in done, "the connection waits for ever to send its close"
    finally:
        stuck.open.set()
        stuck.inbox.put_nowait(None)
        await asyncio.wait_for(task, 5)
        await fanout.close()
    assert fanout.subscribers == set()


async def test_a_peer_gone_mid_send_ends_the_connection_quietly() -> None:
    fanout = await _fanout(LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC))
    gone = FakeTransport()
    conn = DashboardConnection(gone, Scope.parse("all"), True, 10_000, fanout, _allowed)
    task = asyncio.create_task(conn.run())
    try:
        await _until(lambda: len(gone.sent) == 1)
        gone.fail_sends = True
        fanout.on_batch(_batch(1))
        await asyncio.wait_for(task, 5)  # returns, raising nothing
    finally:
        await fanout.close()
    assert fanout.subscribers == set()


async def test_revoked_access_is_noticed_at_the_recheck() -> None:
    fanout = await _fanout(LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC))
    allowed = [True]

    async def still_allowed() -> bool:
        return allowed[0]

    transport = FakeTransport()
    conn = DashboardConnection(transport, Scope.parse("area:lucknow"), True, 10_000, fanout, still_allowed,
                               recheck_seconds=0.1)
    task = asyncio.create_task(conn.run())
    try:
        await _until(lambda: len(transport.sent) == 1)
        await asyncio.sleep(0.3)
        assert not task.done()
        allowed[0] = False
        await asyncio.wait_for(task, 5)
    finally:
        await fanout.close()
    assert transport.closed is not None and transport.closed[0] == Close.SESSION_REVOKED


async def test_a_ping_is_answered_while_the_access_re_check_waits() -> None:
    """A re-check's answer may wait a second for other connections' (`hub.rechecks`): the dashboard
    reads on meanwhile, so the page, which drops a socket whose pong is 1.5 s late, keeps it."""
    fanout = await _fanout(LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC))
    asked = asyncio.Event()
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def still_allowed() -> bool:
        asked.set()
        return await answer

    transport = FakeTransport()
    conn = DashboardConnection(transport, Scope.parse("all"), True, 10_000, fanout, still_allowed,
                               recheck_seconds=0.1)
    task = asyncio.create_task(conn.run())
    try:
        await asyncio.wait_for(asked.wait(), 5)
        transport.inbox.put_nowait(msgpack.packb({"t": "ping", "id": 3}))
        await _until(lambda: {"t": "pong", "id": 3} in transport.messages())
        assert not task.done()
        answer.set_result(False)
        await asyncio.wait_for(task, 5)
    finally:
        await fanout.close()
    assert transport.closed is not None and transport.closed[0] == Close.SESSION_REVOKED



def _chained(messages: list[dict[str, Any]]) -> bool:
    """Each delta after a snapshot is old news or starts right after what the client has."""
    seq = None
    for message in messages:
        if message["t"] == "snapshot":
            seq = message["seq"]
        elif message["t"] == "delta" and seq is not None and message["seq"] > seq:
            if message["from"] != seq + 1:
                return False
            seq = message["seq"]
    return True


async def test_a_dashboard_that_joins_between_deltas_gets_the_next_one_from_its_snapshot_on() -> None:
    """A batch applied but not yet sent (its delta waits for DELTA_INTERVAL) goes out before a snapshot
    is built, so the newcomer's snapshot already holds it, that delta does not reach the newcomer,
    and its next delta starts after it."""
    state = LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)
    fanout = await _fanout(state)
    early, late = FakeTransport(), FakeTransport()
    tasks = [asyncio.create_task(DashboardConnection(early, Scope.parse("all"), True, 1 << 20, fanout,
                                                     _allowed).run())]
    try:
        await _until(lambda: len(early.sent) == 1)
        fanout.on_batch(_batch(1))
        await _until(lambda: len(early.sent) == 2)
        fanout.on_batch(_batch(2))  # within DELTA_INTERVAL of the last delta: held back
        tasks.append(asyncio.create_task(DashboardConnection(late, Scope.parse("all"), True, 1 << 20, fanout,
                                                             _allowed).run()))
        await _until(lambda: len(late.sent) >= 1)
        assert late.messages()[0]["t"] == "snapshot" and late.messages()[0]["seq"] == 2
        fanout.on_batch(_batch(3))
        await _until(lambda: early.messages()[-1]["seq"] == 3 and late.messages()[-1]["seq"] == 3)
        assert [(m["from"], m["seq"]) for m in early.messages()[1:]] == [(1, 1), (2, 2), (3, 3)]
        assert [(m["t"], m.get("from"), m["seq"]) for m in late.messages()] == [("snapshot", None, 2),
                                                                             ("delta", 3, 3)]
    finally:
        for transport in (early, late):
            transport.inbox.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        await fanout.close()


async def test_with_many_dashboards_deltas_come_less_often_and_the_hub_keeps_to_its_frame_budget() -> None:
    """Each frame is a socket write: with more dashboards than `frames_per_second` × DELTA_INTERVAL,
    the interval between deltas grows with them (here 4 dashboards at 10 frames a second: 0.4 s),
    and every seq still reaches every dashboard once, in order."""
    state = LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)
    fanout = Fanout(_loader(state), lambda scope: [], frames_per_second=10)
    await fanout.start()
    transports = [FakeTransport() for _ in range(4)]
    tasks = [asyncio.create_task(DashboardConnection(t, Scope.parse("all"), True, 1 << 20, fanout, _allowed).run())
             for t in transports]
    try:
        await _until(lambda: all(len(t.sent) == 1 for t in transports))
        assert fanout.delta_interval() == pytest.approx(0.4)
        loop = asyncio.get_running_loop()
        fanout.on_batch(_batch(1))  # the first after a quiet spell: at once
        await _until(lambda: all(len(t.sent) == 2 for t in transports))
        first_sent = loop.time()
        for seq in range(2, 11):
            fanout.on_batch(_batch(seq))
        await _until(lambda: all(t.messages()[-1]["seq"] == 10 for t in transports))
        assert loop.time() - first_sent >= 0.35  # not DELTA_INTERVAL (25 ms) after it
        for transport in transports:
            assert [(m["t"], m["from"], m["seq"]) for m in transport.messages()[1:]] == [
                ("delta", 1, 1), ("delta", 2, 10)]
    finally:
        for transport in transports:
            transport.inbox.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        await fanout.close()
    assert fanout.delta_interval() == DELTA_INTERVAL  # no dashboards: the least interval

async def test_the_online_list_goes_out_at_once_then_at_most_every_presence_interval() -> None:
    """Scanners change parents all the time: each change is not a frame to every dashboard."""
    state = LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)
    online: list[dict[str, Any]] = []
    fanout = Fanout(_loader(state), lambda scope: list(online))
    await fanout.start()
    try:
        async with _watching(fanout) as transport:
            started = asyncio.get_running_loop().time()
            for n in range(5):
                online[:] = [{"device": "g1", "user": "u", "area": "lucknow", "parent": f"SB0000{n}", "since": 1}]
                fanout.presence_changed()
                await asyncio.sleep(0.01)
            await _until(lambda: len(transport.sent) == 3, PRESENCE_INTERVAL + 2)
            first, last = transport.messages()[1:]
            assert first["t"] == last["t"] == "presence"
            assert first["online"][0]["parent"] == "SB00000" and last["online"][0]["parent"] == "SB00004"
            assert asyncio.get_running_loop().time() - started >= PRESENCE_INTERVAL
            transport.inbox.put_nowait(msgpack.packb({"t": "resync"}))  # a snapshot has the list of now
            await _until(lambda: len(transport.sent) == 4)
            assert transport.messages()[-1]["online"] == online
    finally:
        await fanout.close()


async def test_the_online_list_goes_out_as_its_changes_and_every_dashboard_ends_with_the_list(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Presence frames carry what changed (`changed`, `gone`), or the whole list when that is
    shorter: sent whole, 9,000 scanners online made each frame ~180 KB. Dashboards joining at any
    moment, and entries changed in place (as `Presence` does), still end with the hub's list."""
    monkeypatch.setattr(fanout_module, "PRESENCE_INTERVAL", 0.02)
    rng = random.Random(7)
    online = [{"device": f"g{n}", "user": "u", "area": "lucknow", "parent": None, "since": n} for n in range(20)]
    fanout = Fanout(_loader(LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)), lambda scope: list(online))
    await fanout.start()
    transports: list[FakeTransport] = []
    tasks: list[asyncio.Task[None]] = []

    def watch() -> None:
        transports.append(FakeTransport())
        tasks.append(asyncio.create_task(DashboardConnection(transports[-1], Scope.parse("all"), True, 1 << 20,
                                                             fanout, _allowed).run()))

    def held(transport: FakeTransport) -> list[tuple[str, str | None]]:
        view = DashboardView()
        for message in transport.messages():
            view.apply(message)
        return sorted((entry["device"], entry["parent"]) for entry in view.online)

    try:
        watch()
        for step in range(60):
            roll = rng.random()
            if roll < 0.6 and online:
                rng.choice(online)["parent"] = f"SB{step:05d}"  # in place, as Presence does
            elif roll < 0.8 and online:
                online.remove(rng.choice(online))
            else:
                online.append({"device": f"n{step}", "user": "u", "area": "lucknow", "parent": None, "since": step})
            if step == 40:
                del online[1:]  # a hub with most of them went away: the list goes out whole
            fanout.presence_changed()
            if step % 15 == 7:
                watch()
            await asyncio.sleep(rng.choice([0.0, 0.005, 0.03]))
        expected = sorted((entry["device"], entry["parent"]) for entry in online)
        await _until(lambda: all(held(t) == expected for t in transports))
        sent = [m for t in transports for m in t.messages() if m["t"] == "presence"]
        assert any("changed" in m for m in sent) and any("online" in m for m in sent)
    finally:
        for transport in transports:
            transport.inbox.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        await fanout.close()

async def test_a_resync_drops_what_the_old_state_had_not_sent_yet() -> None:
    """A delta still waiting for DELTA_INTERVAL belongs to the state a resync replaces: the batches
    after the fresh state are applied to it alone, and every dashboard is sent its snapshot."""
    def state_at(seq: int) -> LiveState:
        state = LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)
        for n in range(1, seq + 1):
            state.apply(_batch(n))
        return state

    loads = [state_at(0), state_at(2)]

    async def load() -> LiveState:
        state = loads.pop(0)
        if state.seq == 2:  # batch 3, committed after this state was read, is heard of while it loads
            fanout.on_batch(_batch(3))
            await asyncio.sleep(0)
        return state

    fanout = Fanout(load, lambda scope: [])
    await fanout.start()
    try:
        async with _watching(fanout) as transport:
            fanout.on_batch(_batch(1))
            await _until(lambda: len(transport.sent) == 2)
            fanout.on_batch(_batch(2))  # waits to go out, and batch 3 with it
            await fanout.resync()  # PostgreSQL's state was read at 2: batch 3 is applied to it again
            await _until(lambda: transport.messages()[-1]["seq"] == 3)
            assert fanout.state is not None and fanout.state.seq == 3
            assert _chained(transport.messages())
            assert [m["t"] for m in transport.messages()][-1] == "snapshot"
    finally:
        await fanout.close()


async def test_dashboards_of_one_scope_share_one_encode_per_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Encode once per broadcast: 12 dashboards in 3 (scope, encoding) groups cost 3 encodes per
    committed batch and one delta per scope, and every dashboard of a group gets the very same
    bytes; so do the snapshots they all ask for after a resync, until what a snapshot shows changes."""
    state = LiveState(seq=0, day=datetime.now(UTC).date(), tz=UTC)
    online: list[dict[str, Any]] = []

    async def load() -> LiveState:
        return state

    fanout = Fanout(load, lambda scope: list(online))
    await fanout.start()
    groups = [(Scope.parse("all"), True)] * 5 + [(Scope.parse("all"), False)] * 3 \
        + [(Scope.parse("area:lucknow"), True)] * 4
    transports = [FakeTransport() for _ in groups]
    tasks = [asyncio.create_task(DashboardConnection(t, scope, binary, 1 << 20, fanout, _allowed).run())
             for t, (scope, binary) in zip(transports, groups)]
    encoded: list[str] = []
    deltas: list[Scope] = []
    encode, delta = protocol.encode, state.delta

    def counting_encode(message: dict[str, Any], binary: bool) -> bytes | str:
        encoded.append(message["t"])
        return encode(message, binary)

    def counting_delta(change: Any, scope: Scope) -> dict[str, Any]:
        deltas.append(scope)
        return delta(change, scope)

    try:
        await _until(lambda: all(len(t.sent) == 1 for t in transports))
        monkeypatch.setattr(protocol, "encode", counting_encode)
        monkeypatch.setattr(state, "delta", counting_delta)
        for seq in (1, 2, 3):  # committed together: one delta covers them
            fanout.on_batch(_batch(seq, 5))
        await _until(lambda: all(len(t.sent) == 2 for t in transports))
        assert encoded == ["delta"] * 3
        assert sorted(map(str, deltas)) == ["all", "area:lucknow"]
        sent = msgpack.unpackb(transports[0].sent[-1])
        assert (sent["from"], sent["seq"], len(sent["events"])) == (1, 3, 15)
        fanout.on_batch(_batch(4, 5))
        await _until(lambda: all(len(t.sent) == 3 for t in transports))
        assert encoded == ["delta"] * 6

        encoded.clear()
        await fanout.resync()  # every dashboard is sent a fresh snapshot
        await _until(lambda: all(len(t.sent) == 4 for t in transports))
        assert encoded == ["snapshot"] * 3
        for key in set(groups):  # two snapshots and two deltas, each one object per group
            members = [t for t, group in zip(transports, groups) if group == key]
            assert all(all(a is b for a, b in zip(t.sent, members[0].sent)) for t in members)

        online.append({"device": "g1", "user": "u", "area": "lucknow", "parent": None, "since": 1})
        fanout.presence_changed()  # what a snapshot shows changed: the next one is built anew
        transports[0].inbox.put_nowait(msgpack.packb({"t": "resync"}))
        await _until(lambda: len(transports[0].sent) == 6)  # the presence message, then the snapshot
        assert msgpack.unpackb(transports[0].sent[-1])["online"] == online
    finally:
        for transport in transports:
            transport.inbox.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        await fanout.close()


def test_an_event_says_when_its_scan_was_made(client: TestClient, settings: Settings) -> None:
    """A scan made offline reaches the hub later: its event carries the scanner's time (`client_at`)
    beside the hub's (`at`), so that a dashboard can list it when it was made; so do the events a hub
    reads back from the database when it starts."""
    lucknow = account(client, "dispatcher", "lucknow")
    made = round(time.time() - 25 * 60, 3)
    with Dashboard(client, "", lucknow) as screen:
        snapshot = screen.receive()
        with Scanner(client, lucknow.token) as scanner:
            assert scanner.do("parent", code="SB30001", at=int(made * 1000))["ok"]
            assert scanner.do("child", code="LK3001", parent="SB30001")["ok"]  # no time sent
        screen.until(lambda: screen.view.seq == snapshot["seq"] + 2)
    events = [e for m in screen.messages for e in m.get("events", [])]
    assert [(e["code"], e["client_at"]) for e in events] == [("SB30001", made), ("LK3001", None)]
    assert events[0]["at"] - events[0]["client_at"] > 24 * 60

    with TestClient(create_app(settings)) as restarted, Dashboard(restarted, "", lucknow) as screen:
        recent = screen.receive()["events"]
    assert [(e["code"], e["client_at"]) for e in recent[-2:]] == [("SB30001", made), ("LK3001", None)]
