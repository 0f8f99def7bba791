"""An `asyncio.Event` at a tenth of its size, for the flags every open websocket holds.

`asyncio.Event` keeps its waiters in a deque, which costs 760 bytes however few wait (a deque
allocates a block of 64 slots up front), and its instance dict another 300: about 1.1 KB per event.
A connection holds several (uvicorn's, its session's), and a hub holds 10,000 connections. `Flag`
has the same semantics (`set` wakes every waiter, `clear` none) with a list and no dict: about 100
bytes, and one future per waiter while it waits, as with `asyncio.Event`.
"""

from __future__ import annotations

import asyncio


class Flag:
    """`asyncio.Event`'s set / clear / is_set / wait; created and awaited in one event loop."""

    __slots__ = ("_value", "_waiters")

    def __init__(self, value: bool = False) -> None:
        self._value = value
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if self._value:
            return
        self._value = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> None:
        """Return once the flag is set (at once if it is); a waiter cancelled takes no one's wake-up."""
        if self._value:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            self._waiters.remove(waiter)
