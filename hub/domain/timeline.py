"""How a bag's history reads: which scans rows are about a bag, and what kind of event each one is.

`scans.code` names a bag for most operations and a bill or a return ticket for the rest; `scans.target`
names a parent bag for the operations that put a child somewhere (or take it out of a parent).
The shared contract of issue 9 fixes the op names; this module is their one reading.
"""

from __future__ import annotations

import enum

NOT_A_BAG_OPS = frozenset({"bill_create", "bill_finish", "bill_reopen", "bill_edit",
                           "return_open", "return_finish", "return_cancel", "invalid"})
"""Operations whose `code` is a bill, a return ticket or nothing: never part of a bag's history."""
PARENT_TARGET_OPS = frozenset({"child", "move_child", "take_out"})
"""Operations whose `target` is a parent bag: they belong to that parent's history as well."""
CORRECTION_OPS = frozenset({"move_child", "take_out", "take_off_bill", "reassign_area", "delete_bag", "bill_edit"})
IMPORT_DEVICE_PREFIX = "import:"


class EventKind(enum.StrEnum):
    SCAN = "scan"
    UNDO = "undo"
    CORRECTION = "correction"
    IMPORT = "import"
    RETURN = "return"


def event_kind(op: str, device: str) -> EventKind:
    """The timeline kind of one scans row: imports first (they replay ordinary ops), then by op."""
    if device.startswith(IMPORT_DEVICE_PREFIX):
        return EventKind.IMPORT
    if op == "undo":
        return EventKind.UNDO
    if op in CORRECTION_OPS:
        return EventKind.CORRECTION
    if op.startswith("return_"):
        return EventKind.RETURN
    return EventKind.SCAN
