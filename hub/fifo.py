"""A first-in first-out queue at 56 bytes empty, for the queues every open websocket holds.

`collections.deque` allocates a block of 64 slots up front: 760 bytes, however empty it stays, and a
scanner session holds two (its acks, its pongs) for each of 10,000 connections. `Fifo` is a list
read from a moving head (an item read is let go at once); the list is emptied whenever it has all
been read (a connection's queues mostly are), and its read part cut off once it is half of it or
more, so each slot is moved at most once more: append and popleft stay O(1) amortised.
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast

T = TypeVar("T")

COMPACT_AFTER = 32
"""Items read before the read part of the list is cut off (when it is also more than half)."""


class Fifo(Generic[T]):
    """The deque calls the sessions make: append, popleft, first, clear, len and truth."""

    __slots__ = ("_items", "_head")

    def __init__(self) -> None:
        self._items: list[T | None] = []
        self._head = 0

    def __len__(self) -> int:
        return len(self._items) - self._head

    def __bool__(self) -> bool:
        return self._head < len(self._items)

    def append(self, item: T) -> None:
        self._items.append(item)

    def first(self) -> T:
        """The item popleft would return; IndexError when empty."""
        return cast(T, self._items[self._head])

    def popleft(self) -> T:
        """Remove and return the oldest item; IndexError when empty."""
        item = self._items[self._head]
        self._items[self._head] = None
        self._head += 1
        if self._head == len(self._items):
            self.clear()
        elif self._head >= COMPACT_AFTER and self._head * 2 >= len(self._items):
            del self._items[:self._head]
            self._head = 0
        return cast(T, item)

    def clear(self) -> None:
        self._items.clear()
        self._head = 0
