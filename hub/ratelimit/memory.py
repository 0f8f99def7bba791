"""The in-process limiter: counters in a dict, for one hub process (or a hub without Redis)."""

from __future__ import annotations

import time

MAX_KEYS = 100_000
"""Counters kept at most: beyond, ended windows are dropped, then the oldest counters."""


class MemoryLimiter:
    """Fixed windows on the monotonic clock. One event loop's tasks only (it takes no locks)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self._max_keys = max_keys
        self._counters: dict[str, tuple[int, float]] = {}
        """key -> (hits, when the window ends)."""

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        now = time.monotonic()
        hits, ends = self._counters.get(key, (0, 0.0))
        if ends <= now:
            hits, ends = 0, now + window
            self._counters.pop(key, None)
            self._make_room(now)
        self._counters[key] = (hits + 1, ends)
        return None if hits + 1 <= limit else ends - now

    async def undo(self, key: str) -> None:
        hits, ends = self._counters.get(key, (0, 0.0))
        if hits > 0 and ends > time.monotonic():
            self._counters[key] = (hits - 1, ends)

    async def count(self, key: str) -> int:
        hits, ends = self._counters.get(key, (0, 0.0))
        return hits if ends > time.monotonic() else 0

    async def reset(self, key: str) -> None:
        self._counters.pop(key, None)

    async def reset_prefix(self, prefix: str) -> None:
        for key in [key for key in self._counters if key.startswith(prefix)]:
            del self._counters[key]

    async def close(self) -> None:
        self._counters.clear()

    def _make_room(self, now: float) -> None:
        if len(self._counters) < self._max_keys:
            return
        for key in [key for key, (_, ends) in self._counters.items() if ends <= now]:
            del self._counters[key]
        while len(self._counters) >= self._max_keys:
            del self._counters[next(iter(self._counters))]
