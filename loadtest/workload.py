"""What the simulated scanners scan: fresh parent codes, run-unique child codes, and the dispatcher's
routine of one parent, then its children, then the next parent.

Parent codes are scarce (by default 100,000 per format, for ever), so they are handed out once per
run from a shared allocator that skips codes the database already holds and starts at a random
place, so that runs without a database rarely meet. Child codes carry a run-specific prefix.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

# The shape of the configured parent formats ("^SB[0-9]{5}$"): a literal prefix and N digits.
FORMAT_SHAPE = re.compile(r"^\^([A-Z0-9-]*)\[0-9\]\{(\d+)\}\$$")
DEFAULT_FORMATS: list[dict[str, Any]] = [
    {"name": "standard", "pattern": "^SB[0-9]{5}$", "capacity": 30},
    {"name": "mini", "pattern": "^M444-[0-9]{5}$", "capacity": 15},
]
"""The hub's default formats (docs/protocol.md); used where no welcome names them (echo mode)."""

CHILD_DIGITS = 8
MOVE_ON = frozenset({"WRONG_AREA", "PARENT_FULL", "PARENT_ON_BILL", "UNKNOWN_PARENT", "NOT_A_PARENT",
                     "INVALID_CODE", "FORBIDDEN"})
"""Rejections after which no further child fits the current parent: the operator takes the next one."""


@dataclass(frozen=True)
class ParentFormat:
    prefix: str
    digits: int
    capacity: int

    def code(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.digits}d}"


def parse_formats(formats: list[dict[str, Any]]) -> list[ParentFormat]:
    """The welcome's formats this generator can produce codes for (a literal prefix and digits)."""
    parsed = []
    for fmt in formats:
        shape = FORMAT_SHAPE.match(str(fmt.get("pattern", "")))
        if shape and isinstance(fmt.get("capacity"), int):
            parsed.append(ParentFormat(shape.group(1), int(shape.group(2)), fmt["capacity"]))
    if not parsed:
        raise ValueError(f"no parent format of the shape ^PREFIX[0-9]{{N}}$ among {formats!r}")
    return parsed


class ParentCodes:
    """Parent codes for every scanner of a run, each handed out once, formats taken in turn."""

    def __init__(self, taken: set[str], rng: random.Random) -> None:
        self._taken = taken
        self._rng = rng
        self._sources: list[tuple[ParentFormat, Iterator[str]]] = []
        self._turn = 0
        self.handed_out = 0

    def configure(self, formats: list[dict[str, Any]]) -> None:
        self._sources = [(fmt, self._codes(fmt)) for fmt in parse_formats(formats)]

    def _codes(self, fmt: ParentFormat) -> Iterator[str]:
        size = 10 ** fmt.digits
        start = self._rng.randrange(size)
        for offset in range(size):
            code = fmt.code((start + offset) % size)
            if code not in self._taken:
                yield code

    def next(self) -> tuple[str, int] | None:
        """A fresh parent code and its capacity; None when every format's codes are used up."""
        for _ in range(len(self._sources)):
            fmt, codes = self._sources[self._turn % len(self._sources)]
            self._turn += 1
            code = next(codes, None)
            if code is not None:
                self.handed_out += 1
                return code, fmt.capacity
        return None


class ChildCodes:
    """Child codes `PREFIX` + 8 digits, unique within the run; the prefix is the run's own."""

    def __init__(self, prefix: str) -> None:
        if not re.fullmatch(r"[A-Z0-9]{4,12}", prefix):
            raise ValueError("a child prefix is 4-12 characters of A-Z0-9")
        self.prefix = prefix
        self._next = 0

    def next(self) -> str:
        self._next += 1
        return f"{self.prefix}{self._next:0{CHILD_DIGITS}d}"


class Workflow:
    """One dispatcher's routine: scan a parent, then its children, then the next parent."""

    def __init__(self, parents: ParentCodes, children: ChildCodes) -> None:
        self._parents = parents
        self._children = children
        self._parent = ""
        self._left = 0

    def next_op(self) -> dict[str, Any] | None:
        """The next operation's fields; None when no parent code is left."""
        if self._left == 0:
            fresh = self._parents.next()
            if fresh is None:
                return None
            self._parent, self._left = fresh
            return {"op": "parent", "code": self._parent}
        self._left -= 1
        return {"op": "child", "code": self._children.next(), "parent": self._parent}

    def on_ack(self, op: dict[str, Any], code: str, data: dict[str, Any]) -> None:
        """A rejected or already full current parent is left: the next scan starts a new one."""
        if self._parent not in (op.get("parent"), op.get("code")):
            return
        if code in MOVE_ON or (op["op"] == "parent" and data.get("complete") is True):
            self._left = 0
