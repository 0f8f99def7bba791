"""Simulated dashboards, clients of docs/protocol.md sections 11-14 written from it alone.

Each follows its login's default scope (a dispatcher's own area), applies the snapshot and then the
deltas in seq order (asking for a resync on a gap), and times every scan of this run from the
moment its ack reached the scanner to the moment a delta showing it reached the dashboard. Both
instants are taken on the machine's monotonic clock (the dashboards run in processes of their own:
loadtest/fleet.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from array import array
from collections.abc import Callable
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from loadtest.scanner import BACKOFF_FIRST, BACKOFF_MAX, RECONNECT_CLOSES, Target, open_socket

Key = tuple[str, int]
MAX_SNAPSHOT = 64 << 20
"""A snapshot lists every scanner of the day and 200 parents and bills: it may be large."""


class AckToDelta:
    """Lags from a scan's ack to each dashboard delta that shows it, in seconds.

    A delta may overtake its ack (they travel on different sockets); its lag is then negative.
    """

    def __init__(self, device_prefix: str) -> None:
        self.device_prefix = device_prefix
        self.lags: array[float] = array("d")
        self._acked: dict[Key, float] = {}
        self._early: dict[Key, list[float]] = {}

    def acked(self, key: Key, at: float) -> None:
        """The scan `key` was acked at `at` (not RETRY)."""
        self._acked[key] = at
        for seen in self._early.pop(key, ()):
            self.lags.append(seen - at)

    def on_event(self, key: Key, seen: float) -> None:
        acked = self._acked.get(key)
        if acked is None:
            self._early.setdefault(key, []).append(seen)
        else:
            self.lags.append(seen - acked)


class Dashboard:
    def __init__(self, target: Target, lags: AckToDelta, on_error: Callable[[str], None]) -> None:
        self.target = target
        self.scope = ""
        self.day = ""
        self.seq = 0
        self.counters: dict[str, int] = {}
        self.snapshots = 0
        self.resyncs = 0
        self._lags = lags
        self._on_error = on_error
        self._ws: ClientConnection | None = None
        self._resyncing = False
        self._stopping = False
        self._advanced = asyncio.Event()

    async def connect(self) -> bool:
        """Open the websocket; False (and the error reported) when that failed."""
        self._ws = await open_socket(self.target.ws_url("/ws/dashboard"),
                                     {"Cookie": f"tt_session={self.target.token}"}, MAX_SNAPSHOT,
                                     self._on_error, "DASHBOARD_")
        return self._ws is not None

    async def run(self) -> None:
        """Follow the hub until stopped, reconnecting with backoff when the close code says so."""
        while self._ws is not None:
            code = await self._follow(self._ws)
            self._ws = None
            if self._stopping:
                return
            self._on_error(f"DASHBOARD_CLOSED_{code}")
            if code in RECONNECT_CLOSES:
                await self._reconnect()

    async def stop(self) -> None:
        """Close the connection and stay closed."""
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()

    async def _reconnect(self) -> None:
        delay = BACKOFF_FIRST
        while not self._stopping:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            if await self.connect():
                if self._stopping and self._ws is not None:
                    await self._ws.close()
                return
            delay = min(delay * 2, BACKOFF_MAX)

    async def _follow(self, ws: ClientConnection) -> int:
        """Apply messages until the connection closes; its close code."""
        self._resyncing = True  # a fresh connection starts with a snapshot
        try:
            async for frame in ws:
                await self._handle(ws, msgpack.unpackb(frame), time.monotonic())
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd is not None else 1006
        return ws.close_code or 1006

    async def _handle(self, ws: ClientConnection, message: dict[str, Any], now: float) -> None:
        kind = message.get("t")
        if kind == "snapshot":
            self.snapshots += 1
            self._resyncing = False
            self.seq = message["seq"]
            self.scope = message.get("scope", "")
            self.day = message.get("day", self.day)
            self.counters = message.get("counters", {})
        elif kind == "delta" and not self._resyncing and message["seq"] > self.seq:
            if message["from"] != self.seq + 1:
                self.resyncs += 1
                self._resyncing = True
                await ws.send(msgpack.packb({"t": "resync"}))
                return
            self.seq = message["seq"]
            self.counters = message.get("counters", self.counters)
            for event in message.get("events", ()):
                if event["device"].startswith(self._lags.device_prefix):
                    self._lags.on_event((event["device"], event["seq"]), now)
        elif kind == "error":
            self._on_error(f"DASHBOARD_ERROR_FRAME_{message.get('code')}")
            return
        else:
            return
        self._advanced.set()

    async def reach(self, seq: int, timeout: float) -> bool:
        """Wait until this dashboard has applied commit `seq`; False if it did not within `timeout`."""
        with contextlib.suppress(asyncio.TimeoutError):
            async with asyncio.timeout(timeout):
                while self.seq < seq:
                    self._advanced.clear()
                    await self._advanced.wait()
        return self.seq >= seq
