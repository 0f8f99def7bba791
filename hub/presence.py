"""Which scanners are online, across every hub process.

Each hub announces its own scanners whole every two seconds (the heartbeat), and in between, soon
after a join, leave or parent change, only what changed: whole, 9,400 scanners online on one hub
made each announcement some 700 KB to encode, ten times a second. A change names each changed
scanner's whole entry, so one dropped on the way (a broker outage, a full queue) leaves only its
own scanners wrong, until the next heartbeat. A hub that has not been heard from for six seconds
(it died, or lost Redis) drops off.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hub.livestate import Scope
from hub.tasks import cancel

HEARTBEAT = 2.0
EXPIRY = 6.0
FLUSH_DELAY = 0.1


@dataclass
class _Heard:
    """Another hub's scanners as last heard, by device."""

    expires: float
    scanners: dict[str, dict[str, Any]]


class Presence:
    def __init__(self, origin: str, publish: Callable[[dict[str, Any]], None],
                 on_change: Callable[[], None]) -> None:
        """`publish` queues an announcement for the other hubs, in order, without waiting."""
        self.origin = origin
        self._publish = publish
        self._on_change = on_change
        self._local: dict[str, dict[str, Any]] = {}
        self._changed_devices: set[str] = set()
        self._remote: dict[str, _Heard] = {}
        self._task: asyncio.Task[None] | None = None
        self._flush: asyncio.TimerHandle | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._heartbeat(), name="presence-heartbeat")

    async def close(self) -> None:
        await cancel(self._task)
        if self._flush is not None:
            self._flush.cancel()
        self._local.clear()
        self._announce_all()

    def join(self, device: str, user: str, area: str | None) -> None:
        self._local[device] = {"device": device, "user": user, "area": area or "", "parent": None,
                               "since": int(time.time() * 1000)}
        self._changed(device)

    def set_parent(self, device: str, parent: str | None) -> None:
        entry = self._local.get(device)
        if entry is not None and entry["parent"] != parent:
            entry["parent"] = parent
            self._changed(device)

    def leave(self, device: str) -> None:
        if self._local.pop(device, None) is not None:
            self._changed(device)

    def on_message(self, message: dict[str, Any]) -> None:
        """Another hub's announcement (this hub's own are ignored): its whole list (`scanners`), or
        what changed in it (`changed` entries, `gone` devices) since the announcement before."""
        origin = message["origin"]
        if origin == self.origin:
            return
        now = time.monotonic()
        heard = self._remote.get(origin)
        if heard is not None and heard.expires <= now:
            heard = None
        if "scanners" in message:
            scanners = {entry["device"]: entry for entry in message["scanners"]}
            self._remote[origin] = _Heard(now + EXPIRY, scanners)
            # A heartbeat that repeats what is shown changes nothing for the dashboards.
            if heard is None or heard.scanners != scanners:
                self._on_change()
            return
        # A change from a hub not heard from yet starts its list; its heartbeat completes it.
        heard = self._remote[origin] = _Heard(now + EXPIRY, heard.scanners if heard else {})
        heard.scanners.update((entry["device"], entry) for entry in message["changed"])
        for device in message["gone"]:
            heard.scanners.pop(device, None)
        self._on_change()

    def online(self, scope: Scope) -> list[dict[str, Any]]:
        now = time.monotonic()
        everyone = list(self._local.values())
        for heard in self._remote.values():
            if heard.expires > now:
                everyone += heard.scanners.values()
        return [s for s in everyone if scope.kind != "bill" and scope.sees_area(s["area"])]

    def _changed(self, device: str) -> None:
        """Tell dashboards and other hubs soon; changes within FLUSH_DELAY go out together."""
        self._changed_devices.add(device)
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(FLUSH_DELAY, self._send_changes)

    def _send_changes(self) -> None:
        self._flush = None
        self._on_change()
        devices, self._changed_devices = self._changed_devices, set()
        self._publish({"origin": self.origin,
                       "changed": [self._local[device] for device in devices if device in self._local],
                       "gone": [device for device in devices if device not in self._local]})

    def _announce_all(self) -> None:
        self._publish({"origin": self.origin, "scanners": list(self._local.values())})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT)
            self._announce_all()
            now = time.monotonic()
            expired = [origin for origin, heard in self._remote.items() if heard.expires <= now]
            for origin in expired:
                del self._remote[origin]
            if expired:
                self._on_change()
