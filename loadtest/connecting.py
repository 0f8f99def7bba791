"""Opening many client connections without a thundering herd."""

from __future__ import annotations

import asyncio
from typing import Any

CONNECT_CONCURRENCY = 50


async def connect_all(clients: list[Any]) -> list[Any]:
    """Connect scanners or dashboards a bounded number at a time; those that connected."""
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one(client: Any) -> bool:
        async with limit:
            return bool(await client.connect())

    connected = await asyncio.gather(*(one(client) for client in clients))
    return [client for client, ok in zip(clients, connected) if ok]
