"""`tracetrack archive MONTH FILE`: an old month of scans out of the database, into a file; and back.

The month's partition is detached from scans, written by pg_dump (custom format, the same tools as
`tracetrack backup`), the dump's rows counted by pg_restore against the table's, and only then is the
detached table dropped. An archive interrupted half way leaves the table detached and whole (its
rows out of every list until it is archived or attached again); running the same command again
carries on from there. `tracetrack archive --restore FILE` loads the table back and attaches it as
its month's partition again.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TypeVar

import asyncpg

from hub import backup
from hub.partitions import month_of
from hub.store import partitions as store

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE \S+ scans_(\d{4})_(\d{2}) ")
_DUMPED = re.compile(r'dumping contents of table "?([^"]+)"?')
_RESTORED = re.compile(r'processing data for table "?([^"]+)"?')
T = TypeVar("T")


class ArchiveError(backup.BackupError):
    """An archive or its restore that cannot go on; its message is the one line the user sees."""


@dataclass(frozen=True)
class Archived:
    month: date
    rows: int


def parse_month(text: str) -> date:
    """'2026-01' as the first day of that month; anything else, one line saying how to write it."""
    match = _MONTH.match(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ArchiveError(f"{text!r} is not a month: write it as YYYY-MM, e.g. 2026-01")
    return date(int(match.group(1)), int(match.group(2)), 1)


def _connected(url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def run() -> T:
        try:
            conn = await asyncpg.connect(url, timeout=backup.CONNECT_TIMEOUT)
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ArchiveError(f"cannot connect to PostgreSQL (DATABASE_URL): {exc}") from None
        try:
            return await work(conn)
        except asyncpg.LockNotAvailableError:
            raise ArchiveError(f"scans stayed busy for {store.LOCK_WAIT} (long queries on it): "
                               "try again in a moment") from None
        finally:
            await conn.close()

    return asyncio.run(run())


def archive(url: str, month_text: str, file: Path, now: datetime | None = None) -> Archived:
    """Detach, dump, verify and drop the partition of `month_text` (YYYY-MM, a month before the
    current one, UTC); the rows it held, now in `file` only."""
    month = parse_month(month_text)
    if month >= month_of(now or datetime.now(UTC)):
        raise ArchiveError(f"{month_text} is not over yet (months are UTC): only a past month can be archived")
    if file.exists():
        raise ArchiveError(f"{file} already exists: archive into a new file")
    partial = file.with_name(file.name + ".partial")
    try:
        partial.touch(mode=0o600)
    except OSError as exc:
        raise ArchiveError(f"{file}: cannot write there ({exc.strerror})") from None
    try:
        rows = _connected(url, lambda conn: _detached(conn, month))
        database = asyncio.run(backup.inspect(url))
        backup.run_tool([str(backup.find_tool("pg_dump", database.major)), "--format=custom", "--verbose",
                         f"--table={store.table_name(month)}", f"--file={partial}"], url, 1, _DUMPED, "archiving")
        dumped = dump_rows(backup.find_tool("pg_restore", database.major), partial)
        if dumped != rows:
            raise ArchiveError(f"the dump holds {dumped} rows, not the table's {rows}: the table stays "
                               f"(detached, as {store.table_name(month)}); nothing was dropped")
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    _connected(url, lambda conn: store.drop(conn, month))
    return Archived(month, rows)


async def _detached(conn: asyncpg.Connection, month: date) -> int:
    """Detach the month's partition (or find it detached by an archive cut short); its row count."""
    found = await store.state(conn, month)
    if found is None:
        held = ", ".join(f"{m:%Y-%m}" for m in sorted(await store.months(conn))) or "none"
        raise ArchiveError(f"no partition of scans for {month:%Y-%m} (months held: {held})")
    if found == "attached":
        await store.detach(conn, month)
    return await store.count(conn, month)


def dump_rows(pg_restore: Path, file: Path) -> int:
    """The rows of the table data in a custom-format dump, read back from the file by pg_restore
    (one line per row in COPY text format: a newline inside a value is written as \\n)."""
    process = subprocess.Popen([str(pg_restore), "--data-only", "--file=-", str(file)], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    rows, copying = 0, False
    for line in process.stdout:
        if copying:
            if line == b"\\.\n":
                copying = False
            else:
                rows += 1
        elif line.startswith(b"COPY "):
            copying = True
    error = process.stderr.read().decode(errors="replace").strip()
    if process.wait() != 0:
        raise ArchiveError(f"{file}: " + (error.splitlines()[0] if error else "pg_restore could not read it"))
    return rows


def restore(url: str, file: Path) -> Archived:
    """Load an archive's table back and attach it as its month's partition (the default partition's
    rows of that month, if any, moving into it); the rows it brought back."""
    if not file.is_file():
        raise ArchiveError(f"{file}: no such archive file")
    database = asyncio.run(backup.inspect(url))
    tool = backup.find_tool("pg_restore", database.major)
    listed = subprocess.run([str(tool), "--list", str(file)], capture_output=True, text=True, timeout=60)
    tables = [match for line in listed.stdout.splitlines() if (match := _TABLE.match(line))]
    if listed.returncode != 0 or len(tables) != 1:
        raise ArchiveError(f"{file}: not an archive made by `tracetrack archive`")
    month = date(int(tables[0].group(1)), int(tables[0].group(2)), 1)

    async def absent(conn: asyncpg.Connection) -> None:
        if await store.state(conn, month) is not None:
            raise ArchiveError(f"{store.table_name(month)} is in the database already: nothing to restore")

    _connected(url, absent)
    backup.run_tool([str(tool), "--verbose", "--exit-on-error", "--single-transaction", "--no-owner",
                     "--no-privileges", str(file)], url, 1, _RESTORED, "restoring")

    async def attached(conn: asyncpg.Connection) -> int:
        await store.attach(conn, month)
        return await store.count(conn, month)

    return Archived(month, _connected(url, attached))
