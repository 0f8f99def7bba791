"""The `tracetrack` command line: what each command says it does, and clean start-up errors."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import _Main, main
from tests import services

COMMANDS = {
    "serve": "Run the hub: migrate, then serve scanners, dashboards and pages.",
    "migrate": "Apply database migrations that have not been applied yet.",
    "createuser": "Create a user account with a role and a dispatch area.",
    "seed": "Fill the database with realistic data: parents, children, bills, users, scan history.",
    "backup": "Back the database up to FILE (pg_dump custom format), with progress.",
    "restore": "Restore a backup made by `tracetrack backup` from FILE into an empty database, with progress.",
}


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in COMMANDS:
        assert command in result.output


@pytest.mark.parametrize(("command", "says"), COMMANDS.items())
def test_each_command_says_what_it_does(command: str, says: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"], terminal_width=120)
    assert result.exit_code == 0
    assert says in " ".join(result.output.split())


@pytest.mark.parametrize(("command", "options"), [
    ("serve", ["--host", "--port", "--workers"]),
    ("createuser", ["--role", "--area", "--password"]),
    ("seed", ["--bags"]),
    ("restore", ["--clean"]),
])
def test_each_command_documents_its_options(command: str, options: list[str]) -> None:
    output = CliRunner().invoke(main, [command, "--help"]).output
    for option in options:
        assert option in output


@pytest.mark.parametrize(("env", "names"), [
    ({"PORT": "eighty"}, "PORT"),
    ({"BATCH_MAX_OPS": "0"}, "BATCH_MAX_OPS"),
    ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL"),
    ({"TRACETRACK_ENV": "production", "SESSION_SECRET": ""}, "SESSION_SECRET"),
    ({"TRACETRACK_ENV": "production", "SESSION_SECRET": "s3cret"}, "SESSION_SECRET"),
    ({"TRACETRACK_ENV": "production", "SESSION_SECRET": "kP3vX9qLm2ZtR8wYc4NbH7jF1sDgA6eU", "TLS_PROXY": "1",
      "ADMIN_PASSWORD": "changeme"}, "ADMIN_PASSWORD"),
    ({"TRACETRACK_ENV": "production", "SESSION_SECRET": "kP3vX9qLm2ZtR8wYc4NbH7jF1sDgA6eU"}, "TRACETRACK_ENV"),
])
def test_a_bad_setting_stops_serve_with_one_line(env: dict[str, str], names: str) -> None:
    result = CliRunner().invoke(main, ["serve"], env=env)
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(f"Error: {names}")


def test_a_bad_setting_in_a_real_process_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PORT": "eighty"}
    result = subprocess.run([sys.executable, "-m", "hub", "serve"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert result.stderr.startswith("Error: PORT='eighty' is not valid")
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / ".tracetrack").exists(), "nothing is started before the settings are read"


def test_migrate_applies_once_then_is_up_to_date(database_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(main, ["migrate"], env={"DATABASE_URL": database_url})
    assert first.exit_code == 0, first.output
    second = runner.invoke(main, ["migrate"], env={"DATABASE_URL": database_url})
    assert second.exit_code == 0, second.output
    assert second.stdout == "database is up to date\n"


@pytest.mark.parametrize("url", ["postgresql://postgres@127.0.0.1:1/nowhere", "mysql://somewhere/db"])
def test_an_unreachable_database_is_one_line(url: str) -> None:
    result = CliRunner().invoke(main, ["migrate"], env={"DATABASE_URL": url})
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: cannot connect to PostgreSQL (DATABASE_URL): ")


@pytest.fixture
def unmigrated_url(postgres_server_url: str) -> Iterator[str]:
    """A database of its own with no hub schema in it."""
    with services.test_database(postgres_server_url) as url:
        yield url


def test_createuser_on_an_unmigrated_database_is_one_line(unmigrated_url: str) -> None:
    result = CliRunner().invoke(main, ["createuser", "ravi", "--role", "dispatcher", "--area", "indore",
                                       "--password", "scan-all-day-42"], env={"DATABASE_URL": unmigrated_url})
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: the database has no hub schema yet")
    assert "tracetrack migrate" in result.stderr


def test_a_weak_first_admin_password_stops_serve_with_one_line(unmigrated_url: str) -> None:
    """The first admin obeys the API's password rule, in development too."""
    result = CliRunner().invoke(main, ["serve"], env={"DATABASE_URL": unmigrated_url, "ADMIN_PASSWORD": "a"})
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: ADMIN_USERNAME / ADMIN_PASSWORD: A password is 8 to 1024")


def test_a_password_that_is_not_text_is_one_line(unmigrated_url: str) -> None:
    result = CliRunner().invoke(main, ["createuser", "ravi", "--role", "dispatcher", "--area", "indore",
                                       "--password", "pass\udcffword-long"], env={"DATABASE_URL": unmigrated_url})
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: A password is printable text")


def test_any_unexpected_failure_of_a_command_is_one_line() -> None:
    group = _Main()

    @group.command()
    def boom() -> None:
        raise RuntimeError("the disk\nis on fire")

    result = CliRunner().invoke(group, ["boom"])
    assert result.exit_code == 1
    assert result.stderr == "Error: RuntimeError: the disk is on fire\n"


def test_a_certificate_that_cannot_be_loaded_stops_serve_with_one_line(unmigrated_url: str, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    result = CliRunner().invoke(main, ["serve", "--port", str(services.free_port())],
                                env={"DATABASE_URL": unmigrated_url, "TLS_CERTFILE": str(junk),
                                     "TLS_KEYFILE": str(junk)})
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("Error: TLS_CERTFILE / TLS_KEYFILE cannot be used: ")
