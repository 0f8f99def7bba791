"""Fixtures: a database and a Redis prefix of this run's own, the app in-process, real hub processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from argon2 import PasswordHasher
from starlette.testclient import TestClient

from hub.app import create_app
from hub.database import create_pool
from hub.migrate import migrate
from hub.settings import Settings
from tests import services
from tests.hubprocess import HubProcess
from tests.sessions_support import Sockets
from tests.ws_support import close_connections

ADMIN_PASSWORD = "correct-horse-battery-staple"
DATA_TABLES = ("import_errors", "imports", "scan_stats", "scans", "devices", "return_parents", "return_tickets",
               "bill_parents", "bills", "links", "bags", "audit_log", "sessions", "wall_tokens")


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with services.postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_url(postgres_server_url: str) -> Iterator[str]:
    with services.test_database(postgres_server_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with services.redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"tracetrack-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def settings(database_url: str, redis_prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """In-process settings: this run's database, the in-process broker, a known admin password."""
    return Settings(
        database_url=database_url,
        redis_prefix=redis_prefix,
        session_secret="test-session-secret",
        admin_password=ADMIN_PASSWORD,
        data_dir=tmp_path_factory.mktemp("data"),
    )


@pytest.fixture(scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, 5)
    async with pool.acquire() as conn:
        await migrate(conn)
    yield pool
    await pool.close()


@pytest.fixture
async def clean_db(pool: asyncpg.Pool) -> asyncpg.Pool:
    """The run's database with every bag, bill, scan and session gone, and only the admin user left."""
    await pool.execute(f"TRUNCATE {', '.join(DATA_TABLES)} RESTART IDENTITY CASCADE")
    await pool.execute("DELETE FROM users WHERE username <> 'admin'")
    return pool


@pytest.fixture
def client(settings: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    """The app in-process, its lifespan running, on a clean database. Websockets a test left open
    are closed while the app still runs: closed later, their handlers would meet a closed pool."""
    with TestClient(create_app(settings), base_url="http://testserver") as test_client:
        try:
            yield test_client
        finally:
            close_connections()


@pytest.fixture
def sockets(client: TestClient) -> Iterator[Sockets]:
    """Sockets on the in-process app, every one left open closed before the app stops."""
    opened = Sockets(client)
    yield opened
    opened.close_all()


def hub_env(database_url: str) -> dict[str, str]:
    """The environment of a test's hub process: this run's database, the known admin password."""
    return {"DATABASE_URL": database_url, "ADMIN_PASSWORD": ADMIN_PASSWORD, "SESSION_SECRET": "test-session-secret"}


@pytest.fixture
def hub_process(database_url: str, tmp_path: Path) -> Iterator[type[HubProcess]]:
    """Start real hub processes (uvicorn subprocesses on free ports); all are stopped afterwards."""
    started: list[HubProcess] = []

    class Bound(HubProcess):
        def __init__(self, port: int | None = None, **env: str) -> None:
            """`port`: that port (e.g. to restart a stopped hub where its clients reconnect), else a free one."""
            super().__init__(tmp_path, {**hub_env(database_url), **env}, port)
            started.append(self)

    yield Bound
    for process in started:
        process.stop()


@pytest.fixture
def verify_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every argon2 verification, recorded (the real one still runs)."""
    calls: list[str] = []
    real = PasswordHasher.verify

    def spy(self: PasswordHasher, hash: str, password: str) -> bool:
        calls.append(hash)
        return real(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", spy)
    return calls
