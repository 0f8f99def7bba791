"""`tracetrack backup` / `restore`: a seeded database comes back row for row in a fresh one, and a
restore never lands on a database that already holds something unless told to."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from hub import backup
from tests import services
from tests.services import tracetrack

Snapshot = dict[str, list[str]]


def snapshot(url: str) -> Snapshot:
    """Every table's rows (as text, sorted) and every sequence's position."""

    async def read() -> Snapshot:
        conn = await asyncpg.connect(url)
        try:
            tables = await conn.fetch("SELECT table_name FROM information_schema.tables"
                                      " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
            sequences = await conn.fetch("SELECT sequence_name FROM information_schema.sequences"
                                         " WHERE sequence_schema = 'public'")
            found: Snapshot = {}
            for (table,) in tables:
                rows = await conn.fetch(f'SELECT t::text FROM "{table}" t')
                found[table] = sorted(row[0] for row in rows)
            for (sequence,) in sequences:
                found[f"sequence {sequence}"] = [str(await conn.fetchval(
                    f'SELECT (last_value, is_called)::text FROM "{sequence}"'))]
            return found
        finally:
            await conn.close()

    return asyncio.run(read())


def dumped_tables(found: Snapshot) -> int:
    """The tables whose rows a dump holds: every table bar `scans`, partitioned, whose rows are its
    partitions' (migration 0014)."""
    return len([k for k in found if not k.startswith("sequence") and k != "scans"])


@pytest.fixture(scope="module")
def seeded(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A database of its own, migrated and seeded by the command line, and its backup file."""
    file = tmp_path_factory.mktemp("backup") / "tracetrack.dump"
    with services.test_database(postgres_server_url) as url:
        for args in (["migrate"], ["seed", "--bags", "60"], ["backup", str(file)]):
            result = tracetrack(url, *args)
            assert result.returncode == 0, result.stderr
        yield url, file


def test_a_backup_restores_into_a_fresh_database_as_it_was(seeded: tuple[str, Path],
                                                           postgres_server_url: str) -> None:
    source, file = seeded
    before = snapshot(source)
    assert before["bags"] and before["scans"] and before["bills"] and before["links"]
    with services.test_database(postgres_server_url) as fresh:
        result = tracetrack(fresh, "restore", str(file))
        assert result.returncode == 0, result.stderr
        assert f"restored {dumped_tables(before)} tables" in result.stdout
        assert snapshot(fresh) == before


def test_the_backup_says_how_far_it_got(seeded: tuple[str, Path], tmp_path: Path) -> None:
    source, _ = seeded
    result = tracetrack(source, "backup", str(tmp_path / "again.dump"))
    assert result.returncode == 0, result.stderr
    tables = dumped_tables(snapshot(source))
    assert f"{tables}/{tables}" in result.stderr
    assert f"backed up {tables} tables" in result.stdout
    assert not (tmp_path / "again.dump.partial").exists()


def test_restore_refuses_a_database_that_is_not_empty_unless_told_to_clean(seeded: tuple[str, Path]) -> None:
    source, file = seeded
    before = snapshot(source)
    refused = tracetrack(source, "restore", str(file))
    assert refused.returncode == 1
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "not empty" in refused.stderr and "--clean" in refused.stderr
    assert snapshot(source) == before

    allowed = tracetrack(source, "restore", "--clean", str(file))
    assert allowed.returncode == 0, allowed.stderr
    assert snapshot(source) == before


def test_a_file_that_is_not_a_backup_is_one_line(seeded: tuple[str, Path], tmp_path: Path) -> None:
    source, _ = seeded
    junk = tmp_path / "junk.dump"
    junk.write_text("not a dump\n")
    for file in (junk, tmp_path / "missing.dump"):
        result = tracetrack(source, "restore", str(file))
        assert result.returncode == 1
        assert len(result.stderr.strip().splitlines()) == 1
        assert str(file) in result.stderr and "Traceback" not in result.stderr


def test_no_tool_new_enough_is_said_plainly() -> None:
    with pytest.raises(backup.BackupError, match="no pg_dump of PostgreSQL 99 or newer found"):
        backup.find_tool("pg_dump", 99)


def test_the_backup_is_for_its_owner_only(seeded: tuple[str, Path]) -> None:
    """It holds every user's password hash."""
    _, file = seeded
    assert file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(("url", "shown", "secret"), [
    ("postgresql://hub:s3cr%40t@db.example:5432/tracetrack", "postgresql://hub@db.example:5432/tracetrack",
     {"PGPASSWORD": "s3cr@t"}),
    ("postgresql://hub@db.example/tracetrack", "postgresql://hub@db.example/tracetrack", {}),
    ("postgresql:///tracetrack?host=/run/postgresql", "postgresql:///tracetrack?host=/run/postgresql", {}),
])
def test_a_password_goes_to_the_tools_environment_not_their_command_line(
        url: str, shown: str, secret: dict[str, str]) -> None:
    assert backup._without_password(url) == (shown, secret)
