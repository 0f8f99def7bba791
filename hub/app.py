"""The application factory and the lifespan that owns every resource."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from hub import accounts, auth, metrics, websockets
from hub.api import (
    areas,
    audit,
    bags,
    billedit,
    bills,
    corrections,
    devices,
    errors,
    exports,
    health,
    imports,
    login,
    openapi,
    returns,
    scans,
    users,
    walltokens,
)
from hub.api import metrics as metrics_api
from hub.api.apilimit import ApiRateLimit
from hub.api.security import BodyLimit, SameOrigin, SecurityHeaders
from hub.batch import Committed
from hub.broker import Broker, create_broker
from hub.cache import BagCache
from hub.codes import Close
from hub.collection import collection_policy
from hub.connections import REVOCATIONS, Connections
from hub.database import create_pool
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import Actor
from hub.fanout import Fanout
from hub.loginguard import LoginGuard, LoginLimits
from hub.lookups import SharedLookups
from hub.migrate import migrate
from hub.partitions import PartitionKeeper
from hub.presence import Presence
from hub.publication import (
    BATCHES,
    DEVICE_NAMES,
    PRESENCE,
    Publisher,
    batch_message,
    forgotten,
    parents_as_bags,
    read_frame,
)
from hub.ratelimit import Limiter, create_limiter
from hub.readreplica import Reads
from hub.rechecks import Rechecks, batch_window
from hub.resources import WEB_DIR
from hub.scanner import ScannerSession
from hub.settings import Settings
from hub.store import devices as devices_store
from hub.store import formats as formats_store
from hub.store import live as live_store
from hub.tokenbucket import OperationLimit
from hub.writer import BatchWriter, create_writer_pool

logger = logging.getLogger("tracetrack")


@dataclass
class Hub:
    """What a running hub process holds, opened by the lifespan and closed in reverse order."""

    settings: Settings
    pool: asyncpg.Pool
    writer_pool: asyncpg.Pool
    reads: Reads
    broker: Broker
    formats: tuple[ParentFormat, ...]
    session_secret: bytes
    cache: BagCache
    limiter: Limiter
    origin: str = field(default_factory=lambda: uuid.uuid4().hex)
    scanners: dict[str, ScannerSession] = field(default_factory=dict)
    jobs: set[asyncio.Task[Any]] = field(default_factory=set)
    draining: bool = False
    """Set as a graceful shutdown begins: /ready answers 503 so load balancers route elsewhere."""
    writer: BatchWriter = field(init=False)
    publisher: Publisher = field(init=False)
    fanout: Fanout = field(init=False)
    presence: Presence = field(init=False)
    connections: Connections = field(init=False)
    operation_limit: OperationLimit = field(init=False)
    login_guard: LoginGuard = field(init=False)
    rechecks: Rechecks = field(init=False)
    session_lookups: SharedLookups[bytes, Actor] = field(init=False)
    device_lookups: SharedLookups[str, asyncpg.Record] = field(init=False)

    def __post_init__(self) -> None:
        settings = self.settings
        self.login_guard = LoginGuard(self.limiter, LoginLimits.from_settings(settings))
        self.writer = BatchWriter(self.writer_pool, self.formats, max_ops=settings.batch_max_ops,
                                  max_delay=settings.batch_max_delay_ms / 1000, on_commit=self.on_commit,
                                  lanes=settings.writer_lanes)
        self.publisher = Publisher(self.broker)
        tz = settings.zone
        self.fanout = Fanout(lambda: self.reads.caught_up(live_store.load_state, tz, datetime.now(UTC)),
                             lambda scope: self.presence.online(scope),
                             lambda: live_store.committed_seq(self.pool),
                             frames_per_second=settings.dashboard_frames_per_second)
        self.presence = Presence(self.origin, self._announce_presence, self.fanout.presence_changed)
        self.connections = Connections(self.origin, settings.max_connections, settings.max_connections_per_user,
                                       lambda message: self.publisher.publish(REVOCATIONS, message))
        self.rechecks = Rechecks(self.pool, settings.session_idle_minutes,
                                 batch_window(settings.session_recheck_seconds))
        self.session_lookups = SharedLookups(
            lambda hashes: accounts.resolve_sessions(self.pool, hashes, settings.session_idle_minutes))
        self.device_lookups = SharedLookups(lambda devices: devices_store.owners(self.pool, devices))
        self.operation_limit = OperationLimit(settings.device_ops_per_second, settings.device_ops_burst,
                                              settings.user_ops_per_second, settings.user_ops_burst)

    async def on_commit(self, committed: Committed) -> None:
        """A batch is durable: this process's cache and dashboards now, the other hubs via the broker."""
        self.cache.forget(committed.forget)
        self.cache.update(committed.bags)
        message = batch_message(committed, self.origin)
        self.fanout.on_batch(message)
        self.publisher.publish(BATCHES, message)

    async def on_publication(self, channel: str, payload: bytes) -> None:
        """Another hub's batch or presence (this hub's own come back too and are skipped)."""
        message = read_frame(payload, self.origin)
        if message is None:
            return
        if channel == BATCHES:
            metrics.observe_broker_lag(message["at"])
            self.cache.forget(forgotten(message))
            self.cache.update(parents_as_bags(message))
            self.fanout.on_batch(message)
        elif channel == PRESENCE:
            self.presence.on_message(message)
        elif channel == REVOCATIONS:
            self.connections.on_message(message)
        elif channel == DEVICE_NAMES:
            self.fanout.device_renamed(message["device"], message["name"])

    def device_renamed(self, device: str, name: str | None) -> None:
        """A device's new name (committed): this hub's dashboards now, the other hubs' via the broker."""
        self.fanout.device_renamed(device, name)
        self.publisher.publish(DEVICE_NAMES, {"origin": self.origin, "device": device, "name": name})

    async def on_broker_availability(self, available: bool) -> None:
        """Without the broker other hubs' scans are missing: dashboards are told they are stale."""
        await self.fanout.set_stale(not available)

    def spawn(self, job: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `job` (an import) to its end whether or not its requester stays; shutdown awaits it."""
        task = asyncio.create_task(job)
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)
        return task

    async def finish_jobs(self, timeout: float) -> None:
        """Shutdown: let running jobs finish (within `timeout`), then cancel what is left."""
        if not self.jobs:
            return
        _, pending = await asyncio.wait(set(self.jobs), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)

    def _announce_presence(self, message: dict[str, Any]) -> None:
        self.publisher.publish(PRESENCE, message)

    async def drain(self) -> None:
        """Shutdown: every scanner session acks what it accepted, then closes with 1012."""
        await asyncio.gather(*(session.close(Close.SERVICE_RESTART, "hub restarting")
                               for session in list(self.scanners.values())))


@contextlib.asynccontextmanager
async def open_hub(settings: Settings) -> AsyncIterator[Hub]:
    """Open the pool, migrate, make the scans partitions, load configuration, start broker, fan-out and
    writer; close in reverse."""
    if settings.database_url is None:
        raise RuntimeError("DATABASE_URL is not set; `tracetrack serve` starts an embedded PostgreSQL")
    pool = await create_pool(settings.database_url, settings.db_pool_size)
    writer_pool: asyncpg.Pool | None = None
    read_pool: asyncpg.Pool | None = None
    reads: Reads | None = None
    keeper = PartitionKeeper(pool)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        await keeper.start()
        await auth.ensure_first_admin(pool, settings)
        writer_pool = await create_writer_pool(settings.database_url, settings.writer_lanes)
        if settings.database_read_url is not None:
            read_pool = await create_pool(settings.database_read_url, settings.db_pool_size, lazy=True)
        reads = Reads(pool, read_pool, settings.database_read_max_lag)
        hub = Hub(settings=settings, pool=pool, writer_pool=writer_pool, reads=reads,
                  broker=create_broker(settings.redis_url, settings.redis_prefix),
                  formats=await formats_store.load(pool), session_secret=auth.secret_bytes(settings),
                  cache=BagCache(settings.bag_cache_size),
                  limiter=create_limiter(settings.redis_url, settings.redis_prefix))
        await reads.start()
        await hub.fanout.start()
        await hub.broker.start(hub.on_publication, hub.on_broker_availability)
        hub.publisher.start()
        hub.presence.start()
        hub.writer.start()
        try:
            async with collection_policy():
                yield hub
        finally:
            await hub.rechecks.close()
            await hub.session_lookups.close()
            await hub.device_lookups.close()
            await hub.finish_jobs(settings.shutdown_timeout)
            await hub.writer.close(settings.shutdown_timeout)
            await hub.presence.close()
            await hub.publisher.close(settings.shutdown_timeout)
            await hub.broker.close()
            await hub.fanout.close()
            await hub.limiter.close()
    finally:
        await keeper.close()
        if reads is not None:
            await reads.close()
        if read_pool is not None:
            await read_pool.close()
        if writer_pool is not None:
            await writer_pool.close()
        await pool.close()


class HubApp(Starlette):
    """Websockets go straight to the router: the middleware is HTTP's alone (each layer passes a
    websocket through untouched), and each layer it passes through is a coroutine frame kept for as
    long as the connection is open: about 4 KB of the hub's RSS for each of 10,000 websockets."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            scope["app"] = self
            await self.router(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app. Without `settings`, they are read from the environment."""
    settings = settings if settings is not None else Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with open_hub(settings) as hub:
            app.state.hub = hub
            yield

    routes: list[BaseRoute] = [
        *health.routes,
        *login.routes,
        *users.routes,
        *walltokens.routes,
        *areas.routes,
        *bags.routes,
        *bills.routes,
        *scans.routes,
        *audit.routes,
        *billedit.routes,
        *corrections.routes,
        *returns.routes,
        *devices.routes,
        *imports.routes,
        *exports.routes,
        *metrics_api.routes,
        *openapi.routes,
        WebSocketRoute("/ws/scan", websockets.scan_endpoint),
        WebSocketRoute("/ws/dashboard", websockets.dashboard_endpoint),
        Mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web"),
    ]
    middleware = [
        Middleware(SecurityHeaders, https=settings.https),
        Middleware(errors.LastResort),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes,
                   uploads={imports.UPLOAD_PATH: settings.import_max_bytes}),
        Middleware(SameOrigin, allowed=settings.allowed_origins, https=settings.https,
                   uploads={imports.UPLOAD_PATH: imports.UPLOAD_TYPES}),
        Middleware(ApiRateLimit, per_minute=settings.api_requests_per_minute),
    ]
    return HubApp(routes=routes, lifespan=lifespan, middleware=middleware,
                  exception_handlers=errors.exception_handlers)
