"""The broker interface the hub talks to."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

Handler = Callable[[str, bytes], Awaitable[None]]
"""Called with (channel, payload) for every publication, this process's own included."""

AvailabilityHandler = Callable[[bool], Awaitable[None]]
"""Called with False when the broker is lost and True when it is back (after resubscribing)."""


class BrokerUnavailable(Exception):
    """The broker cannot be reached; the publication was not sent."""


class Broker(Protocol):
    async def start(self, handler: Handler, on_availability: AvailabilityHandler) -> None:
        """Connect and subscribe; from now on every publication reaches `handler`.

        Never raises for an unreachable broker: it reports False through `on_availability` and keeps
        reconnecting by itself.
        """

    async def publish(self, channel: str, payload: bytes) -> None:
        """Send one payload to every subscribed hub process; never hangs.

        Raises BrokerUnavailable when delivery was not confirmed (it may still arrive, late).
        """

    async def ping(self) -> None:
        """Raise if the broker cannot be reached."""

    async def close(self) -> None:
        """Unsubscribe and disconnect."""
