"""One scanner's websocket session: hello, then pipelined operations, acked in order once durable.

See docs/protocol.md. The session reads frames, checks them, hands operations to the batch writer
and sends each ack when its batch has committed, in the order the operations arrived. A `pong`
answers at once, overtaking acks still waiting for their batch; every other reply keeps its place.

What one connection may hold is bounded: unacked operations by `max_inflight` (beyond it the hub
stops reading), queued replies by `queue_bytes` (beyond it the client is not reading and is closed
with 4008), and a send that the client does not take within SEND_TIMEOUT closes it the same way.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub import protocol
from hub.batch import Result, Submission
from hub.cache import BagCache
from hub.codes import Close, Code
from hub.connections import spread, user_principal
from hub.database import UNAVAILABLE
from hub.domain import rules
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import Actor, Outcome
from hub.fifo import Fifo
from hub.flag import Flag
from hub.presence import Presence
from hub.protocol import ProtocolError
from hub.sendclock import SendClock
from hub.tasks import cancel
from hub.tokenbucket import OperationLimit
from hub.transport import Disconnect, Transport
from hub.writer import BatchWriter

logger = logging.getLogger("tracetrack.scanner")

SEND_TIMEOUT = 10.0
"""Seconds one frame may wait for a client that does not read before the connection is dropped."""
CLOSE_TIMEOUT = 5.0


class State(enum.Enum):
    CONNECTING = "connecting"
    READY = "ready"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass(slots=True)
class SessionContext:
    """What a scanner session needs from its hub process and its login."""

    writer: BatchWriter
    cache: BagCache
    formats: tuple[ParentFormat, ...]
    max_inflight: int
    bind_device: Callable[[str], Awaitable[int | None]]
    """The device's applied seq, binding it to this user if new; None when it is another user's."""
    login_left: Callable[[bool, bool], Awaitable[float | None]]
    """Seconds the login has left (touching it when asked; at once, or with the other re-checks due
    meanwhile, see `hub.rechecks`); None once revoked or expired."""
    presence: Presence
    limits: OperationLimit
    seq_window: int
    queue_bytes: int
    hello_timeout: float
    recheck_seconds: float
    idle_seconds: float
    sessions: dict[str, ScannerSession] = field(default_factory=dict)


Queued = bytes | str | tuple[int, "asyncio.Future[Result]"]


class ScannerSession:
    """A hub holds thousands: slots, `Fifo`s, `Flag`s, and a timer (not a task) for the login's re-check."""

    __slots__ = ("transport", "actor", "context", "principal", "user_id", "token_hash", "state", "current_parent",
                 "binary", "_device", "_ordered", "_urgent", "_queued_bytes", "_wakeup", "_ending", "_abort",
                 "_retrying", "_inflight", "_drained", "_highest_seq", "_held_from", "_retry_at", "_expires",
                 "_active", "_closing", "_recheck_due", "_rechecking")

    def __init__(self, transport: Transport, actor: Actor, context: SessionContext,
                 token_hash: bytes | None = None) -> None:
        self.transport = transport
        self.actor = actor
        self.context = context
        self.principal = user_principal(actor.user_id)
        self.user_id: int | None = actor.user_id
        self.token_hash = token_hash
        self.state = State.CONNECTING
        self.current_parent: str | None = None
        self.binary = True
        self._device = ""
        self._ordered: Fifo[Queued] = Fifo()  # acks and messages, in arrival order
        self._urgent: Fifo[bytes | str] = Fifo()  # pongs
        self._queued_bytes = 0
        self._wakeup = Flag()
        self._ending = False  # no more replies: the sender stops once the queues are empty
        self._abort: tuple[int, str] | None = None  # close now, dropping what is queued
        self._retrying = False  # an op was answered RETRY: ack what was read, then close with 1011
        self._inflight = asyncio.Semaphore(context.max_inflight)
        self._drained = Flag()
        self._highest_seq = 0
        self._held_from: int | None = None  # seq of the first rate-limited op not yet resent
        self._retry_at = 0.0
        self._expires = time.monotonic() + context.idle_seconds
        self._active = False  # scanned since the login was last touched
        self._closing: asyncio.Task[None] | None = None
        self._recheck_due: asyncio.TimerHandle | None = None
        self._rechecking: asyncio.Task[None] | None = None

    @property
    def device(self) -> str | None:
        return self._device or None

    async def run(self) -> None:
        """Serve the connection until either side ends it; cleanup always runs."""
        sender = asyncio.create_task(self._send_loop(), name="scanner-sender")
        receiver = asyncio.create_task(self._receive_loop(), name="scanner-receiver")
        # Whichever ends first; not asyncio.wait, whose futures and callbacks (1 KB) would be held
        # for as long as the connection is open.
        either_ended = Flag()

        def ended(_: asyncio.Task[None]) -> None:
            either_ended.set()

        sender.add_done_callback(ended)
        receiver.add_done_callback(ended)
        self._schedule_recheck()
        try:
            await either_ended.wait()
        finally:
            self.state = State.CLOSED
            if self.context.sessions.get(self._device) is self:
                del self.context.sessions[self._device]
                self.context.presence.leave(self._device)
            if self._recheck_due is not None:
                self._recheck_due.cancel()
            await cancel(self._rechecking)
            await cancel(receiver)
            self._ending = True
            self._wakeup.set()
            await sender
            if self._closing is not None:
                await self._closing

    def end(self, code: int, reason: str) -> None:
        """Revoked: read no further operation from now on, ack those accepted, then close."""
        if self.state in (State.CLOSING, State.CLOSED) or self._closing is not None:
            return
        self.state = State.CLOSING
        self._closing = asyncio.get_running_loop().create_task(self.close(code, reason))

    async def close(self, code: int, reason: str) -> None:
        """Close from the hub's side once every accepted operation has been acked."""
        self.state = State.CLOSING
        self._ending = True
        self._wakeup.set()
        await self._drained.wait()
        await self._close_transport(code, reason)

    async def _close_transport(self, code: int, reason: str) -> None:
        try:
            await asyncio.wait_for(self.transport.close(code, reason), CLOSE_TIMEOUT)
        except TimeoutError:
            logger.info("a scanner could not be sent its close frame; dropped")

    # --- reading -----------------------------------------------------------------------------

    async def _receive_loop(self) -> None:
        try:
            await self._handshake()
            while self._abort is None:  # a client cut loose is not read from any more
                await self._handle(await self.transport.receive())
        except Disconnect:
            pass
        except ProtocolError as exc:
            self._send(protocol.error(str(exc)))
            await self.close(Close.PROTOCOL_ERROR, str(exc)[:120])
        except UNAVAILABLE as exc:  # binding the device, or re-checking the login
            logger.warning("closing a scanner with 1013: PostgreSQL unavailable (%s)", exc)
            await self.close(Close.TRY_AGAIN_LATER, "database unavailable; reconnect and resend")

    async def _handshake(self) -> None:
        timeout = self.context.hello_timeout
        try:
            frame = await asyncio.wait_for(self.transport.receive(), timeout)
        except TimeoutError:
            raise ProtocolError(f"no hello within {timeout:g} seconds") from None
        self.binary = isinstance(frame, bytes)
        hello = protocol.parse_hello(protocol.decode(frame))
        applied = await self.context.bind_device(hello.device)
        if applied is None:
            self._send({"t": "error", "code": Code.DEVICE_TAKEN.value, "msg": Code.DEVICE_TAKEN.message})
            await self.close(Close.DEVICE_TAKEN, "device belongs to another user")
            raise Disconnect(Close.DEVICE_TAKEN)
        self._device = hello.device
        self._highest_seq = applied
        previous = self.context.sessions.get(self._device)
        self.context.sessions[self._device] = self
        if previous is not None:
            asyncio.create_task(previous.transport.close(Close.REPLACED, "device connected again"))
        self.context.writer.unblock(self._device)
        if self.state is not State.CONNECTING:  # revoked while saying hello
            raise Disconnect(Close.SESSION_REVOKED)
        self.state = State.READY
        self.context.presence.join(self._device, self.actor.username, self.actor.area)
        self._send({
            "t": "welcome", "device": self._device, "applied_seq": applied,
            "user": {"username": self.actor.username, "role": self.actor.role.value, "area": self.actor.area},
            "max_inflight": self.context.max_inflight,
            "formats": [{"name": f.name, "pattern": f.pattern, "capacity": f.capacity}
                        for f in self.context.formats],
            "server_time": int(time.time() * 1000),
        })

    async def _handle(self, frame: bytes | str) -> None:
        if self.state is not State.READY:
            return
        try:
            message = protocol.decode(frame)
        except ProtocolError as exc:
            self._send(protocol.error(str(exc)))
            return
        kind = message["t"]
        if kind == "op":
            await self._operation(message)
        elif kind == "ping":
            self._queue(protocol.encode({"t": "pong", "id": message.get("id")}, self.binary), urgent=True)
        else:
            self._send(protocol.error(f"unknown message type {kind!r}"))

    async def _operation(self, message: dict[str, Any]) -> None:
        try:
            seq = protocol.parse_seq(message)
        except ProtocolError as exc:
            self._send(protocol.error(str(exc)))
            return
        now = time.monotonic()
        if (now >= self._expires - self.context.recheck_seconds
                and not await self._check_login(touch=True, at_once=True)):
            return
        refusal = self._refusal(seq, now)
        await self._inflight.acquire()
        if self.state is not State.READY:  # revoked while this op waited for a slot
            self._inflight.release()
            return
        if refusal is not None:
            future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
            future.set_result(Result(refusal))
        else:
            future = self.context.writer.submit(self._submission(message, seq))
        self._active = True
        future.add_done_callback(self._on_done)
        self._ordered.append((seq, future))
        self._wakeup.set()

    def _refusal(self, seq: int, now: float) -> Outcome | None:
        """Why an op is answered without being recorded: its seq is far too high, or it comes too fast.

        After a rate-limited op, every later one is refused too until that op is sent again, so that
        no later seq is applied before it (which would make it stale).
        """
        if seq > self._highest_seq + self.context.seq_window:
            return Outcome(Code.SEQ_TOO_FAR, {"max_seq": self._highest_seq + self.context.seq_window})
        self._highest_seq = max(self._highest_seq, seq)
        if self._held_from is None or seq <= self._held_from:
            wait = self.context.limits.take(self._device, self.actor.user_id, now)
            if not wait:
                if seq == self._held_from:
                    self._held_from = None
                return None
            self._held_from = seq if self._held_from is None else min(self._held_from, seq)
            self._retry_at = now + wait
        return Outcome(Code.RATE_LIMITED, {"retry_after_ms": max(1, math.ceil((self._retry_at - now) * 1000)),
                                           "resend_from": self._held_from})

    def _submission(self, message: dict[str, Any], seq: int) -> Submission:
        operation: rules.Operation | None = None
        verdict: Outcome | None = None
        try:
            operation = protocol.parse_operation(message, seq)
        except ProtocolError as exc:
            verdict = Outcome(Code.BAD_REQUEST, {"reason": str(exc)})
        if operation is not None:
            verdict = (rules.validate(self.actor, operation, self.context.formats)
                       or self.context.cache.precheck(self.actor, operation))
        return Submission(self._device, seq, self.actor, operation, protocol.parse_client_time(message), verdict)

    # --- the login -----------------------------------------------------------------------------

    def _schedule_recheck(self) -> None:
        """Re-check the login within `recheck_seconds` (or when it would expire, if sooner): a revocation
        the broker did not bring, or an expiry, closes the connection with 4001."""
        delay = max(0.0, min(spread(self.context.recheck_seconds), self._expires - time.monotonic()))
        self._recheck_due = asyncio.get_running_loop().call_later(delay, self._on_recheck_due)

    def _on_recheck_due(self) -> None:
        self._recheck_due = None
        if self.state is State.READY:
            self._rechecking = asyncio.get_running_loop().create_task(self._recheck(), name="scanner-login")
        elif self.state is State.CONNECTING:  # still saying hello: its login is checked once it is ready
            self._schedule_recheck()

    async def _recheck(self) -> None:
        try:
            live = await self._check_login(touch=self._active, at_once=False)
        except UNAVAILABLE as exc:
            logger.warning("closing a scanner with 1013: its login could not be re-checked (%s)", exc)
            self.end(Close.TRY_AGAIN_LATER, "database unavailable; reconnect and resend")
            return
        finally:
            self._rechecking = None
        if live and self.state is State.READY:
            self._schedule_recheck()

    async def _check_login(self, touch: bool, at_once: bool) -> bool:
        left = await self.context.login_left(touch, at_once)
        if left is None:
            self.end(Close.SESSION_REVOKED, "session expired or revoked")
            return False
        if touch:
            self._active = False
        self._expires = time.monotonic() + left
        return True

    # --- writing -----------------------------------------------------------------------------

    def _send(self, message: dict[str, Any]) -> None:
        self._queue(protocol.encode(message, self.binary), urgent=False)

    def _queue(self, frame: bytes | str, urgent: bool) -> None:
        """Queue a reply; a client whose replies pile up past the byte bound is not reading: cut it."""
        if self._abort is not None:
            return
        if self._queued_bytes + len(frame) > self.context.queue_bytes:
            logger.info("closing a scanner with %d bytes of replies unread", self._queued_bytes)
            self._cut(Close.SLOW_CONSUMER, "slow consumer: replies not read")
            return
        self._queued_bytes += len(frame)
        (self._urgent if urgent else self._ordered).append(frame)
        self._wakeup.set()

    def _cut(self, code: int, reason: str) -> None:
        """Close now, whatever is queued: the client is not taking it."""
        self.state = State.CLOSING
        self._abort = (code, reason)
        self._urgent.clear()
        self._ordered.clear()
        self._queued_bytes = 0
        self._wakeup.set()

    def _on_done(self, _: asyncio.Future[Result]) -> None:
        self._wakeup.set()

    def _next_frame(self) -> bytes | str | None:
        """The next frame to write; None if none is ready."""
        if self._urgent:
            frame = self._urgent.popleft()
            self._queued_bytes -= len(frame)
            return frame
        if not self._ordered:
            return None
        head = self._ordered.first()
        if not isinstance(head, tuple):
            self._ordered.popleft()
            self._queued_bytes -= len(head)
            return head
        seq, future = head
        if not future.done():
            return None
        self._ordered.popleft()
        self._inflight.release()
        result = future.result()
        if result.outcome.ok and isinstance(result.outcome.data.get("parent"), str):
            self.current_parent = result.outcome.data["parent"]
            self.context.presence.set_parent(self._device, self.current_parent)
        if result.outcome.code is Code.RETRY:
            # Later operations of this device are refused until it reconnects and resends its outbox
            # in order (see BatchWriter.unblock): read no more, ack what was read, then close.
            self._retrying = True
            self.state = State.CLOSING
            self._ending = True
        return protocol.encode(protocol.ack(seq, result.outcome, result.replay), self.binary)

    async def _send_loop(self) -> None:
        """The only coroutine that writes to the socket."""
        clock = SendClock(SEND_TIMEOUT)
        try:
            while True:
                self._wakeup.clear()
                if self._abort is not None:
                    await self._close_transport(*self._abort)
                    return
                while (frame := self._next_frame()) is not None:
                    if not await clock.within(self.transport.send(frame)):
                        logger.info("closing a scanner that read nothing for %.0fs", SEND_TIMEOUT)
                        self._cut(Close.SLOW_CONSUMER, "slow consumer")
                        break
                else:
                    if self._ending and not self._ordered and not self._urgent:
                        if self._retrying:
                            await self._close_transport(Close.SERVER_ERROR, "could not save; reconnect and resend")
                        return
                    await self._wakeup.wait()
        except Disconnect:
            pass
        finally:
            clock.close()
            self._drained.set()
