"""Committed batches as broker messages, and the publisher that sends them without ever blocking acks."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import msgpack

from hub.batch import Committed
from hub.broker import Broker, BrokerUnavailable
from hub.domain.rules import Bag, kg
from hub.store.live import parent_item
from hub.tasks import cancel

logger = logging.getLogger("tracetrack.publication")

BATCHES = "batches"
PRESENCE = "presence"
DEVICE_NAMES = "device_names"
"""An admin renamed a device: `{"origin", "device", "name"}` (name null: the name was taken away)."""
QUEUE_LIMIT = 1000


def batch_message(committed: Committed, origin: str) -> dict[str, Any]:
    """One message per committed batch: its scans, and the parents and bills it left behind."""
    return {
        "origin": origin,
        "seq": committed.seq,
        "at": committed.at.timestamp(),
        "events": committed.events,
        "parents": [parent_item(b.code, b.area, b.child_count, b.capacity, b.bill)
                    for b in committed.bags if b.kind == "P"],
        "bills": [{"code": b.code, "area": b.area, "count": b.parent_count, "capacity": b.capacity,
                   "status": b.status, "destination": b.destination, "vehicle": b.vehicle,
                   "actual_kg": kg(b.actual_kg), "expected_kg": kg(b.expected_kg)}
                  for b in committed.bills],
        "forget": committed.forget,
    }


def read_frame(payload: bytes, origin: str) -> dict[str, Any] | None:
    """The message in a publication, or None for this hub's own (known without decoding it)."""
    if payload.startswith(origin.encode()):
        return None
    message: dict[str, Any] = msgpack.unpackb(payload[len(origin):], raw=False)
    return message


def forgotten(message: dict[str, Any]) -> list[str]:
    """The bags another hub's batch deleted or corrected, which this hub's cache must drop."""
    return list(message.get("forget", ()))


def parents_as_bags(message: dict[str, Any]) -> list[Bag]:
    """Another hub's parents, for this hub's bag cache."""
    return [Bag(code=p["code"], kind="P", area=p["area"], capacity=p["capacity"], child_count=p["count"],
                bill=p["bill"]) for p in message["parents"]]


class Publisher:
    """Sends messages to the broker from its own task through a bounded queue.

    The writer only enqueues; when the broker is away the queue fills and further messages are
    dropped (other hubs then see a gap in the seq and resync from PostgreSQL).
    """

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(QUEUE_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="publisher")

    def publish(self, channel: str, message: dict[str, Any]) -> None:
        """Queue `message` (which names its `origin`) framed as the origin's bytes, then msgpack."""
        try:
            self._queue.put_nowait((channel, message["origin"].encode() + msgpack.packb(message, use_bin_type=True)))
        except asyncio.QueueFull:
            self.dropped += 1

    async def close(self, timeout: float) -> None:
        """Send what is queued (within `timeout`), then stop."""
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._queue.join(), timeout)
        except TimeoutError:
            pass
        await cancel(self._task)

    async def _run(self) -> None:
        while True:
            channel, payload = await self._queue.get()
            try:
                await self._broker.publish(channel, payload)
            except BrokerUnavailable:
                self.dropped += 1
            except Exception:
                logger.exception("publishing to the broker failed")
                self.dropped += 1
            finally:
                self._queue.task_done()
