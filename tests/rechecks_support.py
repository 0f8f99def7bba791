"""Helpers for the tests of the shared re-checks (`hub.rechecks`): a pool that records every
statement it sends to PostgreSQL (asyncpg's own query logger), sessions and wall-screen tokens made
in the database as a test needs them."""

from __future__ import annotations

import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from hub import accounts
from hub.store import walltokens

SECRET = b"test-session-secret"


@asynccontextmanager
async def recording_pool(dsn: str) -> AsyncIterator[tuple[asyncpg.Pool, list[str]]]:
    """A real pool on `dsn`, and the list of the statements its connections run, as they run them."""
    statements: list[str] = []

    async def init(conn: asyncpg.Connection) -> None:
        conn.add_query_logger(lambda logged: statements.append(logged.query))

    pool = await asyncpg.create_pool(dsn, min_size=0, max_size=4, init=init)
    try:
        yield pool, statements
    finally:
        await pool.close()


def naming(statements: list[str], table: str) -> int:
    """How many of the statements read or write `table`."""
    return sum(f" {table} " in f" {' '.join(statement.split())} " for statement in statements)


def unreachable_dsn() -> str:
    """A PostgreSQL URL nobody answers at: a port just found free on this machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


async def sessions_of_new_user(pool: asyncpg.Pool, username: str, count: int) -> list[bytes]:
    """A new dispatcher with `count` sessions, their token hashes."""
    user = await accounts.create_user(pool, username=username, password="scan-all-day-long",
                                      role="dispatcher", area="lucknow")
    tokens = [await accounts.open_session(pool, SECRET, user, "test") for _ in range(count)]
    return [accounts.token_hash(SECRET, token) for token in tokens]


async def wall_tokens(pool: asyncpg.Pool, count: int) -> list[bytes]:
    """`count` live wall-screen tokens issued by the admin, their hashes."""
    admin = await pool.fetchval("SELECT id FROM users WHERE username = 'admin'")
    hashes = [accounts.token_hash(SECRET, secrets.token_urlsafe(24)) for _ in range(count)]
    for number, token_hash in enumerate(hashes):
        await walltokens.insert(pool, token_hash, f"Dock {number}", None, admin, None)
    return hashes
