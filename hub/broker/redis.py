"""The Redis broker: fan-out between hub processes over Redis pub/sub.

One pattern subscription (`<prefix>:*`) on one dedicated connection, read by one listener task that
hands every publication to the hub's handler, this process's own included. Publications go out over
a separate, small connection pool, so a publish never waits behind the subscriber.

The listener owns the subscription's life. When Redis is lost (the connection breaks, Redis stops
answering PING, or a publish fails) it reports False once, reconnects by itself with backoff
(0.1 s doubling to 2 s), resubscribes, and reports True once. While Redis is away nothing is
buffered: `publish()` raises `BrokerUnavailable` at once and the hub decides what to do.

Every network step has a time limit (about 1 s), so no call hangs on a Redis that has stopped
answering. A publish that timed out is reported as failed although Redis may still have delivered
it; subscribers must tolerate a publication they were not sure to get.

URLs: whatever redis-py's `from_url` accepts (`redis://`, `rediss://` for TLS, with options such as
`?ssl_ca_certs=/path/ca.pem`, and `unix://`), plus a Sentinel-managed master:

    redis+sentinel://[[username]:password@]host[:port][,host[:port]...]/service_name[/db]

where the credentials are the master's (the sentinels are reached without credentials or TLS) and
the port defaults to 26379. Redis Cluster is not supported as such (a plain URL to one node works,
as cluster PUBLISH reaches every node, but nothing follows that node's failover).
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.broker.base import AvailabilityHandler, BrokerUnavailable, Handler

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 1.0
"""Seconds to open a connection to Redis."""
COMMAND_TIMEOUT = 1.0
"""Seconds for Redis to answer one command (publish, ping, subscribe)."""
PUBLISH_TIMEOUT = 1.5
"""Overall bound on one publish, whatever the connection does."""
SUBSCRIBE_TIMEOUT = 2.0
"""Seconds to connect and have the subscription confirmed."""
PING_INTERVAL = 1.0
"""An idle subscriber PINGs Redis this often..."""
SILENCE_LIMIT = 3.0
"""...and counts Redis as lost after hearing nothing for this long."""
POLL_INTERVAL = 0.2
"""Longest the listener waits for a message before looking at its clock and flags."""
RECONNECT_MIN = 0.1
RECONNECT_MAX = 2.0
"""Backoff between reconnection attempts: RECONNECT_MIN doubling up to RECONNECT_MAX."""
CLOSE_TIMEOUT = 2.0
PUBLISH_CONNECTIONS = 16
"""At most this many publishes in flight; one more fails at once instead of queueing."""
SENTINEL_PORT = 26379

_SENTINEL_SCHEME = "redis+sentinel"
_GLOB_SPECIAL = frozenset("\\*?[]")


class _Lost(Exception):
    """The subscription is no longer trusted and must be made again."""


class RedisBroker:
    """Publications through Redis pub/sub, channels namespaced as `f"{prefix}:{channel}"`.

    The hub is told only of changes: it may assume Redis available until `on_availability(False)`.
    Prefixes must not nest: the subscription to `a:*` would also see the publications of prefix `a:b`.
    """

    def __init__(self, url: str, prefix: str) -> None:
        self._prefix = f"{prefix}:".encode()
        self._pattern = "".join(f"\\{c}" if c in _GLOB_SPECIAL else c for c in prefix) + ":*"
        self._sentinel: Sentinel | None = None
        self._subscriber = self._client(url)
        self._publisher = self._client(url, max_connections=PUBLISH_CONNECTIONS)
        self._handler: Handler | None = None
        self._on_availability: AvailabilityHandler | None = None
        self._available = True
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        self._lost = asyncio.Event()

    async def start(self, handler: Handler, on_availability: AvailabilityHandler) -> None:
        """Subscribe, then return; with Redis down, report False and go on trying in the background.

        Waits for the first attempt only (a few seconds at most). A second call replaces the handlers;
        a call after `close()` raises BrokerUnavailable.
        """
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        self._handler = handler
        self._on_availability = on_availability
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"redis-broker {self._pattern}")
            with suppress(TimeoutError):  # the attempt is bounded already; this is a backstop
                await asyncio.wait_for(self._attempted.wait(), SUBSCRIBE_TIMEOUT + COMMAND_TIMEOUT)

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send `payload` on `channel`; raise BrokerUnavailable (within ~1.5 s) if Redis can't take it."""
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        if not self._available:
            raise BrokerUnavailable("Redis is unavailable; reconnecting")
        try:
            await asyncio.wait_for(self._publisher.publish(self._prefix + channel.encode(), payload),
                                   PUBLISH_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            self._lost.set()
            raise BrokerUnavailable(f"Redis did not take the publication: {_describe(exc)}") from exc

    async def ping(self) -> None:
        """Raise BrokerUnavailable unless Redis answers a PING within about a second."""
        if self._closed:
            raise BrokerUnavailable("the broker is closed")
        try:
            await asyncio.wait_for(self._publisher.ping(), PUBLISH_TIMEOUT)
        except (RedisError, OSError, TimeoutError) as exc:
            raise BrokerUnavailable(f"Redis does not answer: {_describe(exc)}") from exc

    async def close(self) -> None:
        """Stop the listener and close every connection. Idempotent; bounded in time."""
        if self._closed:
            return
        self._closed = True
        task, self._task = self._task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait([task], timeout=CLOSE_TIMEOUT)
        closers = [self._subscriber.aclose(), self._publisher.aclose()]
        if self._sentinel is not None:
            closers.append(self._sentinel.aclose())
        for closer in closers:
            with suppress(Exception):
                await asyncio.wait_for(closer, CLOSE_TIMEOUT)

    # The listener.

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        delay = RECONNECT_MIN
        while not self._closed:
            self._lost.clear()
            pubsub = self._subscriber.pubsub()
            connected_at: float | None = None
            reason = ""
            try:
                await asyncio.wait_for(self._subscribe(pubsub), SUBSCRIBE_TIMEOUT)
                connected_at = loop.time()
                await self._set_available(True)
                self._attempted.set()
                await self._listen(pubsub)
            except Exception as exc:  # noqa: BLE001 - anything at all: the listener must outlive it
                reason = _describe(exc)
                if connected_at is None:
                    logger.debug("Redis broker: connection attempt failed: %s", reason)
            finally:
                with suppress(Exception):
                    await asyncio.wait_for(pubsub.aclose(), CLOSE_TIMEOUT)  # type: ignore[no-untyped-call]
            if self._closed:
                return
            await self._set_available(False, reason)
            self._attempted.set()
            if connected_at is not None and loop.time() - connected_at >= RECONNECT_MAX:
                delay = RECONNECT_MIN
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX)

    async def _subscribe(self, pubsub: PubSub) -> None:
        """Subscribe and wait for Redis to confirm, so that nothing published after this is missed."""
        await pubsub.psubscribe(self._pattern)
        while True:
            message = await pubsub.get_message(timeout=COMMAND_TIMEOUT)
            if message is not None and message["type"] == "psubscribe":
                return

    async def _listen(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection breaks, Redis falls silent, a publish failed or we close."""
        loop = asyncio.get_running_loop()
        heard = pinged = loop.time()
        while not self._lost.is_set() and not self._closed:
            message = await pubsub.get_message(timeout=POLL_INTERVAL)
            now = loop.time()
            if message is not None:
                if message["type"] == "pmessage":
                    await self._deliver(message["channel"], message["data"])
                heard = loop.time()  # a slow handler is not a silent Redis
            elif now - heard > SILENCE_LIMIT:
                raise _Lost(f"no answer from Redis for {SILENCE_LIMIT:g} s")
            elif now - pinged >= PING_INTERVAL and now - heard >= PING_INTERVAL:
                await pubsub.ping()
                pinged = now
        if not self._closed:
            raise _Lost("a publication failed")

    async def _deliver(self, raw_channel: bytes, payload: bytes) -> None:
        if self._handler is None or not raw_channel.startswith(self._prefix):
            return
        try:
            channel = raw_channel[len(self._prefix):].decode()
        except UnicodeDecodeError:
            logger.warning("Redis broker: ignored a publication on a channel not in UTF-8: %r", raw_channel)
            return
        try:
            await self._handler(channel, payload)
        except Exception:
            logger.exception("Redis broker: the handler failed on a publication on %r", channel)

    async def _set_available(self, available: bool, reason: str = "") -> None:
        """Tell the hub of a change (and only of a change); only the listener task calls this."""
        if available == self._available:
            return
        self._available = available
        if available:
            # Connections pooled before the outage are dead; the first publish must not find one.
            with suppress(RedisError, OSError):
                await self._publisher.connection_pool.disconnect()
            logger.info("Redis broker: connected and subscribed to %s", self._pattern)
        else:
            logger.warning("Redis broker: Redis unavailable (%s); reconnecting", reason)
        if self._on_availability is not None:
            try:
                await self._on_availability(available)
            except Exception:
                logger.exception("Redis broker: the availability handler failed")

    # Connections.

    def _client(self, url: str, max_connections: int | None = None) -> Redis:
        options: dict[str, Any] = {
            "socket_timeout": COMMAND_TIMEOUT,
            "socket_connect_timeout": CONNECT_TIMEOUT,
            "socket_keepalive": True,
            "retry": Retry(NoBackoff(), 0),
            "health_check_interval": 0,
        }
        if max_connections is not None:
            options["max_connections"] = max_connections
        if not url.startswith(f"{_SENTINEL_SCHEME}://"):
            return Redis.from_url(url, **options)
        sentinels, service, master_options = _parse_sentinel_url(url)
        if self._sentinel is None:
            self._sentinel = Sentinel(sentinels, sentinel_kwargs={  # type: ignore[no-untyped-call]
                "socket_timeout": COMMAND_TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT,
                "retry": Retry(NoBackoff(), 0)})
        master: Redis = self._sentinel.master_for(service, **options, **master_options)
        return master


def _parse_sentinel_url(url: str) -> tuple[list[tuple[str, int]], str, dict[str, Any]]:
    """`redis+sentinel://[[user]:pass@]host[:port][,...]/service[/db]` -> sentinels, service, options."""
    # Split by hand: urllib's checks of a bracketed host differ between Python patch releases, and a
    # comma-separated host list is not a URL netloc to it anyway.
    _, _, rest = url.partition("://")
    netloc, _, path_text = rest.partition("/")
    credentials, _, hosts = netloc.rpartition("@")
    sentinels: list[tuple[str, int]] = []
    for entry in hosts.split(","):
        entry = entry.strip()
        if entry.startswith("["):  # [IPv6]:port
            name, _, rest = entry[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            name, _, port = entry.partition(":")
        if not name:
            raise ValueError(f"a Sentinel URL needs host[:port] entries: {url!r}")
        sentinels.append((name, int(port) if port else SENTINEL_PORT))
    path = [segment for segment in path_text.partition("?")[0].split("/") if segment]
    if not 1 <= len(path) <= 2:
        raise ValueError(f"a Sentinel URL names the service and optionally the db: {url!r}")
    options: dict[str, Any] = {}
    if len(path) == 2:
        options["db"] = int(path[1])
    if credentials:
        username, colon, password = credentials.partition(":")
        if username:
            options["username"] = unquote(username)
        if colon:
            options["password"] = unquote(password)
    return sentinels, unquote(path[0]), options


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
