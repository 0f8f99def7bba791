"""Rate limits: one small interface, an in-process and a Redis backend (shared by hub processes)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from hub.ratelimit.base import Limiter
from hub.ratelimit.memory import MemoryLimiter

__all__ = ["Limiter", "MemoryLimiter", "client_address", "create_limiter"]

logger = logging.getLogger(__name__)


def create_limiter(redis_url: str | None, prefix: str) -> Limiter:
    """Limits in Redis when a URL is configured (every hub process counts together), else in-process."""
    if not redis_url:
        return MemoryLimiter()
    if urlsplit(redis_url).scheme == "redis+sentinel":
        logger.warning("rate limits are kept per hub process: they do not follow a Sentinel-managed Redis")
        return MemoryLimiter()
    from hub.ratelimit.redis import RedisLimiter

    return RedisLimiter(redis_url, f"{prefix}:limit:")


def client_address(scope: Mapping[str, Any]) -> str:
    """The address limits are counted by: the peer's, or the one a trusted proxy forwarded.

    uvicorn replaces the peer by X-Forwarded-For only for proxies in FORWARDED_ALLOW_IPS.
    """
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
