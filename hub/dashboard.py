"""One dashboard connection: a snapshot, then deltas in seq order, through a bounded queue.

The fan-out never waits for a dashboard. When a connection's queue passes its byte limit, the queued
deltas are dropped and replaced by one fresh snapshot (coalescing); a dashboard whose socket accepts
nothing for `SEND_TIMEOUT` seconds is closed with 4008 (slow consumer), and so is one that sends
requests (pings, resyncs) faster than it reads their answers, once those pass the same byte limit.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from hub import protocol
from hub.codes import Close
from hub.connections import spread
from hub.fanout import Fanout
from hub.fifo import Fifo
from hub.flag import Flag
from hub.livestate import Scope
from hub.protocol import ProtocolError
from hub.sendclock import SendClock
from hub.tasks import cancel
from hub.transport import Disconnect, Transport

logger = logging.getLogger("tracetrack.dashboard")

SEND_TIMEOUT = 10.0
CLOSE_TIMEOUT = 5.0


class DashboardConnection:
    def __init__(self, transport: Transport, scope: Scope, binary: bool, max_bytes: int, fanout: Fanout,
                 still_allowed: Callable[[], Awaitable[bool]], *,
                 principal: str = "", recheck_seconds: float = 30.0, token_hash: bytes | None = None,
                 user_id: int | None = None) -> None:
        self.transport = transport
        self.scope = scope
        self.binary = binary
        self.principal = principal
        self.user_id = user_id
        self.token_hash = token_hash
        self.device: str | None = None
        self._recheck_seconds = recheck_seconds
        self._ending: asyncio.Task[None] | None = None
        self.coalesced = 0
        self._max_bytes = max_bytes
        self._fanout = fanout
        self._still_allowed = still_allowed
        self._queue: Fifo[bytes | str] = Fifo()
        self._queued_bytes = 0
        self._snapshot_due = True
        self._wakeup = Flag()
        self._wakeup.set()

    def enqueue(self, frame: bytes | str) -> None:
        if self._snapshot_due:
            return
        # An empty queue takes any frame: a single big delta is no backlog (a snapshot is bigger).
        if self._queue and self._queued_bytes + len(frame) > self._max_bytes:
            self.coalesced += 1
            self.request_snapshot()
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        self._wakeup.set()

    def request_snapshot(self) -> None:
        self._queue.clear()
        self._queued_bytes = 0
        self._snapshot_due = True
        self._wakeup.set()

    async def run(self) -> None:
        self._fanout.subscribers.add(self)
        sender = asyncio.create_task(self._send_loop(), name="dashboard-sender")
        try:
            await self._receive_loop(sender)
        except Disconnect:
            pass
        finally:
            self._fanout.subscribers.discard(self)
            await cancel(sender)
            if self._ending is not None:
                await self._ending

    async def _receive_loop(self, sender: asyncio.Task[None]) -> None:
        """Read the client's requests, re-checking its access meanwhile: the answer may wait a second
        for other connections' re-checks (`hub.rechecks`), and a ping is answered all the same."""
        due = time.monotonic() + spread(self._recheck_seconds)
        check: asyncio.Future[bool] | None = None
        try:
            while not sender.done() and self._ending is None:
                receive = asyncio.ensure_future(self.transport.receive())
                waiting: set[asyncio.Future[Any]] = {receive, sender}
                if check is not None:
                    waiting.add(check)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED,
                                             timeout=None if check is not None else max(0.0, due - time.monotonic()))
                if receive not in done:
                    receive.cancel()
                else:
                    self._handle(receive.result())
                if check is not None and check.done():
                    allowed, check = check.result(), None
                    if not allowed:
                        await self.close(Close.SESSION_REVOKED, "access revoked or expired")
                        return
                elif check is None and time.monotonic() >= due:
                    due = time.monotonic() + spread(self._recheck_seconds)
                    check = asyncio.ensure_future(self._still_allowed())
        finally:
            if check is not None:
                check.cancel()

    def _handle(self, frame: bytes | str) -> None:
        try:
            message = protocol.decode(frame)
        except ProtocolError as exc:
            self._reply(protocol.error(str(exc)))
            return
        if message["t"] == "resync":
            self.request_snapshot()
        elif message["t"] == "ping":
            self._reply({"t": "pong", "id": message.get("id")})
        else:
            self._reply(protocol.error(f"unknown message type {message['t']!r}"))

    def _reply(self, message: dict[str, object]) -> None:
        """Answers to the client go out even while a snapshot is due (it does not carry them)."""
        frame = protocol.encode(message, self.binary)
        if self._queue and self._queued_bytes + len(frame) > self._max_bytes:
            logger.info("closing a dashboard with %d bytes of answers unread", self._queued_bytes)
            self.end(Close.SLOW_CONSUMER, "slow consumer: answers not read")
            return
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        self._wakeup.set()

    async def _send_loop(self) -> None:
        try:
            await self._send_frames()
        except Disconnect:
            pass  # the peer is gone: the receive loop ends the connection

    async def _send_frames(self) -> None:
        clock = SendClock(SEND_TIMEOUT)
        try:
            while True:
                await self._wakeup.wait()
                self._wakeup.clear()
                while self._snapshot_due or self._queue:
                    if self._snapshot_due:
                        # Built first: building sends the deltas not yet sent, which this snapshot holds.
                        frame = self._fanout.snapshot_frame(self.scope, self.binary)
                        self._snapshot_due = False
                    else:
                        frame = self._queue.popleft()
                        self._queued_bytes -= len(frame)
                    if not await clock.within(self.transport.send(frame)):
                        logger.info("closing a dashboard that read nothing for %.0fs", SEND_TIMEOUT)
                        await self.close(Close.SLOW_CONSUMER, "slow consumer")
                        return
        finally:
            clock.close()

    def end(self, code: int, reason: str) -> None:
        """Revoked (or flooding): take no more requests, drop what is queued, close in the background."""
        if self._ending is not None:
            return
        self._fanout.subscribers.discard(self)
        self._queue.clear()
        self._queued_bytes = 0
        self._snapshot_due = False
        self._ending = asyncio.get_running_loop().create_task(self.close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close within CLOSE_TIMEOUT. The close frame waits behind everything unread, so a client
        that never reads never gets it; the connection ends here regardless."""
        try:
            await asyncio.wait_for(self.transport.close(code, reason), CLOSE_TIMEOUT)
        except TimeoutError:
            logger.info("a dashboard could not be sent its close frame; dropped")
