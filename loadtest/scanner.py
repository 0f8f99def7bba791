"""One simulated handheld over a real websocket, a client of docs/protocol.md written from it alone.

It has a device id of its own, says hello, then pipelines operations (at most `window` unacked, never
more than the welcome's `max_inflight`) and matches each ack to its operation. Unacked operations
are its outbox: after a dropped connection it reconnects with backoff and resends them unchanged, in
seq order; an ack with `retry: true` puts the operation back for a resend after a short delay.

Ack latency runs from the moment the operation was due (sent, or scheduled in open-loop mode) to
the moment its ack arrived, on the monotonic clock, so time spent waiting for a free window slot
or for a reconnect is counted, not hidden.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from loadtest.workload import Workflow

RECONNECT_CLOSES = frozenset({1006, 1011, 1012, 1013, 4008, 4009})
"""Closes after which the protocol says to reconnect (1006: the connection dropped without a close)."""
RETRY_DELAY = 0.5
BACKOFF_FIRST = 0.5
BACKOFF_MAX = 15.0
OPEN_TIMEOUT = 30.0
MAX_FRAME = 1 << 20



async def open_socket(url: str, headers: dict[str, str], max_size: int, on_error: Callable[[str], None],
                      label: str = "") -> ClientConnection | None:
    """Open a websocket; None (and the error reported as LABEL + what failed) when that failed.

    It sends no pings of its own, as a browser's WebSocket does not (the hub's pings are answered):
    10,000 clients pinging every 20 s cost the hub 500 writes a second that no page ever asks of it."""
    try:
        return await connect(url, open_timeout=OPEN_TIMEOUT, compression=None, max_size=max_size,
                             additional_headers=headers, ping_interval=None)
    except InvalidStatus as exc:
        on_error(f"{label}HTTP_{exc.response.status_code}")
    except (TimeoutError, OSError, InvalidHandshake) as exc:
        on_error(f"{label}CONNECT_{type(exc).__name__}")
    return None

@dataclass(frozen=True)
class Target:
    """A hub to connect to and the session token to present (None for the echo server)."""

    url: str
    token: str | None

    def ws_url(self, path: str) -> str:
        return self.url.replace("http", "ws", 1).rstrip("/") + path


@dataclass
class Pending:
    seq: int
    op: dict[str, Any]
    frame: bytes
    due: float
    ready: float = 0.0
    """When a retried operation may be resent."""


@dataclass(frozen=True)
class Ack:
    """An operation's answer, as the run's observers (statistics, ledger, dashboards) see it."""

    device: str
    seq: int
    op: dict[str, Any]
    code: str
    retry: bool
    replay: bool
    latency: float
    at: float


class Scanner:
    def __init__(self, device: str, target: Target, workflow: Workflow, *, window: int,
                 interval: float | None, on_ack: Callable[[Ack], None], on_error: Callable[[str], None],
                 echo: bool = False) -> None:
        self.device = device
        self.target = target
        self.welcome: dict[str, Any] = {}
        self.sent = 0
        self._workflow = workflow
        self.window = window
        self._interval = interval
        self._on_ack = on_ack
        self._on_error = on_error
        self._echo = echo
        self._ws: ClientConnection | None = None
        self._seq = 0
        self._next_due = 0.0
        self._pending: dict[int, Pending] = {}
        self._retries: deque[Pending] = deque()
        self._progress = asyncio.Event()
        self._closing = False

    @property
    def outstanding(self) -> int:
        """Operations sent or waiting for a resend whose final ack has not arrived."""
        return len(self._pending) + len(self._retries)

    async def connect(self) -> bool:
        """Open the websocket and say hello; False (and the error reported) when that failed."""
        ws = await open_socket(self.target.ws_url("/ws/scan"), self._headers(), MAX_FRAME, self._on_error)
        if ws is None:
            return False
        if not self._echo and not await self._hello(ws):
            return False
        self._ws = ws
        self.window = max(1, min(self.window, self.welcome.get("max_inflight", self.window)))
        return True

    def _headers(self) -> dict[str, str]:
        return {} if self.target.token is None else {"Cookie": f"tt_session={self.target.token}"}

    async def _hello(self, ws: ClientConnection) -> bool:
        try:
            await ws.send(msgpack.packb({"t": "hello", "device": self.device, "last_seq": self._seq}))
            welcome = msgpack.unpackb(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
        except ConnectionClosed as exc:
            self._on_error(f"CLOSED_{_close_code(exc)}")
            return False
        except TimeoutError:
            welcome = None
        if not isinstance(welcome, dict) or welcome.get("t") != "welcome":
            self._on_error("NO_WELCOME")
            await ws.close()
            return False
        self.welcome = welcome
        return True

    async def run(self, start: float, end: float, drain_end: float) -> None:
        """Scan from `start` until `end`, wait until `drain_end` at most for the last acks, close."""
        if self._interval is not None:
            self._next_due = start + random.random() * self._interval
        while self._ws is not None:
            code = await self._session(self._ws, end, drain_end)
            self._ws = None
            if code is None:
                return
            self._on_error(f"CLOSED_{code}")
            if code in RECONNECT_CLOSES:
                await self._reconnect(drain_end)

    async def _reconnect(self, drain_end: float) -> None:
        """Back off (doubling, with jitter) and connect again, until it works or time is up."""
        delay = BACKOFF_FIRST
        while time.monotonic() + delay < drain_end:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            if await self.connect():
                return
            delay = min(delay * 2, BACKOFF_MAX)

    async def _session(self, ws: ClientConnection, end: float, drain_end: float) -> int | None:
        """Send and receive on one connection; its close code if it dropped, None once done."""
        self._closing = False
        sender = asyncio.create_task(self._send(ws, end, drain_end))
        try:
            return await self._receive(ws)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                await sender

    async def _send(self, ws: ClientConnection, end: float, drain_end: float) -> None:
        try:
            await self._resend_outbox(ws)
            while (pending := await self._next(end)) is not None:
                self._pending[pending.seq] = pending
                await ws.send(pending.frame)
                self.sent += 1
            while self.outstanding and await self._wait_progress(drain_end - time.monotonic()):
                pass
            self._closing = True
        finally:
            await ws.close()

    async def _resend_outbox(self, ws: ClientConnection) -> None:
        """After a reconnect: every unacked operation again, same seq and fields, in seq order."""
        outbox = sorted([*self._pending.values(), *self._retries], key=lambda p: p.seq)
        self._retries.clear()
        self._pending = {p.seq: p for p in outbox}
        for pending in outbox:
            await ws.send(pending.frame)

    async def _next(self, end: float) -> Pending | None:
        """The next operation to send, once the window has room; None when the run is over.

        A retried operation is resent once its delay is over; it already counts in the window.
        """
        due = 0.0
        if self._interval is not None:
            due = self._next_due
            if due >= end:
                return None
            self._next_due += self._interval
            await asyncio.sleep(due - time.monotonic())
        while True:
            now = time.monotonic()
            if self._retries and self._retries[0].ready <= now:
                return self._retries.popleft()
            if self._interval is None and now >= end:
                return None
            if self.outstanding < self.window:
                break
            await self._wait_progress(self._retries[0].ready - now if self._retries else None)
        op = self._workflow.next_op()
        if op is None:
            return None
        self._seq += 1
        message = {"t": "op", "seq": self._seq, **op, "at": int(time.time() * 1000)}
        return Pending(self._seq, op, msgpack.packb(message), due if self._interval is not None else now)

    async def _wait_progress(self, timeout: float | None) -> bool:
        """Wait for the next ack, `timeout` seconds at most; False when none came."""
        self._progress.clear()
        if timeout is None:
            await self._progress.wait()
            return True
        try:
            await asyncio.wait_for(self._progress.wait(), max(0.0, timeout))
        except TimeoutError:
            return False
        return True

    async def _receive(self, ws: ClientConnection) -> int | None:
        """Match replies to operations until the connection closes; the close code unless we closed."""
        try:
            async for frame in ws:
                self._handle(msgpack.unpackb(frame), time.monotonic())
        except ConnectionClosed as exc:
            return None if self._closing else _close_code(exc)
        return None if self._closing else ws.close_code or 1006

    def _handle(self, message: dict[str, Any], now: float) -> None:
        kind = message.get("t")
        if kind == "ack" or (self._echo and kind == "op"):
            seq = message.get("seq")
            first = next(iter(self._pending), None)
            pending = self._pending.pop(seq, None) if isinstance(seq, int) else None
            if pending is None:
                self._on_error("UNEXPECTED_ACK")
                return
            if seq != first:  # acks of one connection come in the order the operations were sent
                self._on_error("ACK_OUT_OF_ORDER")
            code = "OK" if kind == "op" else str(message.get("code"))  # an echo server's reply is the op
            retry = bool(message.get("retry"))
            self._workflow.on_ack(pending.op, code, message.get("data") or {})
            self._on_ack(Ack(self.device, seq, pending.op, code, retry, bool(message.get("replay")),
                             now - pending.due, now))
            if retry:
                pending.ready = now + RETRY_DELAY
                self._retries.append(pending)
            self._progress.set()
        elif kind == "error":
            self._on_error(f"ERROR_FRAME_{message.get('code')}")


def _close_code(exc: ConnectionClosed) -> int:
    return exc.rcvd.code if exc.rcvd is not None else 1006
