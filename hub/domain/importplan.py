"""What an import file's rows mean as scanner operations, and how each row's results read back.

Pure: the writer applies the operations with the same rules as a live scan; this module only says
which operations a row stands for and whether a row's results mean applied, already there, or bad.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from hub.codes import Code
from hub.domain.bagcodes import normalise
from hub.domain.rules import AddToBill, Operation, Outcome, ScanChild, ScanParent
from hub.domain.sheets import COLUMNS, Row

KINDS = tuple(COLUMNS)
MODES = ("all", "rows")
"""all: nothing is applied when any row is bad; rows: the good rows are applied, the bad reported."""


class RowResult(enum.StrEnum):
    APPLIED = "applied"
    ALREADY = "already"
    BAD = "bad"


@dataclass(frozen=True)
class PlannedRow:
    """A row and the operations it stands for, in order."""

    row: Row
    operations: tuple[Operation, ...]


def device_for(data: bytes, kind: str) -> str:
    """The writer device of an import of this file as this kind: the same file replays, so a
    second run changes nothing."""
    return "import:" + hashlib.sha256(data + kind.encode()).hexdigest()[:32]


def plan(rows: list[Row], kind: str, area: str | None) -> list[PlannedRow]:
    """Each row's operations. A links row scans its parent first (creating an unknown parent in
    `area`), the first time the file names that parent, then puts the child into it; a bills row
    adds its parent to its bill."""
    planned: list[PlannedRow] = []
    seen: set[str] = set()
    for row in rows:
        first, second = (normalise(cell) for cell in row.cells)
        if kind == "links":
            scan_parent = () if second in seen else (ScanParent(second, area),)
            seen.add(second)
            planned.append(PlannedRow(row, (*scan_parent, ScanChild(first, second))))
        else:
            planned.append(PlannedRow(row, (AddToBill(bill=second, parent=first),)))
    return planned


def in_effect(op: Operation, outcome: Outcome) -> bool:
    """The row asks for what already holds: the child is in that parent, the parent on that bill."""
    if isinstance(op, ScanChild):
        return outcome.code is Code.ALREADY_IN_PARENT
    if isinstance(op, AddToBill):
        return outcome.code is Code.ALREADY_ON_BILL and outcome.data.get("bill") == op.bill
    return False


def acceptable(op: Operation, outcome: Outcome) -> bool:
    """An outcome that does not make its row bad."""
    return outcome.ok or in_effect(op, outcome)


def row_result(planned: PlannedRow, outcomes: list[tuple[Outcome, bool]]) -> tuple[RowResult, Outcome | None]:
    """A row's verdict from its operations' (outcome, replayed): the first bad outcome makes it bad;
    a row whose every operation was replayed or already in effect is already there."""
    changed = False
    for op, (outcome, replayed) in zip(planned.operations, outcomes):
        if not acceptable(op, outcome):
            return RowResult.BAD, outcome
        changed = changed or (outcome.ok and not replayed and _changes(op, outcome))
    return (RowResult.APPLIED if changed else RowResult.ALREADY), None


def _changes(op: Operation, outcome: Outcome) -> bool:
    """An accepted operation that changed something (scanning an existing parent changes nothing)."""
    return not isinstance(op, ScanParent) or bool(outcome.data.get("created"))


def describe(outcome: Outcome) -> str:
    """A bad row's reason in words, with the details the rules gave (e.g. the other parent)."""
    details = ", ".join(f"{key} {value}" for key, value in outcome.data.items() if key in _DETAILS)
    return f"{outcome.code.message} ({details})" if details else outcome.code.message


_DETAILS = ("other_parent", "bill", "area", "parent", "count", "capacity", "reason")
