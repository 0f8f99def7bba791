"""The Redis limiter: counters shared by every hub process, each step one atomic Lua script.

When Redis does not answer (within about a second), the hub keeps limiting with an in-process
counter rather than letting every request through or refusing them all. It logs that once per
outage, leaves Redis alone for RETRY_INTERVAL (so no request waits on a Redis that is away), then
tries it again.
"""

from __future__ import annotations

import logging
import time

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from hub.ratelimit.memory import MemoryLimiter

logger = logging.getLogger(__name__)

TIMEOUT = 1.0
"""Seconds to connect to Redis or for it to answer one command."""
RETRY_INTERVAL = 2.0
"""Seconds the in-process counters are used alone after Redis failed to answer."""
CONNECTIONS = 32
"""Commands in flight at once; more wait (up to TIMEOUT) for a connection."""

_HIT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {hits, ttl}
"""
_UNDO = """
local hits = tonumber(redis.call('GET', KEYS[1]) or '0')
if hits > 0 then redis.call('DECR', KEYS[1]) end
return 0
"""
_GLOB_SPECIAL = frozenset("\\*?[]")


class RedisLimiter:
    """Counters as Redis keys `f"{prefix}{key}"` that expire with their window."""

    def __init__(self, url: str, prefix: str) -> None:
        self._prefix = prefix
        pool = BlockingConnectionPool.from_url(url, max_connections=CONNECTIONS, timeout=TIMEOUT,
                                               socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT)
        self._redis = Redis(connection_pool=pool, retry=Retry(NoBackoff(), 0))
        self._hit = self._redis.register_script(_HIT)
        self._undo = self._redis.register_script(_UNDO)
        self._fallback = MemoryLimiter()
        self._failing = False
        self._retry_at = 0.0

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        if self._away():
            return await self._fallback.hit(key, limit, window)
        try:
            hits, ttl_ms = await self._hit(keys=[self._prefix + key], args=[max(1, int(window * 1000))])
        except (RedisError, OSError) as exc:
            self._lost(exc)
            return await self._fallback.hit(key, limit, window)
        self._back()
        return None if int(hits) <= limit else int(ttl_ms) / 1000

    async def undo(self, key: str) -> None:
        if self._away():
            await self._fallback.undo(key)
            return
        try:
            await self._undo(keys=[self._prefix + key])
        except (RedisError, OSError) as exc:
            self._lost(exc)
            await self._fallback.undo(key)

    async def count(self, key: str) -> int:
        if self._away():
            return await self._fallback.count(key)
        try:
            raw = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._lost(exc)
            return await self._fallback.count(key)
        return int(raw or 0)

    async def reset(self, key: str) -> None:
        await self._fallback.reset(key)
        try:
            await self._redis.delete(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._lost(exc)

    async def reset_prefix(self, prefix: str) -> None:
        await self._fallback.reset_prefix(prefix)
        pattern = "".join(f"\\{c}" if c in _GLOB_SPECIAL else c for c in self._prefix + prefix) + "*"
        try:
            keys = [key async for key in self._redis.scan_iter(match=pattern, count=1000)]
            if keys:
                await self._redis.delete(*keys)
        except (RedisError, OSError) as exc:
            self._lost(exc)

    async def close(self) -> None:
        await self._redis.aclose(close_connection_pool=True)

    def _away(self) -> bool:
        return self._failing and time.monotonic() < self._retry_at

    def _lost(self, exc: BaseException) -> None:
        self._retry_at = time.monotonic() + RETRY_INTERVAL
        if not self._failing:
            self._failing = True
            logger.warning("Redis does not answer the rate limiter (%s: %s); limits are per process until "
                           "it does", type(exc).__name__, exc)

    def _back(self) -> None:
        if self._failing:
            self._failing = False
            logger.info("Redis answers the rate limiter again")
