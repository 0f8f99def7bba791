"""What a backup or restore asks of the database itself: its server's version, and what it holds."""

from __future__ import annotations

from typing import Any

TIMEOUT = 10.0

# Relations of the database's own schemas: PostgreSQL's catalogs are in every database, empty or not.
_OWN = """
    SELECT count(*) FILTER (WHERE c.relkind = 'r') AS tables, count(*) AS relations
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
       AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
"""


async def server_major(db: Any) -> int:
    """The server's major version (15 for 15.4): a pg_dump or pg_restore must be at least this."""
    return int(await db.fetchval("SHOW server_version_num", timeout=TIMEOUT)) // 10000


async def contents(db: Any) -> tuple[int, int]:
    """(tables, relations) outside PostgreSQL's own schemas: the tables a dump copies row by row, and
    every table, view or sequence there; no relations at all is an empty database."""
    row = await db.fetchrow(_OWN, timeout=TIMEOUT)
    return int(row["tables"]), int(row["relations"])
