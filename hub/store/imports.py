"""Imports: one row per run of a file with its progress, its bad rows, and its audit entry.

Kept in PostgreSQL, not in the memory of the hub running the import, so every hub process can say
how far an import is and serve its error report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

from hub.store.audit import insert_audit

TIMEOUT = 10.0
_COLUMNS = """i.id, u.username AS actor, i.file_name, i.sha256, i.kind, i.mode, i.area, i.status, i.rows_total,
              i.rows_done, i.applied, i.already, i.bad, i.started_at, i.finished_at"""


@dataclass(frozen=True)
class NewImport:
    actor_id: int
    file_name: str
    sha256: str
    kind: str
    mode: str
    area: str | None
    device: str
    rows: int


@dataclass(frozen=True)
class BadRow:
    number: int
    cells: dict[str, str]
    code: str
    message: str


async def create(pool: asyncpg.Pool, new: NewImport) -> int:
    """Record an import as running; its id."""
    return int(await pool.fetchval(
        """INSERT INTO imports (actor_id, file_name, sha256, kind, mode, area, device_id, rows_total)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        new.actor_id, new.file_name, new.sha256, new.kind, new.mode, new.area, new.device, new.rows,
        timeout=TIMEOUT))


async def set_progress(pool: asyncpg.Pool, import_id: int, done: int) -> None:
    await pool.execute("UPDATE imports SET rows_done = $2 WHERE id = $1 AND status = 'running'",
                       import_id, done, timeout=TIMEOUT)


async def finish(pool: asyncpg.Pool, import_id: int, actor_id: int, status: str, counts: dict[str, int],
                 bad_rows: list[BadRow]) -> dict[str, Any]:
    """Close the import with its counts and bad rows, and audit it, in one transaction; the record."""
    async with pool.acquire(timeout=TIMEOUT) as conn, conn.transaction():
        await conn.execute(
            """UPDATE imports SET status = $2, rows_done = rows_total, applied = $3, already = $4, bad = $5,
                      finished_at = now() WHERE id = $1""",
            import_id, status, counts["applied"], counts["already"], counts["bad"], timeout=TIMEOUT)
        await conn.copy_records_to_table(
            "import_errors", columns=("import_id", "row_number", "cells", "code", "message"),
            records=[(import_id, row.number, row.cells, row.code, row.message) for row in bad_rows],
            timeout=TIMEOUT)
        record = await _get(conn, import_id)
        assert record is not None
        audited = {key: record[key] for key in ("file_name", "sha256", "kind", "mode", "area", "status",
                                                "rows_total", "applied", "already", "bad")}
        await insert_audit(conn, actor_id, "import", f"import:{import_id}", None, audited)
        return record


async def mark_failed(pool: asyncpg.Pool, import_id: int) -> None:
    """An import that could not finish (PostgreSQL went away, the hub hit a fault)."""
    await pool.execute("UPDATE imports SET status = 'failed', finished_at = now() WHERE id = $1 AND status = 'running'",
                       import_id, timeout=TIMEOUT)


async def get(pool: asyncpg.Pool, import_id: int) -> dict[str, Any] | None:
    async with pool.acquire(timeout=TIMEOUT) as conn:
        return await _get(conn, import_id)


async def _get(conn: asyncpg.Connection, import_id: int) -> dict[str, Any] | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM imports i JOIN users u ON u.id = i.actor_id WHERE i.id = $1",
                              import_id, timeout=TIMEOUT)
    return _record(row) if row is not None else None


async def recent(pool: asyncpg.Pool, limit: int) -> list[dict[str, Any]]:
    """The latest imports, newest first."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM imports i JOIN users u ON u.id = i.actor_id "
        "ORDER BY i.started_at DESC, i.id DESC LIMIT $1", limit, timeout=TIMEOUT)
    return [_record(row) for row in rows]


async def bad_rows(pool: asyncpg.Pool, import_id: int, after: int, limit: int) -> list[BadRow]:
    """The import's bad rows after row number `after`, in file order (keyset chunks of `limit`)."""
    rows = await pool.fetch(
        """SELECT row_number, cells, code, message FROM import_errors
            WHERE import_id = $1 AND row_number > $2 ORDER BY row_number LIMIT $3""",
        import_id, after, limit, timeout=TIMEOUT)
    return [BadRow(row["row_number"], row["cells"], row["code"], row["message"]) for row in rows]


def _record(row: asyncpg.Record) -> dict[str, Any]:
    record = dict(row)
    for key in ("started_at", "finished_at"):
        record[key] = record[key].isoformat() if record[key] is not None else None
    return record
