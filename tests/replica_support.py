"""A private PostgreSQL primary and a streaming standby of it (`pg_basebackup -R`), for the read-replica
tests: both on free ports under one temp dir, stopped (killed if need be) and removed afterwards.

The commands are those of docs/deployment.md ("A read replica"). Run as root (as in CI containers), the servers
run as the `postgres` system user, since PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from loadtest.servers import PostgresCluster
from tests.http_support import cookie
from tests.metrics_support import BEARER, TOKEN, samples, value

DATABASE = "tracetrack"
TIMEOUT = 30.0
PRIMARY_SETTINGS = {"wal_level": "replica", "max_wal_senders": "4", "wal_keep_size": "64MB"}
"""What the primary needs to stream to a standby (initdb's trust rules already admit replication
from 127.0.0.1); the standby answers queries by default (hot_standby)."""


async def _query(url: str, sql: str) -> Any:
    conn = await asyncpg.connect(url, timeout=5)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def query(url: str, sql: str) -> Any:
    """One value from one statement, on a connection of its own (from a test's thread)."""
    return asyncio.run(_query(url, sql))


@dataclass
class Pair:
    primary: PostgresCluster
    standby: PostgresCluster

    def pause_replay(self) -> None:
        query(self.standby.url(DATABASE), "SELECT pg_wal_replay_pause()")

    def resume_replay(self) -> None:
        query(self.standby.url(DATABASE), "SELECT pg_wal_replay_resume()")

    def wait_streaming(self) -> None:
        wait_for(lambda: query(self.primary.url(), "SELECT count(*) FROM pg_stat_replication "
                                                   "WHERE state = 'streaming'") == 1, "the standby streams")

    def wait_replayed(self) -> None:
        """Until the standby has replayed everything the primary has written so far."""
        target = query(self.primary.url(), "SELECT pg_current_wal_lsn()::text")
        wait_for(lambda: query(self.standby.url(), f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"),
                 "the standby replays the primary's WAL")


def wait_for(condition: Any, what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def primary_and_standby() -> Iterator[Pair]:
    """A primary (loadtest.servers' private cluster) with the hub's database, `pg_basebackup -R` a
    standby of it, both started, once the standby streams; both killed and removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="tracetrack-replica-"))
    pair = Pair(PostgresCluster(root, PRIMARY_SETTINGS, name="primary"), PostgresCluster(root, {}, name="standby"))
    try:
        pair.primary.init()
        pair.primary.start()
        query(pair.primary.url(), f"CREATE DATABASE {DATABASE}")
        pair.primary.run("pg_basebackup", "-h", "127.0.0.1", "-p", str(pair.primary.port), "-U", "postgres",
                         "-D", str(pair.standby.data), "-R", "-X", "stream", "-c", "fast")
        pair.standby.start()
        pair.wait_streaming()
        yield pair
    except BaseException:
        print(f"primary log:\n{pair.primary.log()}\nstandby log:\n{pair.standby.log()}")
        raise
    finally:
        for cluster in (pair.standby, pair.primary):
            cluster.kill()
        shutil.rmtree(root, ignore_errors=True)


def replica_client(settings: Settings, pair: Pair, max_lag: float) -> TestClient:
    """The app in-process on the pair: DATABASE_URL the primary, DATABASE_READ_URL the standby."""
    return TestClient(create_app(settings.replace(
        database_url=pair.primary.url(DATABASE), database_read_url=pair.standby.url(DATABASE),
        database_read_max_lag=max_lag,
        metrics_token=TOKEN, api_requests_per_minute=1_000_000)), base_url="http://testserver")


def listed(client: TestClient, token: str, path: str, key: str, field: str) -> set[Any]:
    """One field of every item on the first page of a list (the tests' lists are short)."""
    response = client.get(path, params={"limit": "200"}, headers=cookie(token))
    assert response.status_code == 200, response.text
    return {item[field] for item in response.json()[key]}


def exported_scans(client: TestClient, token: str) -> int:
    """Rows of the scans export."""
    response = client.get("/api/exports/scans.csv", headers=cookie(token))
    assert response.status_code == 200, response.text
    return len(list(csv.reader(io.StringIO(response.text)))) - 1


def metric(client: TestClient, name: str, **labels: str) -> float:
    return value(samples(client.get("/metrics", headers=BEARER).text), name, **labels)
