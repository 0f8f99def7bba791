"""The limiter interface: fixed-window counters, counted and read atomically."""

from __future__ import annotations

from typing import Protocol


class Limiter(Protocol):
    """Counters that each expire `window` seconds after their first hit.

    Keys are plain strings; the backends namespace them. Every method is safe to call concurrently,
    from any number of tasks or (with Redis) hub processes.
    """

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        """Count one hit; None while the count is within `limit`, else seconds until the window ends."""

    async def undo(self, key: str) -> None:
        """Take one hit back (it turned out not to count, such as a login that succeeded)."""

    async def count(self, key: str) -> int:
        """The hits counted in the key's current window (0 once it has ended)."""

    async def reset(self, key: str) -> None:
        """Forget the key's hits."""

    async def reset_prefix(self, prefix: str) -> None:
        """Forget the hits of every key that starts with `prefix`."""

    async def close(self) -> None:
        """Release connections; idempotent."""
