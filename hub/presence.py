"""Which scanners are online, across every hub process.

Each hub announces its own scanners on every join, leave or parent change, and again every two
seconds; a hub that has not been heard from for six seconds (it died, or lost Redis) drops off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hub.livestate import Scope
from hub.tasks import cancel

HEARTBEAT = 2.0
EXPIRY = 6.0
FLUSH_DELAY = 0.1


class Presence:
    def __init__(self, origin: str, publish: Callable[[dict[str, Any]], Awaitable[None]],
                 on_change: Callable[[], None]) -> None:
        self.origin = origin
        self._publish = publish
        self._on_change = on_change
        self._local: dict[str, dict[str, Any]] = {}
        self._remote: dict[str, tuple[float, list[dict[str, Any]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._flush: asyncio.TimerHandle | None = None
        self._announcing: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._heartbeat(), name="presence-heartbeat")

    async def close(self) -> None:
        await cancel(self._task)
        if self._flush is not None:
            self._flush.cancel()
        self._local.clear()
        await self._announce()

    def join(self, device: str, user: str, area: str | None) -> None:
        self._local[device] = {"device": device, "user": user, "area": area or "", "parent": None,
                               "since": int(time.time() * 1000)}
        self._changed()

    def set_parent(self, device: str, parent: str | None) -> None:
        entry = self._local.get(device)
        if entry is not None and entry["parent"] != parent:
            entry["parent"] = parent
            self._changed()

    def leave(self, device: str) -> None:
        if self._local.pop(device, None) is not None:
            self._changed()

    def on_message(self, message: dict[str, Any]) -> None:
        """Another hub's announcement (this hub's own are ignored)."""
        if message["origin"] == self.origin:
            return
        now = time.monotonic()
        previous = self._remote.get(message["origin"])
        self._remote[message["origin"]] = (now + EXPIRY, message["scanners"])
        # A heartbeat that repeats what is shown changes nothing for the dashboards.
        if previous is None or previous[0] <= now or previous[1] != message["scanners"]:
            self._on_change()

    def online(self, scope: Scope) -> list[dict[str, Any]]:
        now = time.monotonic()
        everyone = list(self._local.values())
        for expires, scanners in self._remote.values():
            if expires > now:
                everyone += scanners
        return [s for s in everyone if scope.kind != "bill" and scope.sees_area(s["area"])]

    def _changed(self) -> None:
        """Tell dashboards and other hubs soon; changes within FLUSH_DELAY go out together."""
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._send_changes)

    def _send_changes(self) -> None:
        self._flush = None
        self._on_change()
        self._announcing = asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        try:
            await self._publish({"origin": self.origin, "scanners": list(self._local.values())})
        except Exception:  # noqa: BLE001 - the broker logs its own outages; presence retries on heartbeat
            pass

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            await self._announce()
            now = time.monotonic()
            expired = [origin for origin, (expires, _) in self._remote.items() if expires <= now]
            for origin in expired:
                del self._remote[origin]
            if expired:
                self._on_change()
