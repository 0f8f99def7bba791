"""What one connection, one user and one hub process may take (docs/protocol.md sections 3, 5, 6 and 8):
connections are capped per user and per process (4009); a hello that never comes ends the socket;
a pong is never held behind acks waiting for a batch; operations above the per-device and per-user
rates are answered RATE_LIMITED, not recorded, and applied exactly once when resent.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from hub.settings import Settings
from tests.sessions_support import app_client, closed_with
from tests.support import make_user


def op(seq: int, code: str) -> dict[str, object]:
    return {"t": "op", "seq": seq, "op": "parent", "code": code}


# --- caps and the hello timeout ----------------------------------------------------------------


async def test_connections_are_capped_per_user_and_per_process(settings: Settings,
                                                               clean_db: asyncpg.Pool) -> None:
    with app_client(settings, max_connections_per_user=2, max_connections=3) as (client, sockets):
        first, second = make_user(client), make_user(client)
        a1, a2 = sockets.scanner(first, "hh-cap-1"), sockets.scanner(first, "hh-cap-2")
        third = sockets.scanner(first)
        assert closed_with(third, 4009) == "more than 2 connections of one login"
        dashboard = sockets.dashboard(first)
        assert closed_with(dashboard, 4009) == "more than 2 connections of one login"
        sockets.scanner(second, "hh-cap-3")
        full = sockets.scanner(second)
        assert closed_with(full, 4009) == "this hub has too many connections; try again shortly"
        # the ones admitted still scan, and a closed one frees its place
        a2.send(op(1, "SB00001"))
        assert a2.ack(1)["code"] == "OK"
        a1.close()
        again = sockets.scanner(first, "hh-cap-1")
        again.send(op(1, "SB00002"))
        assert again.ack(1)["code"] == "OK"


async def test_a_hello_that_never_comes_closes_the_socket(settings: Settings, clean_db: asyncpg.Pool) -> None:
    with app_client(settings, handshake_timeout=0.5) as (client, sockets):
        silent = sockets.scanner(make_user(client))
        started = time.monotonic()
        error = silent.receive(timeout=5)
        assert (error["t"], error["code"]) == ("error", "BAD_REQUEST") and "no hello within 0.5" in error["msg"]
        closed_with(silent, 1002, timeout=5)
        assert time.monotonic() - started < 3


# --- pongs and acks ---------------------------------------------------------------------------


async def test_a_pong_overtakes_acks_that_wait_for_a_batch(settings: Settings, clean_db: asyncpg.Pool) -> None:
    with app_client(settings) as (client, sockets):
        scanner = sockets.scanner(make_user(client), "hh-pong")
        async with clean_db.acquire() as conn:
            lock = conn.transaction()
            await lock.start()
            # The writer locks the device's row first: while this transaction holds it, no batch of
            # this device can commit.
            await conn.execute("SELECT 1 FROM devices WHERE device_id = 'hh-pong' FOR UPDATE")
            scanner.send(op(1, "SB00001"))
            scanner.send({"t": "ping", "id": 7})
            assert scanner.receive(timeout=5) == {"t": "pong", "id": 7}
            with pytest.raises(TimeoutError):
                scanner.receive(timeout=0.3)  # the ack waits for its commit
            await lock.rollback()
        assert scanner.ack(1)["code"] == "OK"


async def test_replies_past_the_byte_bound_close_the_scanner_4008(settings: Settings,
                                                                  clean_db: asyncpg.Pool) -> None:
    """Error replies wait behind an ack whose batch cannot commit; past SCANNER_QUEUE_BYTES the
    client, which is evidently not getting its answers, is closed."""
    with app_client(settings, scanner_queue_bytes=4000) as (client, sockets):
        scanner = sockets.scanner(make_user(client), "hh-bound")
        async with clean_db.acquire() as conn:
            lock = conn.transaction()
            await lock.start()
            await conn.execute("SELECT 1 FROM devices WHERE device_id = 'hh-bound' FOR UPDATE")
            scanner.send(op(1, "SB00001"))
            for _ in range(100):
                scanner.send({"t": "nonsense", "pad": "x" * 500})
            assert closed_with(scanner, 4008, timeout=10) == "slow consumer: replies not read"
            await lock.rollback()


# --- the rate of operations ---------------------------------------------------------------------


async def test_operations_above_the_device_rate_are_refused_and_applied_once_when_resent(
        settings: Settings, clean_db: asyncpg.Pool) -> None:
    with app_client(settings, device_ops_per_second=40.0, device_ops_burst=10) as (client, sockets):
        scanner = sockets.scanner(make_user(client), "hh-fast")
        for seq in range(1, 31):
            scanner.send(op(seq, f"SB{seq:05d}"))
        acks = [scanner.ack(seq) for seq in range(1, 31)]
        # The burst of 10, and a token more for every 25 ms the 30 sends took (on a busy machine).
        taken = [a["code"] for a in acks].index("RATE_LIMITED")
        assert taken >= 10 and [a["code"] for a in acks[:taken]] == ["OK"] * taken
        limited = acks[taken:]
        assert {(a["code"], a["retry"], a["ok"]) for a in limited} == {("RATE_LIMITED", True, False)}
        assert {a["data"]["resend_from"] for a in limited} == {taken + 1}
        assert all(a["data"]["retry_after_ms"] > 0 for a in limited)
        assert await clean_db.fetchval("SELECT max(seq) FROM scans WHERE device_id = 'hh-fast'") == taken

        # a new op while the first refused one has not been resent is held too: nothing may overtake it
        scanner.send(op(31, "SB00031"))
        assert scanner.ack(31)["code"] == "RATE_LIMITED"
        # as a client does: resend from `resend_from`, in order, after `retry_after_ms`
        outbox = list(range(taken + 1, 32))
        while outbox:
            await asyncio.sleep(acks[-1]["data"]["retry_after_ms"] / 1000 if acks[-1]["retry"] else 0)
            for seq in outbox:
                scanner.send(op(seq, f"SB{seq:05d}"))
            acks = [scanner.ack(seq) for seq in outbox]
            assert all(a["code"] in ("OK", "RATE_LIMITED") and not a["replay"] for a in acks), acks
            codes = [a["code"] for a in acks]
            assert codes == sorted(codes), "once one is refused, every later one is"
            outbox = [a["seq"] for a in acks if a["retry"]]
        rows = await clean_db.fetch("SELECT seq, result FROM scans WHERE device_id = 'hh-fast' ORDER BY seq")
        assert [(r["seq"], r["result"]) for r in rows] == [(n, "OK") for n in range(1, 32)]


async def test_the_user_rate_spans_the_users_devices(settings: Settings, clean_db: asyncpg.Pool) -> None:
    with app_client(settings, user_ops_per_second=1.0, user_ops_burst=8) as (client, sockets):
        token = make_user(client)
        first, second = sockets.scanner(token, "hh-user-1"), sockets.scanner(token, "hh-user-2")
        for seq in range(1, 6):
            first.send(op(seq, f"SB{seq:05d}"))
        assert [first.ack(seq)["code"] for seq in range(1, 6)] == ["OK"] * 5
        for seq in range(1, 6):
            second.send(op(seq, f"SB{seq + 10:05d}"))
        assert [second.ack(seq)["code"] for seq in range(1, 6)] == ["OK"] * 3 + ["RATE_LIMITED"] * 2
        other = sockets.scanner(make_user(client), "hh-user-3")  # another user has a bucket of their own
        other.send(op(1, "SB00099"))
        assert other.ack(1)["code"] == "OK"
