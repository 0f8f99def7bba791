"""Apply the numbered SQL files in `db/migrations/` in order, each once, each in its own transaction."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from hub.resources import MIGRATIONS_DIR

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
# Several hub processes may start at once; one of them migrates, the others wait for it.
_ADVISORY_LOCK = 0x7472_6163  # "trac"
MIGRATION_TIMEOUT = 6 * 3600.0
"""Seconds a migration (or the wait for another process's) may take: an index on 10 million bags takes
minutes, far past the pool's command timeout."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every migration file, in version order; a misnamed file or a repeated number is an error."""
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if match is None:
            raise ValueError(f"migration file {path.name} is not named NNNN_description.sql")
        version = int(match.group(1))
        if version in migrations:
            raise ValueError(f"two migrations share the number {version:04d}")
        migrations[version] = Migration(version, match.group(2), path.read_text())
    return [migrations[version] for version in sorted(migrations)]


MIGRATION_TIMEOUT = 24 * 3600.0
"""A migration may build an index over tens of millions of rows: the pool's 30 s statement bound
would stop it half way (and, being one transaction, undo it) on every start."""


async def migrate(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply what is not yet applied; return what was applied now (empty on a migrated database)."""
    await conn.execute("SELECT pg_advisory_lock($1)", _ADVISORY_LOCK, timeout=MIGRATION_TIMEOUT)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version    integer PRIMARY KEY,
                   name       text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now()
               )"""
        )
        applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
        done = []
        for migration in load_migrations(directory):
            if migration.version in applied:
                continue
            async with conn.transaction():
                await conn.execute(migration.sql, timeout=MIGRATION_TIMEOUT)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                    migration.version, migration.name,
                )
            done.append(migration)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _ADVISORY_LOCK)
