"""A scanner device as docs/protocol.md section 9 describes it, for tests against real hub processes:
numbered operations, a durable outbox, pipelining, resending after a reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

WAIT = 20.0


@dataclass
class Device:
    """A scanner as the protocol describes it: numbered operations, a durable outbox, pipelining.

    `ops` are the operations it will make, in order (seq = position + 1). An operation enters the
    outbox before it is sent and leaves it when its ack arrives (a RETRY ack keeps it there).
    """

    name: str
    token: str
    ops: list[dict[str, Any]]
    window: int = 16
    burst: int = 8
    pause: float = 0.02
    sent: int = 0  # operations ever sent: ops[:sent] went out at least once
    outbox: dict[int, dict[str, Any]] = field(default_factory=dict)
    acks: dict[int, dict[str, Any]] = field(default_factory=dict)
    replays: list[int] = field(default_factory=list)
    retries: list[int] = field(default_factory=list)
    welcomes: list[dict[str, Any]] = field(default_factory=list)
    reading: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: acks are not read
    start: asyncio.Event = field(default_factory=asyncio.Event)  # cleared: wait after the welcome

    def __post_init__(self) -> None:
        self.reading.set()
        self.start.set()
        self.ops = [{"t": "op", "seq": n, **op} for n, op in enumerate(self.ops, start=1)]

    @property
    def done(self) -> bool:
        return len(self.acks) == len(self.ops)

    async def session(self, url: str) -> str:
        """One connection: hello, resend the outbox, go on; 'done', or 'closed' when it dropped."""
        try:
            ws = await connect(url, additional_headers={"Cookie": f"tt_session={self.token}"},
                               open_timeout=WAIT, close_timeout=2)
        except (OSError, ConnectionClosed):
            return "closed"
        try:
            await ws.send(msgpack.packb({"t": "hello", "device": self.name, "last_seq": self.sent}))
            welcome = msgpack.unpackb(await ws.recv())
            assert welcome["t"] == "welcome", welcome
            self.welcomes.append(welcome)
            await self.start.wait()
            slots = asyncio.Semaphore(self.window)
            sender = asyncio.create_task(self._send(ws, slots))
            receiver = asyncio.create_task(self._receive(ws, slots))
            closed = asyncio.create_task(ws.wait_closed())
            try:
                await asyncio.wait({receiver, closed}, return_when=asyncio.FIRST_COMPLETED)
                if not receiver.done() and not self.reading.is_set():
                    # Dropped while not reading: whatever acks the socket still holds are lost.
                    return "closed"
                await receiver
            finally:
                for task in (sender, receiver, closed):
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                        await task
            return "done" if self.done else "closed"
        except ConnectionClosed:
            return "closed"
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 3)

    async def _send(self, ws: ClientConnection, slots: asyncio.Semaphore) -> None:
        for seq in sorted(self.outbox):  # everything unacked, in seq order, unchanged
            await slots.acquire()
            await ws.send(msgpack.packb(self.outbox[seq]))
        while self.sent < len(self.ops):
            for _ in range(self.burst):
                if self.sent == len(self.ops):
                    break
                await slots.acquire()
                op = self.ops[self.sent]
                self.outbox[op["seq"]] = op  # into the outbox first, then onto the wire
                self.sent += 1
                await ws.send(msgpack.packb(op))
            await asyncio.sleep(self.pause)

    async def _receive(self, ws: ClientConnection, slots: asyncio.Semaphore) -> None:
        while not self.done:
            await self.reading.wait()
            reply = msgpack.unpackb(await ws.recv())
            assert reply["t"] == "ack", reply
            seq = reply["seq"]
            slots.release()
            if reply["retry"]:
                self.retries.append(seq)
                return  # the session ends ('done' is not claimed: see run_all); the outbox is resent
            assert seq in self.outbox, f"{self.name}: ack of seq {seq}, which is not in the outbox"
            assert seq not in self.acks, f"{self.name}: seq {seq} acked twice"
            del self.outbox[seq]
            self.acks[seq] = reply
            if reply["replay"]:
                self.replays.append(seq)

    def expected_links(self) -> dict[str, str]:
        """child -> parent, from this device's acks in seq order."""
        links: dict[str, str] = {}
        for seq in sorted(self.acks):
            ack, op = self.acks[seq], self.ops[seq - 1]
            if ack["code"] != "OK":
                continue
            if op["op"] == "child":
                links[ack["data"]["child"]] = ack["data"]["parent"]
            elif op["op"] == "undo" and ack["data"]["undone"] == "link":
                del links[ack["data"]["child"]]
        return links


async def run_all(devices: list[Device], url: str, timeout: float, reconnect: bool = False) -> list[str]:
    """Run every device against `url`; with `reconnect`, a dropped device reconnects (with a short
    backoff) until its operations are all acked."""
    async def run(device: Device) -> str:
        while True:
            status = await device.session(url)
            if status == "done" or not reconnect:
                return status
            await asyncio.sleep(0.1)

    return await asyncio.wait_for(asyncio.gather(*(run(d) for d in devices)), timeout)


async def links_in_db(pool: asyncpg.Pool) -> dict[str, str]:
    """child -> parent of every link in the database."""
    rows = await pool.fetch("SELECT c.code AS child, p.code AS parent FROM links l "
                            "JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id")
    return {r["child"]: r["parent"] for r in rows}
