"""The in-process broker: for a single hub process with no Redis."""

from __future__ import annotations

from hub.broker.base import AvailabilityHandler, Handler


class MemoryBroker:
    """Delivers each publication straight to this process's handler; it is always available."""

    def __init__(self) -> None:
        self._handler: Handler | None = None

    async def start(self, handler: Handler, on_availability: AvailabilityHandler) -> None:
        self._handler = handler

    async def publish(self, channel: str, payload: bytes) -> None:
        if self._handler is not None:
            await self._handler(channel, payload)

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._handler = None
