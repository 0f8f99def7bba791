"""The machine a suite ran on, as docs/benchmarks.md states it: a figure means little without it."""

from __future__ import annotations

import asyncio
import os
import platform
from pathlib import Path
from typing import Any

import asyncpg
import redis

UNKNOWN = "unknown"
LABELS = (("cpu", "CPU"), ("cores", "cores"), ("ram_gib", "RAM (GiB)"), ("kernel", "kernel"),
          ("python", "Python"), ("postgresql", "PostgreSQL"), ("redis", "Redis"))
"""The facts of `describe`, in the order and with the names the reports show them."""


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "model name":
            return value.strip()
    return platform.processor() or UNKNOWN


def _ram_gib() -> float | None:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / (1 << 20), 1)
    return None


async def _postgres_version(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url, timeout=10)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def _redis_version(redis_url: str) -> str:
    client = redis.Redis.from_url(redis_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        return str(client.info("server")["redis_version"])
    finally:
        client.close()


def describe(admin_url: str, redis_url: str) -> dict[str, Any]:
    """CPU model, cores, RAM, kernel, Python, and the PostgreSQL and Redis servers' versions."""
    try:
        postgres = asyncio.run(_postgres_version(admin_url))
    except (OSError, asyncpg.PostgresError) as exc:
        postgres = f"{UNKNOWN} ({exc})"
    try:
        redis_version = _redis_version(redis_url)
    except (redis.RedisError, OSError) as exc:
        redis_version = f"{UNKNOWN} ({exc})"
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "ram_gib": _ram_gib(), "kernel": platform.release(),
            "python": platform.python_version(), "postgresql": postgres, "redis": redis_version}
