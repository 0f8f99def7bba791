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
from hub.codes import Code
from hub.domain import rules
from hub.domain.rules import Actor, Bag, Operation, Outcome


class BagCache:
    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._bags: OrderedDict[str, Bag] = OrderedDict()

    def __len__(self) -> int:
        return len(self._bags)

    def get(self, code: str) -> Bag | None:
        bag = self._bags.get(code)
        metrics.BAG_CACHE.labels("miss" if bag is None else "hit").inc()
        if bag is not None:
            self._bags.move_to_end(code)
        return bag

    def update(self, bags: Iterable[Bag]) -> None:
        """Store the committed state of these bags, evicting the least recently used beyond capacity."""
        for bag in bags:
            self._bags[bag.code] = bag
            self._bags.move_to_end(bag.code)
        while len(self._bags) > self._capacity:
            self._bags.popitem(last=False)

    def forget(self, codes: Iterable[str]) -> None:
        """Drop these bags (deleted, or changed by a correction); the next batch that needs one loads it."""
        for code in codes:
            self._bags.pop(code, None)

    def precheck(self, actor: Actor, op: Operation) -> Outcome | None:
        """A rejection certain from immutable facts, or None when the writer must decide."""
        parent_code = op.parent if isinstance(op, (rules.ScanChild, rules.AddToBill)) else None
        if parent_code is None:
            return None
        parent = self.get(parent_code)
        if parent is not None and parent.kind == "P" and not actor.may_enter(parent.area):
            return Outcome(Code.WRONG_AREA, {"area": parent.area})
        return None
