"""Fan-out to this process's dashboards: committed batches in commit order, encoded once per scope.

Every message is built once per scope and encoded once per (scope, encoding): N dashboards of one
scope cost one encode per delta, not N. Snapshots too are encoded once per (scope, encoding) and
state: after a resync every dashboard asks for one at the same moment.

A delta goes out at most every DELTA_INTERVAL: batches committed closer together than that (by this
hub and the others) share one delta, so a dashboard's frames, and the hub's work for them, do not
grow with the commit rate. They grow with the dashboards, and each frame is a write to a socket
(about 27 µs of the hub's CPU on a 2-core benchmark machine: 44 % of it with 400 dashboards at 40
deltas a second), so with more dashboards than `frames_per_second` × DELTA_INTERVAL the deltas
come less often, and the hub's frames per second stay within that budget. The online list goes out
at most every PRESENCE_INTERVAL (every scanner's parent is in it, and changes all the time), as
what changed in it since the last (or whole, when that is no longer): sent whole, 9,000 scanners
online made every presence frame about 180 KB per area, and 1,000 dashboards some 360 MB a second.
The first change after a quiet spell goes out at once.

Batches arrive from this process's writer and, through the broker, from every other hub. They are
applied to the `LiveState` strictly in seq order; a gap that does not fill within a second (a
publication lost while Redis was away) is repaired by reading a fresh snapshot from PostgreSQL.
A lost publication that no later batch reveals (the last one before a quiet spell, from a hub that
died right after its COMMIT) is found by reading the commit clock every few seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Protocol

from hub import protocol
from hub.livestate import Change, LiveState, Scope
from hub.tasks import cancel

logger = logging.getLogger("tracetrack.fanout")

GAP_TIMEOUT = 1.0
WATCH_INTERVAL = 0.2
CLOCK_INTERVAL = 3.0
RECENT_BATCHES = 2000
"""Batches kept that arrive while a state is read (see `resync`), at most."""
DELTA_INTERVAL = 0.025
FRAMES_PER_SECOND = 8000
"""Deltas per second the hub sends its dashboards together, at most (DASHBOARD_FRAMES_PER_SECOND)."""
PRESENCE_INTERVAL = 0.5


class Subscriber(Protocol):
    """A dashboard connection as the fan-out sees it."""

    scope: Scope
    binary: bool

    def enqueue(self, frame: bytes | str) -> None:
        """Queue a frame without blocking (the connection coalesces or closes when it backs up)."""

    def request_snapshot(self) -> None:
        """Replace whatever is queued with a fresh snapshot."""

    async def close(self, code: int, reason: str) -> None:
        """Close the connection, bounded in time."""


class Fanout:
    def __init__(self, load_state: Callable[[], Awaitable[LiveState]],
                 online: Callable[[Scope], list[dict[str, Any]]],
                 committed_seq: Callable[[], Awaitable[int]] | None = None,
                 frames_per_second: float = FRAMES_PER_SECOND) -> None:
        self._load_state = load_state
        self._online = online
        self._committed_seq = committed_seq
        self._frames_per_second = frames_per_second
        self.state: LiveState | None = None
        self.stale = False
        self.subscribers: set[Subscriber] = set()
        self._snapshots: dict[tuple[Scope, bool], bytes | str] = {}
        self._online_shown: dict[Scope, dict[str, dict[str, Any]]] = {}
        """Each scope's online list as its dashboards hold it: as last sent (or snapshotted), by device."""
        self._pending: dict[int, dict[str, Any]] = {}
        self._arrived: dict[int, dict[str, Any]] = {}  # while a state is read
        self._gap_since: float | None = None
        self._resyncing = False
        self._task: asyncio.Task[None] | None = None
        self._unsent: Change | None = None  # applied, not yet sent: the next delta
        self._deltas = Paced(self.delta_interval, self._send_unsent)
        self._presence = Paced(lambda: PRESENCE_INTERVAL, self._send_presence)

    async def start(self) -> None:
        self.state = await self._load_state()
        self._task = asyncio.create_task(self._watch_gaps(), name="fanout-gaps")

    async def close(self) -> None:
        self._drop_unsent()
        self._presence.cancel()
        await cancel(self._task)

    def delta_interval(self) -> float:
        """Seconds between deltas: DELTA_INTERVAL, or longer, so that one delta to every dashboard in
        that time keeps within `frames_per_second`."""
        return max(DELTA_INTERVAL, len(self.subscribers) / self._frames_per_second)

    def snapshot(self, scope: Scope) -> dict[str, Any]:
        """The state now. What was applied but not yet sent goes out first, so that every delta sent
        after this snapshot starts right after its seq."""
        assert self.state is not None
        self._deltas.now()
        return {**self.state.snapshot(scope), "online": list(self._shown(scope).values()), "stale": self.stale,
                "names": self.state.names}

    def snapshot_frame(self, scope: Scope, binary: bool) -> bytes | str:
        """`snapshot(scope)` encoded, shared by every dashboard of that scope and encoding until
        anything it shows changes (a batch, presence, a name, staleness, a reloaded state)."""
        key = (scope, binary)
        frame = self._snapshots.get(key)
        if frame is None:
            frame = self._snapshots[key] = protocol.encode(self.snapshot(scope), binary)
        return frame

    def device_renamed(self, device: str, name: str | None) -> None:
        """An admin named a device (None: took its name away), on any hub: every dashboard is told."""
        self._snapshots.clear()
        if self.state is not None:
            if name is None:
                self.state.names.pop(device, None)
            else:
                self.state.names[device] = name
        self._broadcast(lambda scope: {"t": "names", "names": {device: name}})

    def on_batch(self, batch: dict[str, Any]) -> None:
        """A committed batch from any hub; applied now if it is the next seq, else held for the gap."""
        if self._resyncing and len(self._arrived) < RECENT_BATCHES:
            self._arrived[batch["seq"]] = batch
        if self.state is None or batch["seq"] <= self.state.seq:
            return
        self._pending[batch["seq"]] = batch
        self._apply_ready()

    def _apply_ready(self) -> None:
        assert self.state is not None
        while (batch := self._pending.pop(self.state.seq + 1, None)) is not None:
            self._snapshots.clear()
            day = self.state.day
            change = self.state.apply(batch)
            if self.state.day != day:
                self._request_snapshots()  # a new day: yesterday's rows must go, not be patched
            elif self._unsent is None:
                self._unsent = change
                self._deltas.soon()
            else:
                self._unsent.absorb(change)
        self._gap_since = (self._gap_since or time.monotonic()) if self._pending else None

    def _send_unsent(self) -> None:
        """Send every scope its one delta for the batches applied since the last one."""
        change, self._unsent = self._unsent, None
        assert change is not None and self.state is not None
        state = self.state
        self._broadcast(lambda scope: state.delta(change, scope))

    def _drop_unsent(self) -> None:
        """What is unsent is not needed: a snapshot replaces it (or the fan-out closes)."""
        self._unsent = None
        self._deltas.cancel()

    def _broadcast(self, message_for: Callable[[Scope], dict[str, Any] | None]) -> None:
        """Build each scope's message once and encode it once per encoding; every subscriber of
        that (scope, encoding) gets those very bytes (none, when its scope's message is None)."""
        messages: dict[Scope, dict[str, Any] | None] = {}
        frames: dict[tuple[Scope, bool], bytes | str] = {}
        for subscriber in list(self.subscribers):
            key = (subscriber.scope, subscriber.binary)
            frame = frames.get(key)
            if frame is None:
                if subscriber.scope not in messages:
                    messages[subscriber.scope] = message_for(subscriber.scope)
                message = messages[subscriber.scope]
                if message is None:
                    continue
                frame = frames[key] = protocol.encode(message, subscriber.binary)
            subscriber.enqueue(frame)

    def presence_changed(self) -> None:
        self._snapshots.clear()
        self._presence.soon()

    def _shown(self, scope: Scope) -> dict[str, dict[str, Any]]:
        """The online list every dashboard of `scope` holds, which a newcomer's snapshot starts from:
        a change not yet sent reaches it with the others'."""
        shown = self._online_shown.get(scope)
        if shown is None:
            shown = self._online_shown[scope] = _by_device(self._online(scope))
        return shown

    def _send_presence(self) -> None:
        """Each scope's changes to its online list since the last presence (scopes no dashboard
        follows any more are forgotten)."""
        self._snapshots.clear()
        shown, self._online_shown = self._online_shown, {}

        def message_for(scope: Scope) -> dict[str, Any] | None:
            now = self._online_shown[scope] = _by_device(self._online(scope))
            return _presence(shown.get(scope), now)

        self._broadcast(message_for)

    async def set_stale(self, stale: bool) -> None:
        """The broker went away (stale) or came back (resync everyone from PostgreSQL)."""
        self.stale = stale
        self._snapshots.clear()
        self._broadcast(lambda scope: {"t": "stale", "stale": stale})
        if not stale:
            await self.resync()

    async def resync(self) -> None:
        """Reload the state from PostgreSQL and send every dashboard a fresh snapshot."""
        if self._resyncing:
            return
        self._resyncing = True
        try:
            state = await self._load_state()
        except Exception:
            logger.exception("could not reload the dashboard state; will retry")
            return
        finally:
            self._resyncing = False
            arrived, self._arrived = self._arrived, {}
        self.state = state
        self._drop_unsent()  # changes of the state replaced; every dashboard gets a snapshot below
        self._snapshots.clear()
        # Batches that arrived while the state was read may be newer than it: keep those. Those that
        # arrived before were committed before it was read (a batch is published once committed, in
        # commit order), so it holds them: none needs keeping meanwhile (2,000 batches of a busy
        # hub's scans were hundreds of MB).
        self._pending = {seq: batch for seq, batch in {**arrived, **self._pending}.items()
                         if seq > state.seq}
        self._gap_since = None
        self._apply_ready()
        self._request_snapshots()

    def _request_snapshots(self) -> None:
        self._drop_unsent()
        for subscriber in list(self.subscribers):
            subscriber.request_snapshot()

    async def _watch_gaps(self) -> None:
        clock_read = time.monotonic()
        while True:
            await asyncio.sleep(WATCH_INTERVAL)
            if self._gap_since is not None and time.monotonic() - self._gap_since > GAP_TIMEOUT:
                logger.info("batch %d never arrived; resyncing dashboards from PostgreSQL",
                            (self.state.seq + 1) if self.state else 0)
                await self.resync()
            elif self._committed_seq is not None and time.monotonic() - clock_read >= CLOCK_INTERVAL:
                clock_read = time.monotonic()
                await self._check_clock(self._committed_seq)
            elif self.state is not None and datetime.now(self.state.tz).date() > self.state.day:
                logger.info("a new day began; dashboards start from zero")
                await self.resync()

    async def _check_clock(self, committed_seq: Callable[[], Awaitable[int]]) -> None:
        """A batch committed but not heard of counts as a gap (it may still be on its way)."""
        try:
            seq = await committed_seq()
        except Exception:
            logger.warning("could not read the commit clock", exc_info=True)
            return
        if self.state is not None and seq > self.state.seq and self._gap_since is None:
            self._gap_since = time.monotonic()


def _by_device(online: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Copies: `Presence` changes its entries in place."""
    return {entry["device"]: dict(entry) for entry in online}


def _presence(before: dict[str, dict[str, Any]] | None,
              now: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """What takes a dashboard's online list from `before` to `now`: the entries that came or changed
    and the devices gone, or the whole list when that is no longer (or `before` is not known); None
    when nothing changed."""
    if before is not None:
        changed = [entry for device, entry in now.items() if before.get(device) != entry]
        gone = [device for device in before if device not in now]
        if not changed and not gone:
            return None
        if len(changed) + len(gone) < len(now):
            return {"t": "presence", "changed": changed, "gone": gone}
    return {"t": "presence", "online": list(now.values())}


class Paced:
    """Runs `action` soon after it is asked for, at most once every `interval()` seconds (as it is
    when asked): the first ask after a quiet spell at the event loop's next turn, later ones together
    when the interval ends."""

    def __init__(self, interval: Callable[[], float], action: Callable[[], None]) -> None:
        self._interval = interval
        self._action = action
        self._timer: asyncio.Handle | None = None
        self._ran_at: float | None = None

    def soon(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            due = loop.time() if self._ran_at is None else max(loop.time(), self._ran_at + self._interval())
            self._timer = loop.call_at(due, self.now)

    def now(self) -> None:
        """Run it at once if it is due (then the interval starts again)."""
        if self._timer is not None:
            self.cancel()
            self._ran_at = asyncio.get_running_loop().time()
            self._action()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
