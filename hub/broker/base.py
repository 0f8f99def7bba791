"""The broker interface the hub talks to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

Handler = Callable[[str, bytes], Awaitable[None]]
"""Called with (channel, payload) for every publication, this process's own included."""


class BrokerUnavailable(Exception):
    """The broker cannot be reached; publications are dropped until it is back."""


class Broker(Protocol):
    async def start(self, handler: Handler) -> None:
        """Connect and subscribe; from now on every publication reaches `handler`."""

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send one payload to every subscribed hub process. Raises BrokerUnavailable."""

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    async def close(self) -> None:
        """Unsubscribe and disconnect."""
