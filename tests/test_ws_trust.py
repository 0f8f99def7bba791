"""Trust at the edges of the scan path (issue 8): every value a client sends is answered, never
fatal; one operation's bad data stays with it; what is echoed is bounded; admins name the area of
what they create; a bill number is never a bag code; weights read alike (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import msgpack
import pytest
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.conftest import ADMIN_PASSWORD
from tests.services import database_down
from tests.support import login, make_user
from tests.ws_support import Connection, Watcher, close_connections


@pytest.fixture
def client(client: TestClient) -> Iterator[TestClient]:
    yield client
    close_connections()


def op(seq: int, kind: str, **fields: object) -> dict[str, object]:
    return {"t": "op", "seq": seq, "op": kind, **fields}


# --- 1. one bad operation must not fail its batch ----------------------------------------------


async def test_every_operation_read_before_a_failed_batch_is_acked_retry_before_the_1011(
        client: TestClient, clean_db: asyncpg.Pool, postgres_server_url: str, database_url: str) -> None:
    """Before: the first RETRY ack was followed at once by the close, and the other operations the
    hub had read (29 of 30) got no ack at all, against docs/protocol.md section 5."""
    scanner = Connection(client, make_user(client), "hh-outage")
    scanner.send(op(1, "parent", code="SB41001"))
    assert scanner.ack(1)["ok"]
    # Hold the writer's first batch on a lock while the hub reads all 30 operations, then cut
    # every connection to the database: that batch fails, and the 29 queued behind it with it.
    locker = await asyncpg.connect(database_url)
    await locker.execute("BEGIN; LOCK TABLE devices IN ACCESS EXCLUSIVE MODE")
    for seq in range(2, 32):
        scanner.send(op(seq, "child", code=f"OUT{seq:04d}", parent="SB41001"))
    while not await locker.fetchval("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"):
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.5)  # the session reads the rest meanwhile: 29 small frames
    async with database_down(postgres_server_url, database_url):
        acks = [scanner.receive() for _ in range(30)]
        with pytest.raises(WebSocketDisconnect) as closed:
            scanner.receive()
    locker.terminate()
    assert [(a["seq"], a["code"], a["retry"]) for a in acks] == [(seq, "RETRY", True) for seq in range(2, 32)]
    assert closed.value.code == 1011


async def test_a_nul_or_a_lone_surrogate_in_a_bill_is_refused_with_a_reason_and_others_scan_on(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: PostgreSQL refused the whole batch; every device in it got RETRY and 1011, and the
    bill, never recorded, was resent for ever."""
    biller = Connection(client, make_user(client, "biller"), "hh-biller")
    json_biller = Connection(client, make_user(client, "biller"), "hh-biller-json", text=True)
    dispatcher = Connection(client, make_user(client), "hh-neighbour")
    biller.send(op(1, "bill_create", bill="B-NUL", capacity=3, destination="Del\x00hi"))
    # a lone surrogate can only travel in JSON (msgpack strings are UTF-8)
    json_biller.ws.send_text('{"t":"op","seq":1,"op":"bill_create","bill":"B-SUR","capacity":3,'
                             '"vehicle":"UP\\ud83d32"}')
    dispatcher.send(op(1, "parent", code="SB00001"))
    nul, surrogate, neighbour = biller.ack(1), json_biller.ack(1), dispatcher.ack(1)
    assert (nul["code"], nul["data"]) == ("INVALID_BILL", {
        "reason": "the destination has a control character (U+0000) at position 4"})
    assert (surrogate["code"], surrogate["data"]) == ("INVALID_BILL", {
        "reason": "the vehicle has an unpaired surrogate (U+D83D) at position 3"})
    assert neighbour["code"] == "OK"
    for conn, seq in ((biller, 2), (json_biller, 2), (dispatcher, 2)):
        conn.send(op(seq, "parent", code=f"SB0100{seq}" if conn is dispatcher else "SB09999"))
        assert conn.ack(seq)["code"] in ("OK", "FORBIDDEN", "WRONG_AREA"), "the connection is open"
    rows = await clean_db.fetch("SELECT device_id, seq, result FROM scans WHERE seq = 1 ORDER BY device_id")
    assert [tuple(r) for r in rows] == [("hh-biller", 1, "INVALID_BILL"), ("hh-biller-json", 1, "INVALID_BILL"),
                                        ("hh-neighbour", 1, "OK")]
    assert await clean_db.fetchval("SELECT count(*) FROM bills") == 0


# --- 2. no value closes a connection -----------------------------------------------------------

BAD_AT = [10**16, 253_402_300_800_000, 2**63, 2**64 - 1, -1, "yesterday", True, False, 1.5,
          1_795_881_600_000.0, [1], {"ms": 1}, b"\x01"]


async def test_a_malformed_at_is_bad_request_recorded_and_the_connection_stays_open(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: an `at` of year 10000 dropped the socket (1006) on every resend; the device was stuck."""
    conn = Connection(client, make_user(client), "hh-clock")
    for seq, at in enumerate(BAD_AT, start=1):
        conn.send(op(seq, "parent", code="SB00001", at=at))
        reply = conn.ack(seq)
        assert reply["code"] == "BAD_REQUEST", (at, reply)
        assert "field 'at' must be a whole number" in reply["data"]["reason"]
    conn.send(op(2, "parent", code="SB00001", at=10**16))  # the resend is a replay, not a crash
    again = conn.ack(2)
    assert (again["code"], again["replay"]) == ("BAD_REQUEST", True)
    last = len(BAD_AT) + 1
    conn.send(op(last, "parent", code="SB00001", at=253_402_300_799_999))  # the last ms of 9999 is fine
    assert conn.ack(last)["code"] == "OK"
    conn.send(op(last + 1, "parent", code="SB00001", at=None))  # nil is absent
    assert conn.ack(last + 1)["code"] == "OK"
    times = await clean_db.fetch("SELECT seq, client_time FROM scans WHERE device_id = 'hh-clock' AND result = 'OK' "
                                 "ORDER BY seq")
    assert [(r["seq"], r["client_time"]) for r in times] == [
        (last, datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)), (last + 1, None)]
    assert await clean_db.fetchval("SELECT count(*) FROM scans WHERE device_id = 'hh-clock'") == last + 1


async def test_a_ping_id_the_session_encoding_cannot_carry_is_still_answered(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    """A pong echoes the id in the hello's encoding; what that encoding has no form for is replaced."""
    binary = Connection(client, make_user(client), "hh-pong")
    binary.ws.send_text('{"t":"ping","id":"\\ud800x"}')  # a lone surrogate, to a msgpack session
    assert binary.receive() == {"t": "pong", "id": "\ufffdx"}
    deep: object = "end"
    for _ in range(600):
        deep = [deep]
    binary.ws.send_text(json.dumps({"t": "ping", "id": deep}))  # deeper than msgpack packs
    pong = binary.receive()
    assert pong["t"] == "pong"
    text = Connection(client, make_user(client), "hh-pong-json", text=True)
    text.ws.send_bytes(msgpack.packb({"t": "ping", "id": {"b": b"\xff\x00", "n": float("nan")}}))
    assert text.receive() == {"t": "pong", "id": {"b": "\ufffd\x00", "n": None}}
    text.ws.send_text('{"t":"ping","id":[NaN, Infinity, 1e999]}')
    assert text.receive() == {"t": "pong", "id": [None, None, None]}
    for conn in (binary, text):
        conn.send(op(1, "parent", code="SB00001"))
        assert conn.ack(1)["ok"]


async def test_a_device_id_with_a_trailing_newline_is_refused(client: TestClient, clean_db: asyncpg.Pool) -> None:
    conn = Connection(client, make_user(client))
    conn.send({"t": "hello", "device": "hh-1\n", "last_seq": 0})
    assert conn.receive()["t"] == "error"
    assert await clean_db.fetchval("SELECT count(*) FROM devices") == 0


@pytest.mark.parametrize("text", [False, True])
async def test_a_nil_last_seq_is_an_absent_one(client: TestClient, text: bool) -> None:
    """Before: nil, which every other optional field accepts as "not known", closed the hello with 1002."""
    conn = Connection(client, make_user(client), text=text)
    conn.send({"t": "hello", "device": f"hh-nil-{int(text)}", "last_seq": None})
    assert conn.receive()["t"] == "welcome"


async def test_a_dashboard_scope_of_any_text_is_answered_not_crashed(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: `scope=bill:A%00B` from a dispatcher reached PostgreSQL, which refused the NUL, and
    the endpoint died with a traceback."""
    token = make_user(client)
    # bill:A%00B is normalised like every code (bill AB, which is not this dispatcher's); the others
    # are no scope at all: each is refused with 1008 before anything is looked up or sent
    for scope in ("bill:A%00B", "area:luck%00now", "bill:%ED%A0%80", "area:" + "x" * 5000):
        refused = Watcher(client, token, f"scope={scope}")
        with pytest.raises(WebSocketDisconnect) as closed:
            refused.next()
        assert closed.value.code == 1008, scope
    allowed = Watcher(client, token, "scope=area:lucknow")
    assert allowed.answer()["scope"] == "area:lucknow"


# --- 4b. what a malformed op echoes is bounded -------------------------------------------------


async def test_a_malformed_ops_reason_is_bounded_in_the_ack_the_record_and_the_snapshot(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: the reason echoed up to 64 KB of the op; 50 such ops made a 3.3 MB dashboard snapshot."""
    conn = Connection(client, make_user(client), "hh-echo")
    junk: list[object] = [{"x" * 60_000: ["y" * 1000] * 3}, "z" * 60_000, list(range(5000)), [[[[["deep"] * 9]]]]]
    for seq in range(1, 51):
        conn.send(op(seq, junk[seq % len(junk)]))
        reply = conn.ack(seq)
        assert reply["code"] == "BAD_REQUEST" and len(reply["data"]["reason"]) <= 200, reply
    conn.send(op(51, "parent", code="C" * 100))  # a code of 100 characters is echoed whole: bounded too
    assert conn.ack(51)["code"] == "INVALID_CODE"
    assert await clean_db.fetchval("SELECT max(length(detail::text)) FROM scans") < 300
    watcher = Watcher(client, login(client, "admin", ADMIN_PASSWORD))
    snapshot = watcher.answer()
    assert snapshot["t"] == "snapshot" and len(snapshot["events"]) == 50
    assert len(watcher.frames[-1]) < 30_000


# --- 7. admins name the area of what they create -----------------------------------------------


async def test_an_admin_creates_parents_and_bills_in_the_area_they_name(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: an admin (who has no area) got FORBIDDEN for a new parent or bill."""
    admin = Connection(client, login(client, "admin", ADMIN_PASSWORD), "hh-admin")
    dispatcher = Connection(client, make_user(client), "hh-lucknow")
    assert admin.welcome["user"] == {"username": "admin", "role": "admin", "area": None}
    answers = []
    for seq, message in enumerate([
            op(1, "parent", code="SB00001"),
            op(2, "parent", code="SB00001", area="atlantis"),
            op(3, "parent", code="SB00001", area="indore"),
            op(4, "child", code="C0001", parent="SB00001"),
            op(5, "bill_create", bill="B-ADM", capacity=2),
            op(6, "bill_create", bill="B-ADM", capacity=2, area="indore"),
            op(7, "parent", code="SB00001", area=7),
            op(8, "parent", code="SB00001", area="lucknow"),
            op(9, "parent", code="SB00003", area="indo\x00re")], start=1):
        admin.send(message)
        reply = admin.ack(seq)
        answers.append((reply["code"], reply["data"].get("area")))
    assert answers == [("AREA_REQUIRED", None), ("UNKNOWN_AREA", "atlantis"), ("OK", None), ("OK", None),
                       ("AREA_REQUIRED", None), ("OK", None), ("BAD_REQUEST", None), ("OK", None),
                       ("BAD_REQUEST", None)]
    dispatcher.send(op(1, "parent", code="SB00002", area="indore"))
    assert dispatcher.ack(1)["code"] == "WRONG_AREA"
    dispatcher.send(op(2, "parent", code="SB00002", area="lucknow"))
    assert dispatcher.ack(2)["data"]["created"] is True
    areas = dict(await clean_db.fetch("SELECT code, area FROM bags WHERE kind = 'P'"))
    assert areas == {"SB00001": "indore", "SB00002": "lucknow"}
    assert await clean_db.fetchval("SELECT area FROM bills WHERE code = 'B-ADM'") == "indore"
    # an admin's rejected scan counts in the area of its bag or bill, else in the one it names if
    # that exists, else in ""; an accepted one in its bag's or bill's, whatever it names
    stats = {r["area"]: (r["accepted"], r["rejected"]) for r in await clean_db.fetch(
        "SELECT area, sum(accepted) AS accepted, sum(rejected) AS rejected FROM scan_stats "
        "WHERE device_id = 'hh-admin' GROUP BY area")}
    assert stats == {"": (0, 5), "indore": (4, 0)}, stats


# --- 18. a bill number is never a bag code ------------------------------------------------------


async def test_a_bill_number_that_is_a_parent_code_is_refused(client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: a parent scanned into the New-bill form created a bill named SB00019."""
    conn = Connection(client, make_user(client, "biller"), "hh-bills")
    for seq, bill in enumerate(["SB00019", " sb00019\r", "M444-00001"], start=1):
        conn.send(op(seq, "bill_create", bill=bill, capacity=3))
        reply = conn.ack(seq)
        assert reply["code"] == "INVALID_BILL" and "cannot be a bag code" in reply["data"]["reason"], reply
    conn.send(op(4, "bill_create", bill="SB0001", capacity=3))  # not a parent format: a bill may be called so
    assert conn.ack(4)["ok"]
    assert await clean_db.fetchval("SELECT array_agg(code) FROM bills") == ["SB0001"]


# --- 21. weights read alike -----------------------------------------------------------------


async def test_bill_weights_always_have_two_decimals(client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Before: actual_kg "15" beside expected_kg "15.00"."""
    biller = Connection(client, make_user(client, "biller"), "hh-weights")
    seq = 1
    biller.send(op(seq, "parent", code="M444-00001"))
    biller.ack(seq)
    for n in range(15):
        seq += 1
        biller.send(op(seq, "child", code=f"W{n:04d}", parent="M444-00001"))
        biller.ack(seq)
    biller.send(op(seq + 1, "bill_create", bill="B-KG", capacity=2))
    created = biller.ack(seq + 1)["data"]
    assert (created["actual_kg"], created["expected_kg"]) == ("0.00", "0.00")
    biller.send(op(seq + 2, "bill_add", bill="B-KG", parent="M444-00001"))
    data = biller.ack(seq + 2)["data"]
    assert (data["actual_kg"], data["expected_kg"]) == ("15.00", "15.00")
