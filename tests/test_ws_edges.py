"""The scanner websocket's edges: malformed, wrongly typed and oversized frames, bad handshakes,
JSON text frames, unauthenticated and cross-origin connections (docs/protocol.md sections 1-6).

After every bad frame the hub still answers, and the same connection (where it stays open) still
scans. Most run in-process; the frame-size limit is enforced by uvicorn, so that one runs against a
real hub process.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgpack
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub.app import create_app
from hub.settings import Settings
from tests.hubprocess import create_users, login
from tests.support import make_user
from tests.ws_support import Connection, close_connections

WAIT = 15.0
ERROR = {"t": "error", "code": "BAD_REQUEST"}


@pytest.fixture
def client(client: TestClient) -> Iterator[TestClient]:
    yield client
    close_connections()


async def recorded(pool: asyncpg.Pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM scans")


def scans_fine(conn: Connection, seq: int, code: str = "SB00001") -> None:
    """The connection still works: a parent scan is acked OK."""
    conn.send({"t": "op", "seq": seq, "op": "parent", "code": code})
    reply = conn.ack(seq)
    assert reply["code"] == "OK", reply


def is_error(reply: dict[str, Any], mentions: str = "") -> None:
    assert {k: reply.get(k) for k in ERROR} == ERROR, reply
    assert isinstance(reply["msg"], str) and mentions in reply["msg"], reply
    assert "seq" not in reply


# --- frames that are not messages ------------------------------------------------------------

NOT_MESSAGES = [
    (b"\xc1", "msgpack"),  # a byte msgpack never uses
    (b"\x92\x01", "msgpack"),  # an array cut short
    (b"", "msgpack"),
    (b"\x01\x02", "msgpack"),  # two values in one frame
    (msgpack.packb([1, 2]), "map"),
    (msgpack.packb("op"), "map"),
    (msgpack.packb(None), "map"),
    (msgpack.packb({"seq": 1, "op": "parent", "code": "SB00009"}), "'t'"),
    (msgpack.packb({"t": 5, "seq": 1}), "'t'"),
    (msgpack.packb({"t": None}), "'t'"),
    (msgpack.packb({"t": b"op"}), "'t'"),  # bytes are not a string
    (msgpack.packb({1: 2, "t": "op"}), "msgpack"),  # map keys must be strings
    (msgpack.packb({"t": "bogus"}), "unknown message type"),
    (msgpack.packb({"t": "hello", "device": "again", "last_seq": 0}), "unknown message type"),
    (msgpack.packb({"t": "ack", "seq": 1}), "unknown message type"),
]


async def test_frames_that_are_not_messages_get_an_error_and_the_connection_scans_on(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    conn = Connection(client, make_user(client), "hh-garbage")
    for n, (frame, mentions) in enumerate(NOT_MESSAGES, start=1):
        conn.ws.send_bytes(frame)
        is_error(conn.receive(), mentions)
        scans_fine(conn, n)
    conn.send({"t": "ping", "id": [1, "x"]})
    assert conn.receive() == {"t": "pong", "id": [1, "x"]}
    assert await recorded(clean_db) == len(NOT_MESSAGES), "only the good scans are recorded"


# --- ops with a usable seq but bad fields: recorded as BAD_REQUEST ---------------------------

BAD_FIELDS = [
    ({"op": "child", "code": 5, "parent": "SB00001"}, "field 'code' must be a string"),
    ({"op": "child", "code": "C0001"}, "field 'parent' must be a string"),
    ({"op": "child", "code": "C0001", "parent": None}, "field 'parent' must be a string"),
    ({"op": "parent", "code": ["SB00001"]}, "field 'code' must be a string"),
    ({"op": "parent", "code": "S" * 101}, "longer than 100 characters"),
    ({"op": "undo", "code": True}, "field 'code' must be a string"),
    ({"op": "explode", "code": "SB00001"}, "unknown op 'explode'"),
    ({"code": "SB00001"}, "unknown op None"),
    ({"op": 7}, "unknown op 7"),
    ({"op": "bill_create", "bill": "B1", "capacity": "10"}, "field 'capacity' must be an integer"),
    ({"op": "bill_create", "bill": "B1", "capacity": True}, "field 'capacity' must be an integer"),
    ({"op": "bill_create", "bill": "B1", "capacity": 2.0}, "field 'capacity' must be an integer"),
    ({"op": "bill_create", "bill": "B1", "capacity": 5, "destination": 5}, "field 'destination' must be a string"),
    ({"op": "bill_add", "bill": "B1", "parent": 1}, "field 'parent' must be a string"),
    ({"op": "bill_finish"}, "field 'bill' must be a string"),
]


async def test_an_op_with_a_seq_but_bad_fields_is_acked_bad_request_and_recorded(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    conn = Connection(client, make_user(client, "biller"), "hh-bad-fields")
    seq = 0
    for fields, reason in BAD_FIELDS:
        seq += 1
        conn.send({"t": "op", "seq": seq, **fields})
        reply = conn.ack(seq)
        assert reply == {"t": "ack", "seq": seq, "ok": False, "code": "BAD_REQUEST",
                         "msg": "The scanner sent a message the hub does not understand.",
                         "retry": False, "replay": False, "data": {"reason": reply["data"]["reason"]}}
        assert reason in reply["data"]["reason"], (fields, reply)
        seq += 1
        scans_fine(conn, seq, f"SB{seq:05d}")
    # a resend of a bad op is a replay of its answer, not a second record
    conn.send({"t": "op", "seq": 1, **BAD_FIELDS[0][0]})
    again = conn.ack(1)
    assert (again["code"], again["replay"]) == ("BAD_REQUEST", True)

    rows = await clean_db.fetch("SELECT seq, op, result, detail FROM scans WHERE device_id = 'hh-bad-fields' "
                                "AND result = 'BAD_REQUEST' ORDER BY seq")
    assert [r["seq"] for r in rows] == list(range(1, 2 * len(BAD_FIELDS), 2))
    assert {r["op"] for r in rows} == {"invalid"}
    for row, (_, reason) in zip(rows, BAD_FIELDS):
        assert reason in row["detail"]["reason"]
    assert await clean_db.fetchval("SELECT last_seq FROM devices WHERE device_id = 'hh-bad-fields'") == seq
    assert await clean_db.fetchval("SELECT count(*) FROM bills") == 0


# --- frames without a usable seq: an error, nothing recorded ---------------------------------

NO_SEQ = [
    {"t": "op", "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": "5", "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": True, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": False, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": 5.0, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": None, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": [5], "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": 0, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": -3, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": 2**62, "op": "parent", "code": "SB00099"},
    {"t": "op", "seq": 2**64 - 1, "op": "parent", "code": "SB00099"},
]


async def test_an_op_without_a_usable_seq_gets_an_error_and_is_not_recorded(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    conn = Connection(client, make_user(client), "hh-no-seq")
    for n, message in enumerate(NO_SEQ, start=1):
        conn.send(message)
        is_error(conn.receive(), "seq")
        scans_fine(conn, n, f"SB{n:05d}")
    assert await clean_db.fetchval("SELECT count(*) FROM bags WHERE code = 'SB00099'") == 0
    assert await recorded(clean_db) == len(NO_SEQ)
    assert await clean_db.fetchval("SELECT last_seq FROM devices WHERE device_id = 'hh-no-seq'") == len(NO_SEQ)


# --- the handshake ----------------------------------------------------------------------------

BAD_HELLOS: list[tuple[bytes | str, str]] = [
    (msgpack.packb({"t": "op", "seq": 1, "op": "parent", "code": "SB00001"}), "first message must be 'hello'"),
    (msgpack.packb({"t": "ping", "id": 1}), "first message must be 'hello'"),
    (msgpack.packb({"t": "hello"}), "'device'"),
    (msgpack.packb({"t": "hello", "device": 42}), "'device'"),
    (msgpack.packb({"t": "hello", "device": ""}), "'device'"),
    (msgpack.packb({"t": "hello", "device": "has space"}), "'device'"),
    (msgpack.packb({"t": "hello", "device": "d" * 65}), "'device'"),
    (msgpack.packb({"t": "hello", "device": "hh/1"}), "'device'"),
    (msgpack.packb({"t": "hello", "device": "api:1:retry-key"}), "the hub's own"),
    (msgpack.packb({"t": "hello", "device": "import:0123abcd"}), "the hub's own"),
    (msgpack.packb({"t": "hello", "device": "hh-1", "last_seq": "3"}), "'last_seq'"),
    (msgpack.packb({"t": "hello", "device": "hh-1", "last_seq": -1}), "'last_seq'"),
    (msgpack.packb({"t": "hello", "device": "hh-1", "last_seq": True}), "'last_seq'"),
    (msgpack.packb([1]), "map"),
    (b"\xc1", "msgpack"),
    ('{"t": "hello", "device": ', "JSON"),
    ('{"t": "hello", "device": "hh 1"}', "'device'"),
]


async def test_a_missing_or_invalid_hello_gets_an_error_then_close_1002(client: TestClient,
                                                                         clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    for frame, mentions in BAD_HELLOS:
        conn = Connection(client, token)
        if isinstance(frame, bytes):
            conn.ws.send_bytes(frame)
        else:
            conn.ws.send_text(frame)
            conn.text = True
        is_error(conn.receive(), mentions)
        with pytest.raises(WebSocketDisconnect) as closed:
            conn.raw()
        assert closed.value.code == 1002, frame
        conn.close()
    good = Connection(client, token, "d" * 64)  # the longest device id is fine
    assert good.welcome["device"] == "d" * 64
    scans_fine(good, 1)
    assert await recorded(clean_db) == 1


async def test_the_welcome_tells_the_scanner_what_it_needs(client: TestClient, clean_db: asyncpg.Pool) -> None:
    conn = Connection(client, make_user(client), "hh.welcome:1_A-z")
    welcome = conn.welcome
    assert welcome["device"] == "hh.welcome:1_A-z"
    assert welcome["applied_seq"] == 0
    assert welcome["user"]["role"] == "dispatcher" and welcome["user"]["area"] == "lucknow"
    assert welcome["max_inflight"] == 256
    assert {(f["name"], f["pattern"], f["capacity"]) for f in welcome["formats"]} == {
        ("standard", "^SB[0-9]{5}$", 30), ("mini", "^M444-[0-9]{5}$", 15)}
    assert isinstance(welcome["server_time"], int) and welcome["server_time"] > 1_700_000_000_000


# --- JSON text frames --------------------------------------------------------------------------


async def test_json_text_frames_work_the_same(client: TestClient, clean_db: asyncpg.Pool) -> None:
    conn = Connection(client, make_user(client), "hh-json", text=True)
    assert conn.welcome["applied_seq"] == 0
    conn.send({"t": "op", "seq": 1, "op": "parent", "code": " sb00007\r"})
    first = conn.ack(1)
    assert first["data"] == {"parent": "SB00007", "count": 0, "capacity": 30, "complete": False, "created": True}
    conn.send({"t": "op", "seq": 2, "op": "child", "code": "c0001", "parent": "SB00007"})
    assert conn.ack(2)["data"]["count"] == 1
    conn.ws.send_text("{not json")
    is_error(conn.receive(), "JSON")
    conn.ws.send_text("[1, 2]")
    is_error(conn.receive(), "map")
    for message in ({"t": "op", "seq": "3", "op": "parent", "code": "SB00007"},
                    {"t": "op", "seq": 3.5, "op": "parent", "code": "SB00007"},
                    {"t": "op", "seq": True, "op": "parent", "code": "SB00007"},
                    {"t": "op", "seq": 10**30, "op": "parent", "code": "SB00007"}):
        conn.send(message)
        is_error(conn.receive(), "seq")
    conn.send({"t": "op", "seq": 3, "op": "child", "code": "C0002", "parent": 17})
    assert conn.ack(3)["code"] == "BAD_REQUEST"
    # A binary frame on a JSON session is read as msgpack, and answered in the hello's encoding.
    conn.ws.send_bytes(msgpack.packb({"t": "op", "seq": 4, "op": "child", "code": "C0002", "parent": "SB00007"}))
    reply = conn.raw()
    assert reply.get("text") is not None
    assert json.loads(reply["text"])["data"]["count"] == 2
    conn.send({"t": "ping", "id": "p1"})
    assert conn.receive() == {"t": "pong", "id": "p1"}
    assert [r["result"] for r in await clean_db.fetch(
        "SELECT result FROM scans WHERE device_id = 'hh-json' ORDER BY seq")] == ["OK", "OK", "BAD_REQUEST", "OK"]


# --- who may connect ---------------------------------------------------------------------------


def refused(conn: Connection, reason: str) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        conn.raw()
    assert (closed.value.code, closed.value.reason) == (1008, reason)


async def test_unauthenticated_connections_are_closed_1008_before_any_scan_is_read(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    logged_out = make_user(client)
    response = client.post("/api/logout", headers={"cookie": f"tt_session={logged_out}"})
    assert response.status_code in (200, 204), response.text
    client.cookies.clear()
    for cookie in (None, "not-a-session", "x" * 5000, logged_out):
        conn = Connection(client, cookie)
        conn.send({"t": "hello", "device": "hh-anon", "last_seq": 0})
        conn.send({"t": "op", "seq": 1, "op": "parent", "code": "SB00001"})
        refused(conn, "login required")
        conn.close()
    assert await recorded(clean_db) == 0
    assert await clean_db.fetchval("SELECT count(*) FROM devices") == 0
    ok = Connection(client, token, "hh-anon")
    scans_fine(ok, 1)


async def test_cross_origin_connections_are_closed_1008(client: TestClient, clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    for origin in ("http://evil.example", "https://testserver", "http://testserver:8080", "null",
                   "http://testserver.evil.example"):
        conn = Connection(client, token, headers={"origin": origin})
        conn.send({"t": "hello", "device": "hh-origin", "last_seq": 0})
        conn.send({"t": "op", "seq": 1, "op": "parent", "code": "SB00001"})
        refused(conn, "origin not allowed")
        conn.close()
    assert await recorded(clean_db) == 0
    own = Connection(client, token, "hh-origin", headers={"origin": "http://testserver"})
    scans_fine(own, 1)


async def test_an_origin_in_allowed_origins_may_connect(client: TestClient, settings: Settings,
                                                        clean_db: asyncpg.Pool) -> None:
    token = make_user(client)
    allowed = "https://scanners.example.com"
    conn = Connection(client, token, headers={"origin": allowed})
    refused(conn, "origin not allowed")  # not by default
    conn.close()
    with TestClient(create_app(settings.replace(allowed_origins=(allowed, "http://other.example"))),
                    base_url="http://testserver") as other:
        try:
            conn = Connection(other, token, "hh-allowed", headers={"origin": allowed})
            scans_fine(conn, 1)
            evil = Connection(other, token, headers={"origin": "http://evil.example"})
            refused(evil, "origin not allowed")
        finally:
            close_connections()


# --- the frame-size limit, on a real hub -----------------------------------------------------


async def test_a_frame_over_max_frame_bytes_closes_1009_and_the_hub_serves_on(
        hub_process: Any, clean_db: asyncpg.Pool) -> None:
    await create_users(clean_db, ["ravi"])
    hub = await asyncio.to_thread(lambda: hub_process(MAX_FRAME_BYTES="4096").start())
    token = await login(hub.url, "ravi")
    url = hub.ws_url("/ws/scan")
    headers = {"Cookie": f"tt_session={token}"}

    async def session(device: str) -> Any:
        ws = await connect(url, additional_headers=headers, open_timeout=WAIT, close_timeout=2)
        await ws.send(msgpack.packb({"t": "hello", "device": device, "last_seq": 0}))
        welcome = msgpack.unpackb(await asyncio.wait_for(ws.recv(), WAIT))
        assert welcome["t"] == "welcome", welcome
        return ws

    async def request(ws: Any, message: dict[str, Any]) -> dict[str, Any]:
        await ws.send(msgpack.packb(message))
        return msgpack.unpackb(await asyncio.wait_for(ws.recv(), WAIT))

    async def too_big(frame: bytes | str) -> None:
        ws = await session("hh-big")
        # just under the limit is fine
        pong = await request(ws, {"t": "ping", "id": "x" * 3900})
        assert pong == {"t": "pong", "id": "x" * 3900}
        await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        await ws.close()

    await too_big(msgpack.packb({"t": "ping", "id": "x" * 5000}))
    await too_big(json.dumps({"t": "ping", "id": "y" * 5000}))
    await too_big(b"\x00" * 100_000)

    # the hub is alive, and other connections scan as before
    ws = await session("hh-after")
    assert (await request(ws, {"t": "op", "seq": 1, "op": "parent", "code": "SB00001"}))["code"] == "OK"
    reply = await request(ws, {"t": "op", "seq": 2, "op": "child", "code": "C0001", "parent": "SB00001"})
    assert (reply["code"], reply["data"]["count"]) == ("OK", 1)
    await ws.close()

    # unauthenticated on the real server too: closed 1008 before anything is read
    anonymous = await connect(url, open_timeout=WAIT, close_timeout=2)
    with pytest.raises(ConnectionClosed) as closed:
        await anonymous.send(msgpack.packb({"t": "hello", "device": "hh-anon", "last_seq": 0}))
        await anonymous.send(msgpack.packb({"t": "op", "seq": 1, "op": "parent", "code": "SB00002"}))
        await asyncio.wait_for(anonymous.recv(), WAIT)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, "login required")
    await anonymous.close()
    assert await clean_db.fetchval("SELECT count(*) FROM scans WHERE device_id = 'hh-anon'") == 0
    assert hub.process is not None and hub.process.poll() is None
