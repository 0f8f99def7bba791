"""The in-memory bag cache: bounded, filled from the bags each batch loads, updated on every commit.

It answers only what cannot go stale unnoticed: a parent's dispatch area changes only by an admin's
correction, whose batch updates (or drops) it here and on every hub, so a scan into a known parent
of another area is rejected at the edge. Everything that can change (links, counts)
is decided by the writer against locked rows: a stale cache never makes a wrong acceptance.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from hub import metrics
from hub.domain import rules
from hub.domain.rules import Actor, Bag, Operation, Outcome

_HITS = metrics.BAG_CACHE.labels("hit")
_MISSES = metrics.BAG_CACHE.labels("miss")
"""Bound once: `labels()` on every lookup, once per child scan, cost more than the lookup itself."""


class BagCache:
    """Parent bags' dispatch areas by code, least recently used evicted beyond `capacity`.

    Only parents: the precheck asks nothing of a child. Each entry is two strings, which Python's
    garbage collector does not track, so a full cache adds nothing to a collection's pause (a cache
    of `Bag` objects made a full collection take half a second).
    """

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._areas: OrderedDict[str, str] = OrderedDict()

    def __len__(self) -> int:
        return len(self._areas)

    def area(self, code: str) -> str | None:
        """The area of parent `code`, when it is known here."""
        area = self._areas.get(code)
        (_MISSES if area is None else _HITS).inc()
        if area is not None:
            self._areas.move_to_end(code)
        return area

    def update(self, bags: Iterable[Bag]) -> None:
        """Store the committed area of the parents among these bags."""
        for bag in bags:
            if bag.kind == "P":
                self._areas[bag.code] = bag.area
                self._areas.move_to_end(bag.code)
        while len(self._areas) > self._capacity:
            self._areas.popitem(last=False)

    def forget(self, codes: Iterable[str]) -> None:
        """Drop these bags (deleted, or changed by a correction); the next batch that needs one loads it."""
        for code in codes:
            self._areas.pop(code, None)

    def precheck(self, actor: Actor, op: Operation) -> Outcome | None:
        """A rejection certain from immutable facts, or None when the writer must decide."""
        parent_code = op.parent if isinstance(op, (rules.ScanChild, rules.AddToBill)) else None
        if parent_code is None:
            return None
        area = self.area(parent_code)
        if area is not None and not actor.may_enter(area):
            return rules.wrong_area(actor, area)
        return None
