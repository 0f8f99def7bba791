"""The application factory and the lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from hub import auth, health, websockets
from hub.batch import Committed
from hub.broker import Broker, create_broker
from hub.cache import BagCache
from hub.codes import Close
from hub.database import create_pool
from hub.domain.bagcodes import ParentFormat
from hub.migrate import migrate
from hub.scanner import ScannerSession
from hub.settings import Settings
from hub.store import formats as formats_store
from hub.writer import BatchWriter

logger = logging.getLogger("tracetrack")

WEB_DIR = Path(__file__).resolve().parent.parent / "web"


@dataclass
class Hub:
    """What a running hub process holds, opened by the lifespan and closed in reverse order."""

    settings: Settings
    pool: asyncpg.Pool
    broker: Broker
    formats: tuple[ParentFormat, ...]
    session_secret: bytes
    cache: BagCache
    writer: BatchWriter = field(init=False)
    scanners: dict[str, ScannerSession] = field(default_factory=dict)

    async def drain(self) -> None:
        """Shutdown: every scanner session acks what it accepted, then closes with 1012."""
        await asyncio.gather(*(session.close(Close.SERVICE_RESTART, "hub restarting")
                               for session in list(self.scanners.values())))

    async def on_commit(self, committed: Committed) -> None:
        """A batch is durable: refresh this process's cache."""
        self.cache.update(committed.bags)


@contextlib.asynccontextmanager
async def open_hub(settings: Settings) -> AsyncIterator[Hub]:
    """Open the pool, migrate, load configuration, start broker and writer; close all in reverse."""
    if settings.database_url is None:
        raise RuntimeError("DATABASE_URL is not set; `tracetrack serve` starts an embedded PostgreSQL")
    pool = await create_pool(settings.database_url, settings.db_pool_size)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        await auth.ensure_first_admin(pool, settings)
        broker = create_broker(settings.redis_url, settings.redis_prefix)
        hub = Hub(settings=settings, pool=pool, broker=broker, formats=await formats_store.load(pool),
                  session_secret=auth.secret_bytes(settings), cache=BagCache(settings.bag_cache_size))
        hub.writer = BatchWriter(pool, hub.formats, max_ops=settings.batch_max_ops,
                                 max_delay=settings.batch_max_delay_ms / 1000, on_commit=hub.on_commit)
        await broker.start(_ignore_publication)
        hub.writer.start()
        try:
            yield hub
        finally:
            await hub.writer.close(settings.shutdown_timeout)
            await broker.close()
    finally:
        await pool.close()


async def _ignore_publication(channel: str, payload: bytes) -> None:
    return None


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app. Without `settings`, they are read from the environment."""
    settings = settings if settings is not None else Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_hub(settings) as hub:
            app.state.hub = hub
            yield

    routes: list[BaseRoute] = [
        Route("/health", health.health),
        Route("/ready", health.ready),
        *auth.routes,
        WebSocketRoute("/ws/scan", websockets.scan_endpoint),
        Mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
