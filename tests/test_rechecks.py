"""The periodic re-checks of one hub process share their statements (`hub.rechecks`): re-checks due
within one window cost one statement per kind (sessions, wall-screen tokens), whatever their number,
and each connection still gets its own answer: a revoked, expired or deactivated login among many
live ones is the only one refused, and an open socket of one is closed with 4001 by the re-check
alone (no broker message). Should PostgreSQL be away, every waiting re-check gets the error."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from hub import accounts
from hub.auth import secret_bytes
from hub.codes import Close
from hub.database import UNAVAILABLE
from hub.rechecks import Rechecks
from hub.settings import Settings
from hub.store import walltokens
from tests.conftest import ADMIN_PASSWORD
from tests.rechecks_support import naming, recording_pool, sessions_of_new_user, unreachable_dsn, wall_tokens
from tests.sessions_support import app_client, closed_with
from tests.support import login, make_user

IDLE_MINUTES = 30


async def test_re_checks_due_together_cost_one_statement_per_kind_and_each_gets_its_own_answer(
        database_url: str, clean_db: asyncpg.Pool) -> None:
    live = await sessions_of_new_user(clean_db, "many", 60)
    revoked, expired = live.pop(7), live.pop(30)
    deactivated = (await sessions_of_new_user(clean_db, "gone", 1))[0]
    await clean_db.execute("UPDATE sessions SET revoked_at = now() WHERE token_hash = $1", revoked)
    await clean_db.execute("UPDATE users SET active = false WHERE username = 'gone'")
    await clean_db.execute("UPDATE sessions SET last_seen_at = now() - interval '5 minutes'")
    await clean_db.execute("UPDATE sessions SET last_seen_at = now() - interval '31 minutes' "
                           "WHERE token_hash = $1", expired)
    walls = await wall_tokens(clean_db, 12)
    revoked_wall, expired_wall = walls[2], walls[9]
    await clean_db.execute("UPDATE wall_tokens SET revoked_at = now() WHERE token_hash = $1", revoked_wall)
    await clean_db.execute("UPDATE wall_tokens SET expires_at = now() - interval '1 second' WHERE token_hash = $1",
                           expired_wall)
    touching = set(live[::2])
    asked = [*live, live[0], revoked, expired, deactivated]  # live[0]: a scanner and a dashboard of one login

    async with recording_pool(database_url) as (pool, statements):
        rechecks = Rechecks(pool, IDLE_MINUTES, window=0.3)
        try:
            answers = await asyncio.gather(
                *(rechecks.session_left(token_hash, token_hash in touching) for token_hash in asked),
                *(rechecks.wall_token_live(token_hash) for token_hash in walls))
        finally:
            await rechecks.close()

    assert (naming(statements, "sessions"), naming(statements, "wall_tokens")) == (1, 1), statements
    left = dict(zip(asked, answers[:len(asked)]))
    assert [token_hash for token_hash, seconds in left.items() if seconds is None] == [revoked, expired, deactivated]
    assert all(24 * 60 < seconds <= 30 * 60 for seconds in left.values() if seconds is not None)
    assert answers[len(asked):] == [token_hash not in (revoked_wall, expired_wall) for token_hash in walls]
    # Those in use were touched, in the same statement; the others, the expired one too, were not.
    seen = dict(await clean_db.fetch("SELECT token_hash, now() - last_seen_at < interval '1 minute' "
                                     "FROM sessions WHERE revoked_at IS NULL"))
    assert {token_hash for token_hash, fresh in seen.items() if fresh} == touching


async def test_a_scan_that_needs_its_answer_now_takes_the_waiting_re_checks_with_it(
        database_url: str, clean_db: asyncpg.Pool) -> None:
    hashes = await sessions_of_new_user(clean_db, "urgent", 4)
    async with recording_pool(database_url) as (pool, statements):
        rechecks = Rechecks(pool, IDLE_MINUTES, window=60.0)
        try:
            waiting = [asyncio.ensure_future(rechecks.session_left(token_hash, False)) for token_hash in hashes[1:]]
            await asyncio.sleep(0.1)
            started = time.monotonic()
            assert await asyncio.wait_for(rechecks.session_left(hashes[0], True, at_once=True), 5) is not None
            assert all(left is not None for left in await asyncio.wait_for(asyncio.gather(*waiting), 5))
            assert time.monotonic() - started < 5
        finally:
            await rechecks.close()
    assert naming(statements, "sessions") == 1, statements


async def test_with_postgresql_away_every_waiting_re_check_gets_the_error(clean_db: asyncpg.Pool) -> None:
    hashes = await sessions_of_new_user(clean_db, "outage", 3)
    pool = await asyncpg.create_pool(unreachable_dsn(), min_size=0, max_size=2)
    rechecks = Rechecks(pool, IDLE_MINUTES, window=0.05)
    try:
        answers = await asyncio.wait_for(asyncio.gather(
            *(rechecks.session_left(token_hash, True) for token_hash in hashes),
            rechecks.wall_token_live(hashes[0]), return_exceptions=True), 30)
    finally:
        await rechecks.close()
        await pool.close()
    assert all(isinstance(answer, UNAVAILABLE) for answer in answers), answers


async def test_re_checks_still_waiting_at_shutdown_are_cancelled(database_url: str, clean_db: asyncpg.Pool) -> None:
    hashes = await sessions_of_new_user(clean_db, "shutdown", 1)
    async with recording_pool(database_url) as (pool, statements):
        rechecks = Rechecks(pool, IDLE_MINUTES, window=60.0)
        waiting = asyncio.ensure_future(rechecks.session_left(hashes[0], True))
        await asyncio.sleep(0.05)
        await rechecks.close()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 5)
    assert statements == []


async def test_only_the_socket_whose_login_ended_is_closed_by_its_re_check(settings: Settings,
                                                                          clean_db: asyncpg.Pool) -> None:
    """Revoked in the database alone (as if the broker had lost the message): each socket's own re-check
    finds it, among others re-checked with it."""
    secret = secret_bytes(settings)
    with app_client(settings, session_recheck_seconds=0.5) as (client, sockets):
        tokens = [make_user(client) for _ in range(3)]
        scanners = [sockets.scanner(token, f"hh-recheck-{number}") for number, token in enumerate(tokens)]
        watcher = sockets.dashboard(tokens[1])
        assert watcher.receive()["t"] == "snapshot"
        admin = login(client, "admin", ADMIN_PASSWORD)
        issued = client.post("/api/wall-tokens", json={"label": "Dock 1", "area": None},
                             headers={"cookie": f"tt_session={admin}"}).json()
        wall = sockets.dashboard(None, f"?token={issued['token']}")
        assert wall.receive()["t"] == "snapshot"

        await clean_db.execute("UPDATE sessions SET revoked_at = now() WHERE token_hash = $1",
                               accounts.token_hash(secret, tokens[0]))
        await walltokens.revoke(clean_db, issued["id"])
        closed_with(scanners[0], Close.SESSION_REVOKED, timeout=5)
        closed_with(wall, Close.SESSION_REVOKED, timeout=5)
        time.sleep(1.5)  # a few more re-checks of the others
        for seq, scanner in enumerate(scanners[1:], start=1):
            scanner.send({"t": "op", "seq": 1, "op": "parent", "code": f"SB0000{seq}"})
            assert scanner.ack(1)["code"] == "OK"
        watcher.send({"t": "ping", "id": 7})
        while (frame := watcher.receive())["t"] != "pong":
            assert frame["t"] in ("delta", "snapshot", "presence"), frame
