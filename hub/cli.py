"""The `tracetrack` command line: serve, migrate, createuser, seed.

Start-up problems become one clean line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import click

from hub.settings import Settings, SettingsError, documented_options

T = TypeVar("T")


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """Settings with a DATABASE_URL: the configured one, or an embedded server's for the duration."""
    if settings.database_url:
        yield settings
        return
    from hub.database import EmbeddedPostgres

    server = EmbeddedPostgres(settings.data_dir)
    try:
        url = server.start()
    except Exception as exc:
        raise click.ClickException(f"could not start the embedded PostgreSQL: {exc}") from None
    try:
        yield settings.replace(database_url=url)
    finally:
        server.stop()


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    try:
        return asyncio.run(factory())
    except OSError as exc:
        raise click.ClickException(f"cannot reach PostgreSQL: {exc}") from None


def _settings_help() -> str:
    lines = ["Settings come from the environment:", ""]
    lines += [f"  {env} (default {default}): {help}" for env, default, help in documented_options()]
    return "\n".join(lines)


@click.group()
def main() -> None:
    """TraceTrack Hub: real-time scanning hub for warehouse bag tracking."""


@main.command(epilog=_settings_help())
@click.option("--host", default=None, help="Address to listen on (default: $HOST or 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: $PORT or 8000).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes; more than one needs REDIS_URL.")
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Run the hub: migrate, then serve scanners, dashboards and pages.

    Without DATABASE_URL an embedded PostgreSQL runs in the data directory and stops with the hub.
    Without REDIS_URL an in-process broker is used, which allows one worker only.
    """
    import uvicorn

    settings = _settings()
    if workers > 1 and not settings.redis_url:
        raise click.ClickException(
            f"--workers {workers} needs REDIS_URL: without Redis the hub's processes cannot share "
            "live updates. Set REDIS_URL or run one worker."
        )
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    with database(settings) as settings:
        assert settings.database_url is not None
        os.environ["DATABASE_URL"] = settings.database_url
        _run(lambda: _prepare(settings))
        uvicorn.run(
            "hub.app:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_level=settings.log_level,
            ws="websockets",
            ws_max_size=settings.max_frame_bytes,
            timeout_graceful_shutdown=int(settings.shutdown_timeout),
        )


async def _prepare(settings: Settings) -> None:
    """Migrate and create the first admin once, before any worker starts."""
    from hub import auth
    from hub.database import create_pool
    from hub.migrate import migrate

    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        password = await auth.ensure_first_admin(pool, settings)
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
    from hub.database import create_pool
    from hub.migrate import migrate

    async def run(url: str) -> list[Any]:
        pool = await create_pool(url, 1)
        try:
            async with pool.acquire() as conn:
                return await migrate(conn)
        finally:
            await pool.close()

    with database(_settings()) as settings:
        assert settings.database_url is not None
        url = settings.database_url
        applied = _run(lambda: run(url))
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
    from hub.database import create_pool

    async def run(url: str) -> None:
        pool = await create_pool(url, 1)
        try:
            await accounts.create_user(pool, username=username, password=password, role=role, area=area)
        finally:
            await pool.close()

    with database(_settings()) as settings:
        assert settings.database_url is not None
        url = settings.database_url
        try:
            _run(lambda: run(url))
        except accounts.AccountError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username!r}" + (f" in {area}" if area else ""))


@main.command()
@click.option("--bags", type=click.IntRange(min=1), required=True, help="How many bags to create.")
def seed(bags: int) -> None:
    """Fill the database with realistic data: parents, children, bills, users, scan history."""
    from hub import seeding
    from hub.database import create_pool

    async def run(url: str) -> seeding.SeedReport:
        pool = await create_pool(url, 4)
        try:
            return await seeding.seed(pool, bags)
        finally:
            await pool.close()

    with database(_settings()) as settings:
        assert settings.database_url is not None
        url = settings.database_url
        report = _run(lambda: run(url))
    click.echo(str(report))
