"""One scanner's websocket session: hello, then pipelined operations, acked in order once durable.

See docs/protocol.md. The session reads frames, checks them, hands operations to the batch writer
and sends each ack when its batch has committed, in the order the operations arrived.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub import protocol
from hub.batch import Result, Submission
from hub.cache import BagCache
from hub.codes import Close, Code
from hub.domain import rules
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import Actor, Outcome
from hub.presence import Presence
from hub.protocol import ProtocolError
from hub.tasks import cancel
from hub.transport import Disconnect, Transport
from hub.writer import BatchWriter

logger = logging.getLogger("tracetrack.scanner")

HELLO_TIMEOUT = 30.0
KEEPALIVE_SECONDS = 60.0


class State(enum.Enum):
    CONNECTING = "connecting"
    READY = "ready"
    CLOSING = "closing"
    CLOSED = "closed"


@dataclass
class SessionContext:
    """What a scanner session needs from its hub process."""

    writer: BatchWriter
    cache: BagCache
    formats: tuple[ParentFormat, ...]
    max_inflight: int
    applied_seq: Callable[[str], Awaitable[int]]
    keep_alive: Callable[[], Awaitable[bool]]
    presence: Presence
    sessions: dict[str, ScannerSession] = field(default_factory=dict)


class ScannerSession:
    def __init__(self, transport: Transport, actor: Actor, context: SessionContext) -> None:
        self.transport = transport
        self.actor = actor
        self.context = context
        self.state = State.CONNECTING
        self.device = ""
        self.current_parent: str | None = None
        self.binary = True
        self._outbox: asyncio.Queue[dict[str, Any] | tuple[int, asyncio.Future[Result]] | None] = (
            asyncio.Queue()
        )
        self._inflight = asyncio.Semaphore(context.max_inflight)
        self._last_keepalive = time.monotonic()
        self._drained = asyncio.Event()

    async def run(self) -> None:
        """Serve the connection until either side ends it; cleanup always runs."""
        sender = asyncio.create_task(self._send_loop(), name="scanner-sender")
        receiver = asyncio.create_task(self._receive_loop(), name="scanner-receiver")
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.state = State.CLOSED
            if self.context.sessions.get(self.device) is self:
                del self.context.sessions[self.device]
                self.context.presence.leave(self.device)
            await cancel(receiver)
            self._outbox.put_nowait(None)
            await sender

    async def _receive_loop(self) -> None:
        try:
            await self._handshake()
            while True:
                await self._handle(await self.transport.receive())
        except Disconnect:
            pass
        except ProtocolError as exc:
            await self._send(protocol.error(str(exc)))
            await self.close(Close.PROTOCOL_ERROR, str(exc)[:120])

    async def close(self, code: int, reason: str) -> None:
        """Close from the hub's side once every accepted operation has been acked."""
        self.state = State.CLOSING
        self._outbox.put_nowait(None)
        await self._drained.wait()
        await self.transport.close(code, reason)

    async def _handshake(self) -> None:
        try:
            frame = await asyncio.wait_for(self.transport.receive(), HELLO_TIMEOUT)
        except TimeoutError:
            raise ProtocolError("no hello within 30 seconds") from None
        self.binary = isinstance(frame, bytes)
        hello = protocol.parse_hello(protocol.decode(frame))
        self.device = hello.device
        previous = self.context.sessions.get(self.device)
        self.context.sessions[self.device] = self
        if previous is not None:
            asyncio.create_task(previous.transport.close(Close.REPLACED, "device connected again"))
        self.context.writer.unblock(self.device)
        applied = await self.context.applied_seq(self.device)
        self.state = State.READY
        self.context.presence.join(self.device, self.actor.username, self.actor.area)
        await self._send({
            "t": "welcome", "device": self.device, "applied_seq": applied,
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
            await self._send(protocol.error(str(exc)))
            return
        kind = message["t"]
        if kind == "op":
            await self._operation(message)
        elif kind == "ping":
            await self._send({"t": "pong", "id": message.get("id")})
        else:
            await self._send(protocol.error(f"unknown message type {kind!r}"))

    async def _operation(self, message: dict[str, Any]) -> None:
        try:
            seq = protocol.parse_seq(message)
        except ProtocolError as exc:
            await self._send(protocol.error(str(exc)))
            return
        operation: rules.Operation | None = None
        verdict: Outcome | None = None
        try:
            operation = protocol.parse_operation(message, seq)
        except ProtocolError as exc:
            verdict = Outcome(Code.BAD_REQUEST, {"reason": str(exc)})
        if operation is not None:
            verdict = (rules.validate(self.actor, operation, self.context.formats)
                       or self.context.cache.precheck(self.actor, operation))
        await self._inflight.acquire()
        sub = Submission(self.device, seq, self.actor, operation, protocol.parse_client_time(message),
                         verdict)
        self._outbox.put_nowait((seq, self.context.writer.submit(sub)))
        await self._keep_alive()

    async def _keep_alive(self) -> None:
        """Refresh the login session while the operator scans; close if it was revoked."""
        now = time.monotonic()
        if now - self._last_keepalive < KEEPALIVE_SECONDS:
            return
        self._last_keepalive = now
        if not await self.context.keep_alive():
            await self.close(Close.SESSION_REVOKED, "session expired or revoked")
            raise Disconnect(Close.SESSION_REVOKED)

    async def _send(self, message: dict[str, Any]) -> None:
        self._outbox.put_nowait(message)

    async def _send_loop(self) -> None:
        """The only coroutine that writes to the socket: messages and acks in arrival order."""
        try:
            while (item := await self._outbox.get()) is not None:
                if isinstance(item, tuple):
                    seq, future = item
                    result = await future
                    self._inflight.release()
                    if result.outcome.ok and isinstance(result.outcome.data.get("parent"), str):
                        self.current_parent = result.outcome.data["parent"]
                        self.context.presence.set_parent(self.device, self.current_parent)
                    item = protocol.ack(seq, result.outcome, result.replay)
                await self.transport.send(protocol.encode(item, self.binary))
                if item.get("retry"):
                    # Later operations of this device are refused until it reconnects and resends
                    # everything from its outbox in order (see BatchWriter.unblock).
                    await self.transport.close(Close.SERVER_ERROR, "could not save; reconnect and resend")
                    return
        except Disconnect:
            pass
        finally:
            self._drained.set()

