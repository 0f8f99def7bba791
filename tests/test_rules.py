"""The domain rules by example: every result code `hub.domain.rules.apply` can answer, each with the
exact scenario that produces it, its data, and proof that a rejection changes nothing.

Pure functions over a `World`: no database, no network.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from hub.codes import Code
from hub.domain import rules
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import (
    Actor,
    AddToBill,
    CreateBill,
    DeleteBag,
    EditBill,
    FinishBill,
    MoveChild,
    Operation,
    Outcome,
    ReassignArea,
    ReopenBill,
    Role,
    ScanChild,
    ScanParent,
    TakeOffBill,
    TakeOut,
    Undo,
    World,
)

FORMATS = (
    ParentFormat("mini", "^M444-[0-9]{5}$", 15, Decimal(15)),
    ParentFormat("standard", "^SB[0-9]{5}$", 30, Decimal(30)),
)
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

RAVI = Actor(1, "ravi", Role.DISPATCHER, "lucknow")
SITA = Actor(2, "sita", Role.DISPATCHER, "lucknow")
IQBAL = Actor(3, "iqbal", Role.DISPATCHER, "indore")
BINA = Actor(4, "bina", Role.BILLER, "lucknow")
IRA = Actor(5, "ira", Role.BILLER, "indore")
ROOT = Actor(6, "root", Role.ADMIN, None)
ANU = Actor(7, "anu", Role.ADMIN, "lucknow")

# Codes the hub can send but the pure rules never decide.
NOT_FROM_RULES = {Code.BAD_REQUEST, Code.STALE_SEQ, Code.SEQ_TOO_FAR, Code.DEVICE_TAKEN, Code.CONFLICT, Code.RETRY,
                  Code.RATE_LIMITED}


def new_world(now: datetime = T0) -> World:
    return World(formats=FORMATS, now=now)


def ok(world: World, actor: Actor, op: Operation) -> Outcome:
    outcome = rules.apply(world, actor, op)
    assert outcome.code is Code.OK, (op, outcome)
    assert outcome.ok
    return outcome


def fill(world: World, actor: Actor, parent: str, prefix: str = "C", count: int | None = None) -> None:
    """Scan `parent`, then children into it until it holds `count` (default: its capacity)."""
    ok(world, actor, ScanParent(parent))
    bag = world.bags[parent]
    for n in range(bag.child_count, bag.capacity if count is None else count):
        ok(world, actor, ScanChild(f"{prefix}{''.join(filter(str.isalnum, parent))}{n:03d}", parent))


def parent_view(code: str, count: int, capacity: int) -> dict[str, Any]:
    return {"parent": code, "count": count, "capacity": capacity, "complete": count == capacity}


def bill_view(code: str, count: int, capacity: int, status: str, actual: int, expected: int) -> dict[str, Any]:
    return {"bill": code, "count": count, "capacity": capacity, "status": status,
            "actual_kg": f"{actual}.00", "expected_kg": f"{expected}.00"}


# --- the scenarios ----------------------------------------------------------------------------


@dataclass
class Scenario:
    """A world built by `setup`, then `actor` does `op`: the rules answer `code` with `data`."""

    name: str
    code: Code
    actor: Actor
    op: Operation
    data: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[World], None] = lambda world: None
    now: timedelta = timedelta(0)


def lucknow_parent(world: World) -> None:
    ok(world, RAVI, ScanParent("SB00001"))


def lucknow_parent_with_child(world: World) -> None:
    ok(world, RAVI, ScanParent("SB00001"))
    ok(world, RAVI, ScanChild("C0001", "SB00001"))


def two_parents_child_in_first(world: World) -> None:
    ok(world, RAVI, ScanParent("SB00001"))
    ok(world, RAVI, ScanParent("SB00002"))
    ok(world, RAVI, ScanChild("C0001", "SB00001"))


def full_parent(world: World) -> None:
    fill(world, RAVI, "SB00001")


def full_mini_parent(world: World) -> None:
    fill(world, RAVI, "M444-00001")


def open_bill(world: World) -> None:
    ok(world, BINA, CreateBill("B1", 2, "Delhi", "UP32 AB 1234"))


def full_parent_and_open_bill(world: World) -> None:
    full_parent(world)
    open_bill(world)


def parent_on_bill(world: World) -> None:
    full_parent_and_open_bill(world)
    ok(world, BINA, AddToBill("B1", "SB00001"))


def parent_on_completed_bill(world: World) -> None:
    parent_on_bill(world)
    ok(world, BINA, FinishBill("B1"))


def full_bill_and_another_full_parent(world: World) -> None:
    fill(world, RAVI, "SB00001")
    fill(world, RAVI, "M444-00001")
    ok(world, BINA, CreateBill("B1", 1))
    ok(world, BINA, AddToBill("B1", "SB00001"))


def completed_bill(world: World) -> None:
    parent_on_completed_bill(world)


def indore_full_parent_and_lucknow_bill(world: World) -> None:
    fill(world, IQBAL, "SB00009")
    open_bill(world)


def ravi_linked_two(world: World) -> None:
    ok(world, RAVI, ScanParent("SB00001"))
    ok(world, RAVI, ScanChild("C0001", "SB00001"))
    ok(world, RAVI, ScanChild("C0002", "SB00001"))


def ravi_filled_then_biller_billed(world: World) -> None:
    """Ravi's last action is the link that completed SB00001, which Bina then put on a bill."""
    full_parent_and_open_bill(world)
    ok(world, BINA, AddToBill("B1", "SB00001"))


def ravi_undid_his_link(world: World) -> None:
    lucknow_parent_with_child(world)
    ok(world, RAVI, Undo("C0001"))


def with_areas(world: World) -> None:
    world.areas |= {"lucknow", "indore"}


BILL_NUMBER = {"reason": "a bill number is 1-40 characters of A-Z 0-9 / _ -, starting with a letter or digit"}
CAPACITY = {"reason": "the capacity is 1-1000 parent bags"}

SCENARIOS = [
    # OK, with the exact data the scanner shows
    Scenario("first scan creates the parent", Code.OK, RAVI, ScanParent("SB00001"),
             {**parent_view("SB00001", 0, 30), "created": True}),
    Scenario("a mini parent holds 15", Code.OK, RAVI, ScanParent("M444-00001"),
             {**parent_view("M444-00001", 0, 15), "created": True}),
    Scenario("a rescan finds the parent", Code.OK, SITA, ScanParent("SB00001"),
             {**parent_view("SB00001", 1, 30), "created": False}, lucknow_parent_with_child),
    Scenario("an admin without an area scans any parent", Code.OK, ROOT, ScanParent("SB00001"),
             {**parent_view("SB00001", 0, 30), "created": False}, lucknow_parent),
    Scenario("a child goes into its parent", Code.OK, SITA, ScanChild("C0002", "SB00001"),
             {**parent_view("SB00001", 2, 30), "child": "C0002"}, lucknow_parent_with_child),
    Scenario("the last child completes the parent", Code.OK, RAVI, ScanChild("LAST1", "SB00001"),
             {**parent_view("SB00001", 30, 30), "child": "LAST1"},
             lambda world: fill(world, RAVI, "SB00001", count=29)),
    Scenario("a child left by an undo goes into another parent", Code.OK, SITA,
             ScanChild("C0001", "SB00002"), {**parent_view("SB00002", 1, 30), "child": "C0001"},
             lambda world: (ravi_undid_his_link(world), ok(world, SITA, ScanParent("SB00002")))),
    Scenario("undo of one's last link", Code.OK, RAVI, Undo("C0002"),
             {**parent_view("SB00001", 1, 30), "undone": "link", "child": "C0002"}, ravi_linked_two),
    Scenario("undo exactly one hour later", Code.OK, RAVI, Undo("C0001"),
             {**parent_view("SB00001", 0, 30), "undone": "link", "child": "C0001"},
             lucknow_parent_with_child, timedelta(hours=1)),
    Scenario("undo of one's last bill addition", Code.OK, BINA, Undo("SB00001"),
             {**bill_view("B1", 0, 2, "open", 0, 0), "undone": "bill_add", "parent": "SB00001"},
             parent_on_bill),
    Scenario("a biller creates a bill", Code.OK, BINA, CreateBill("B1", 2, "Delhi", "UP32"),
             bill_view("B1", 0, 2, "open", 0, 0)),
    Scenario("a bill of the largest capacity", Code.OK, ANU, CreateBill("B/2025-7", 1000, "x" * 200, "y" * 200),
             bill_view("B/2025-7", 0, 1000, "open", 0, 0)),
    Scenario("a complete parent goes on the bill", Code.OK, BINA, AddToBill("B1", "SB00001"),
             {**bill_view("B1", 1, 2, "open", 30, 30), "parent": "SB00001"}, full_parent_and_open_bill),
    Scenario("a mini parent weighs 15", Code.OK, BINA, AddToBill("B1", "M444-00001"),
             {**bill_view("B1", 1, 2, "open", 15, 15), "parent": "M444-00001"},
             lambda world: (full_mini_parent(world), open_bill(world))),
    Scenario("finish a bill", Code.OK, BINA, FinishBill("B1"),
             bill_view("B1", 1, 2, "completed", 30, 30), parent_on_bill),
    Scenario("reopen a bill", Code.OK, ROOT, ReopenBill("B1"),
             bill_view("B1", 1, 2, "open", 30, 30), completed_bill),
    Scenario("an admin creates a parent in the area they name", Code.OK, ROOT, ScanParent("SB00001", "indore"),
             {**parent_view("SB00001", 0, 30), "created": True}, with_areas),
    Scenario("an admin creates a bill in the area they name", Code.OK, ROOT, CreateBill("B1", 2, area="indore"),
             bill_view("B1", 0, 2, "open", 0, 0), with_areas),
    Scenario("an admin with an area may name another", Code.OK, ANU, ScanParent("SB00001", "indore"),
             {**parent_view("SB00001", 0, 30), "created": True}, with_areas),
    Scenario("a dispatcher may name their own area", Code.OK, RAVI, ScanParent("SB00001", "lucknow"),
             {**parent_view("SB00001", 0, 30), "created": True}),
    Scenario("the area named for a parent that exists is not used", Code.OK, ROOT, ScanParent("SB00001", "nowhere"),
             {**parent_view("SB00001", 0, 30), "created": False}, lucknow_parent),
    # INVALID_CODE
    Scenario("a parent scan of garbage", Code.INVALID_CODE, RAVI, ScanParent("AB")),
    Scenario("a parent scan of nothing", Code.INVALID_CODE, RAVI, ScanParent("")),
    Scenario("a child code with a dash", Code.INVALID_CODE, RAVI, ScanChild("C-001", "SB00001"),
             setup=lucknow_parent),
    Scenario("a child code of 3 characters", Code.INVALID_CODE, RAVI, ScanChild("C01", "SB00001"),
             setup=lucknow_parent),
    Scenario("a child code of 21 characters", Code.INVALID_CODE, RAVI, ScanChild("C" * 21, "SB00001"),
             setup=lucknow_parent),
    Scenario("a child into a garbage parent", Code.INVALID_CODE, RAVI, ScanChild("C0001", "SB-1")),
    Scenario("undo naming garbage", Code.INVALID_CODE, RAVI, Undo("??"), setup=lucknow_parent_with_child),
    Scenario("a bill addition of garbage", Code.INVALID_CODE, BINA, AddToBill("B1", "X!"), setup=open_bill),
    # NOT_A_PARENT
    Scenario("a child code scanned as parent", Code.NOT_A_PARENT, RAVI, ScanParent("C0001")),
    Scenario("SB and four digits is a child code", Code.NOT_A_PARENT, RAVI, ScanParent("SB0001")),
    Scenario("a child into a child", Code.NOT_A_PARENT, RAVI, ScanChild("C0002", "C0001"),
             setup=lucknow_parent_with_child),
    Scenario("a child code put on a bill", Code.NOT_A_PARENT, BINA, AddToBill("B1", "C0001"),
             setup=open_bill),
    # NOT_A_CHILD
    Scenario("a parent into a parent", Code.NOT_A_CHILD, RAVI, ScanChild("SB00002", "SB00001"),
             setup=lucknow_parent),
    Scenario("a mini parent into a parent", Code.NOT_A_CHILD, RAVI, ScanChild("M444-00001", "SB00001"),
             setup=lucknow_parent),
    # FORBIDDEN
    Scenario("a dispatcher creates a bill", Code.FORBIDDEN, RAVI, CreateBill("B1", 2)),
    Scenario("a dispatcher adds to a bill", Code.FORBIDDEN, RAVI, AddToBill("B1", "SB00001"),
             setup=full_parent_and_open_bill),
    Scenario("a dispatcher finishes a bill", Code.FORBIDDEN, RAVI, FinishBill("B1"), setup=parent_on_bill),
    Scenario("a dispatcher reopens a bill", Code.FORBIDDEN, SITA, ReopenBill("B1"), setup=completed_bill),
    # AREA_REQUIRED
    Scenario("an admin without an area creates a parent naming none", Code.AREA_REQUIRED, ROOT,
             ScanParent("SB00001")),
    Scenario("an admin without an area creates a bill naming none", Code.AREA_REQUIRED, ROOT, CreateBill("B1", 2)),
    # UNKNOWN_AREA
    Scenario("an admin names an area that does not exist", Code.UNKNOWN_AREA, ROOT, ScanParent("SB00001", "atlantis"),
             {"area": "atlantis"}, with_areas),
    Scenario("an admin's bill in an area that does not exist", Code.UNKNOWN_AREA, ANU,
             CreateBill("B1", 2, area="Lucknow"), {"area": "Lucknow"}, with_areas),
    # WRONG_AREA
    Scenario("another area's parent", Code.WRONG_AREA, IQBAL, ScanParent("SB00001"), {"area": "lucknow"},
             lucknow_parent),
    Scenario("a child into another area's parent", Code.WRONG_AREA, IQBAL, ScanChild("C0009", "SB00001"),
             {"area": "lucknow"}, lucknow_parent),
    Scenario("a bill addition to another area's bill", Code.WRONG_AREA, IRA, AddToBill("B1", "SB00001"),
             {"area": "lucknow"}, full_parent_and_open_bill),
    Scenario("another area's parent on a bill", Code.WRONG_AREA, ANU, AddToBill("B1", "SB00009"),
             {"area": "indore"}, indore_full_parent_and_lucknow_bill),
    Scenario("finishing another area's bill", Code.WRONG_AREA, IRA, FinishBill("B1"), {"area": "lucknow"},
             parent_on_bill),
    Scenario("a dispatcher names another area for a parent", Code.WRONG_AREA, RAVI, ScanParent("SB00001", "indore"),
             {"area": "indore"}),
    Scenario("a biller names another area for a bill", Code.WRONG_AREA, BINA, CreateBill("B1", 2, area="indore"),
             {"area": "indore"}),
    Scenario("reopening another area's bill", Code.WRONG_AREA, IRA, ReopenBill("B1"), {"area": "lucknow"},
             completed_bill),
    # UNKNOWN_PARENT
    Scenario("a child into a parent never scanned", Code.UNKNOWN_PARENT, RAVI, ScanChild("C0001", "SB00002"),
             {"parent": "SB00002"}, lucknow_parent),
    Scenario("a parent never scanned on a bill", Code.UNKNOWN_PARENT, BINA, AddToBill("B1", "SB00002"),
             {"parent": "SB00002"}, open_bill),
    # PARENT_FULL
    Scenario("a 31st child", Code.PARENT_FULL, SITA, ScanChild("EXTRA1", "SB00001"),
             parent_view("SB00001", 30, 30), full_parent),
    Scenario("a 16th child in a mini parent", Code.PARENT_FULL, RAVI, ScanChild("EXTRA1", "M444-00001"),
             parent_view("M444-00001", 15, 15), full_mini_parent),
    # ALREADY_LINKED
    Scenario("a child already in another parent", Code.ALREADY_LINKED, SITA, ScanChild("C0001", "SB00002"),
             {"other_parent": "SB00001"}, two_parents_child_in_first),
    # ALREADY_IN_PARENT
    Scenario("a child scanned twice", Code.ALREADY_IN_PARENT, RAVI, ScanChild("C0001", "SB00001"),
             parent_view("SB00001", 1, 30), lucknow_parent_with_child),
    Scenario("a child rescanned into its billed parent", Code.ALREADY_IN_PARENT, RAVI,
             ScanChild("CSB00001000", "SB00001"), parent_view("SB00001", 30, 30), parent_on_bill),
    # PARENT_ON_BILL
    Scenario("a child into a parent on a bill", Code.PARENT_ON_BILL, RAVI, ScanChild("NEW1", "SB00001"),
             {"bill": "B1"}, parent_on_bill),
    Scenario("undo of a link whose parent went on a bill", Code.PARENT_ON_BILL, RAVI, Undo("CSB00001029"),
             {"bill": "B1"}, ravi_filled_then_biller_billed),
    # NOTHING_TO_UNDO
    Scenario("undo with no action of one's own", Code.NOTHING_TO_UNDO, SITA, Undo("C0001"),
             setup=lucknow_parent_with_child),
    Scenario("undo twice", Code.NOTHING_TO_UNDO, RAVI, Undo("C0001"), setup=ravi_undid_his_link),
    # NOT_LAST_SCAN
    Scenario("undo of an earlier link", Code.NOT_LAST_SCAN, RAVI, Undo("C0001"), {"last": "C0002"},
             ravi_linked_two),
    Scenario("undo naming the parent of a link", Code.NOT_LAST_SCAN, RAVI, Undo("SB00001"), {"last": "C0001"},
             lucknow_parent_with_child),
    # UNDO_EXPIRED
    Scenario("undo just over an hour later", Code.UNDO_EXPIRED, RAVI, Undo("C0001"),
             setup=lucknow_parent_with_child, now=timedelta(hours=1, microseconds=1)),
    Scenario("undo of a bill addition a day later", Code.UNDO_EXPIRED, BINA, Undo("SB00001"),
             setup=parent_on_bill, now=timedelta(days=1)),
    # INVALID_BILL
    Scenario("a bill of capacity 0", Code.INVALID_BILL, BINA, CreateBill("B1", 0), CAPACITY),
    Scenario("a bill of capacity 1001", Code.INVALID_BILL, BINA, CreateBill("B1", 1001), CAPACITY),
    Scenario("a bill with no number", Code.INVALID_BILL, BINA, CreateBill("", 5), BILL_NUMBER),
    Scenario("a bill number starting with a dash", Code.INVALID_BILL, BINA, CreateBill("-B1", 5), BILL_NUMBER),
    Scenario("a bill number of 41 characters", Code.INVALID_BILL, BINA, CreateBill("B" * 41, 5), BILL_NUMBER),
    Scenario("a bill number that is a parent bag's code", Code.INVALID_BILL, BINA, CreateBill("SB00019", 5),
             {"reason": "a bill number cannot be a bag code (SB00019 is a standard parent bag)"}),
    Scenario("a bill number that is a mini parent's code", Code.INVALID_BILL, ROOT, CreateBill("M444-00001", 5),
             {"reason": "a bill number cannot be a bag code (M444-00001 is a mini parent bag)"}),
    Scenario("a destination of 201 characters", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "d" * 201),
             {"reason": "the destination is longer than 200 characters"}),
    Scenario("a vehicle of 201 characters", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "", "v" * 201),
             {"reason": "the vehicle is longer than 200 characters"}),
    Scenario("a NUL in the destination", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "Del\x00hi"),
             {"reason": "the destination has a control character (U+0000) at position 4"}),
    Scenario("a lone surrogate in the vehicle", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "", "UP\ud83d32"),
             {"reason": "the vehicle has an unpaired surrogate (U+D83D) at position 3"}),
    Scenario("a bidi override in the destination", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "\u202eihleD"),
             {"reason": "the destination has an invisible formatting character (U+202E) at position 1"}),
    Scenario("a zero-width space in the vehicle", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "", "UP\u200b32"),
             {"reason": "the vehicle has an invisible formatting character (U+200B) at position 3"}),
    Scenario("a line break in the destination", Code.INVALID_BILL, BINA, CreateBill("B1", 5, "Delhi\nNCR"),
             {"reason": "the destination has a control character (U+000A) at position 6"}),
    # BILL_EXISTS
    Scenario("a bill number taken", Code.BILL_EXISTS, IRA, CreateBill("B1", 5), {"bill": "B1"}, open_bill),
    # UNKNOWN_BILL
    Scenario("a parent onto a bill that does not exist", Code.UNKNOWN_BILL, BINA, AddToBill("B9", "SB00001"),
             {"bill": "B9"}, full_parent),
    Scenario("finishing a bill that does not exist", Code.UNKNOWN_BILL, BINA, FinishBill("B9"), {"bill": "B9"}),
    Scenario("reopening a bill that does not exist", Code.UNKNOWN_BILL, BINA, ReopenBill("B9"), {"bill": "B9"}),
    Scenario("a bill number that cannot exist", Code.UNKNOWN_BILL, BINA, FinishBill("B 1")),
    # BILL_NOT_OPEN
    Scenario("a parent onto a completed bill", Code.BILL_NOT_OPEN, BINA, AddToBill("B1", "M444-00001"),
             {"bill": "B1"}, lambda world: (parent_on_completed_bill(world), full_mini_parent(world))),
    Scenario("finishing a completed bill", Code.BILL_NOT_OPEN, BINA, FinishBill("B1"), {"bill": "B1"},
             completed_bill),
    Scenario("undo of a bill addition on a completed bill", Code.BILL_NOT_OPEN, BINA, Undo("SB00001"),
             {"bill": "B1"}, parent_on_completed_bill),
    # BILL_NOT_COMPLETED
    Scenario("reopening an open bill", Code.BILL_NOT_COMPLETED, BINA, ReopenBill("B1"), {"bill": "B1"},
             parent_on_bill),
    # BILL_FULL
    Scenario("a second parent onto a bill of one", Code.BILL_FULL, BINA, AddToBill("B1", "M444-00001"),
             bill_view("B1", 1, 1, "open", 30, 30), full_bill_and_another_full_parent),
    # BILL_EMPTY
    Scenario("finishing an empty bill", Code.BILL_EMPTY, BINA, FinishBill("B1"), {"bill": "B1"}, open_bill),
    # PARENT_INCOMPLETE
    Scenario("an incomplete parent onto a bill", Code.PARENT_INCOMPLETE, BINA, AddToBill("B1", "SB00001"),
             parent_view("SB00001", 29, 30),
             lambda world: (fill(world, RAVI, "SB00001", count=29), open_bill(world))),
    Scenario("an empty parent onto a bill", Code.PARENT_INCOMPLETE, BINA, AddToBill("B1", "SB00001"),
             parent_view("SB00001", 0, 30), lambda world: (lucknow_parent(world), open_bill(world))),
    # ALREADY_ON_BILL
    Scenario("a parent onto a second bill", Code.ALREADY_ON_BILL, BINA, AddToBill("B2", "SB00001"),
             {"bill": "B1"}, lambda world: (parent_on_bill(world), ok(world, BINA, CreateBill("B2", 3)))),
    Scenario("a parent onto its bill again", Code.ALREADY_ON_BILL, BINA, AddToBill("B1", "SB00001"),
             {"bill": "B1"}, parent_on_bill),
    Scenario("a parent on a completed bill onto another", Code.ALREADY_ON_BILL, ANU, AddToBill("B2", "SB00001"),
             {"bill": "B1"},
             lambda world: (parent_on_completed_bill(world), ok(world, BINA, CreateBill("B2", 3)))),
]



def child_and_two_parents(world: World) -> None:
    """C0001 in SB00001 (Ravi's last link); SB00002 empty; all in lucknow."""
    two_parents_child_in_first(world)


def child_and_indore_parent(world: World) -> None:
    lucknow_parent_with_child(world)
    ok(world, IQBAL, ScanParent("SB00009"))


def loose_child(world: World) -> None:
    ravi_undid_his_link(world)


def reassignable(world: World) -> None:
    """SB00001 in lucknow holding C0001 and C0002; the areas exist."""
    ravi_linked_two(world)
    with_areas(world)


SCENARIOS += [
    # Corrections (admin) and bill edits
    Scenario("an admin moves a child to another parent", Code.OK, ROOT, MoveChild("C0001", "SB00002"),
             {**parent_view("SB00002", 1, 30), "child": "C0001", "left": "SB00001",
              "from": parent_view("SB00001", 0, 30)}, child_and_two_parents),
    Scenario("an admin takes a child out", Code.OK, ANU, TakeOut("C0001"),
             {**parent_view("SB00001", 0, 30), "child": "C0001", "left": "SB00001"}, lucknow_parent_with_child),
    Scenario("an admin takes a parent off an open bill", Code.OK, ROOT, TakeOffBill("SB00001"),
             {**bill_view("B1", 0, 2, "open", 0, 0), "parent": "SB00001", "left": "B1"}, parent_on_bill),
    Scenario("an admin reassigns a parent with its children", Code.OK, ROOT, ReassignArea("SB00001", "indore"),
             {**parent_view("SB00001", 2, 30), "area": "indore", "from_area": "lucknow", "children": 2},
             reassignable),
    Scenario("an admin deletes a loose child", Code.OK, ROOT, DeleteBag("C0001"),
             {"code": "C0001", "kind": "child", "area": "lucknow"}, loose_child),
    Scenario("an admin deletes an empty parent", Code.OK, ROOT, DeleteBag("SB00001"),
             {"code": "SB00001", "kind": "parent", "area": "lucknow"}, lucknow_parent),
    Scenario("a biller fixes the vehicle of a finished bill", Code.OK, BINA, EditBill("B1", vehicle="UP32 ZZ 9"),
             {**bill_view("B1", 1, 2, "completed", 30, 30), "destination": "Delhi", "vehicle": "UP32 ZZ 9"},
             completed_bill),
    Scenario("an admin edits both texts", Code.OK, ROOT, EditBill("B1", "Agra", ""),
             {**bill_view("B1", 0, 2, "open", 0, 0), "destination": "Agra", "vehicle": ""}, open_bill),
    Scenario("a dispatcher moves a child", Code.FORBIDDEN, RAVI, MoveChild("C0001", "SB00002"),
             setup=child_and_two_parents),
    Scenario("a biller deletes a bag", Code.FORBIDDEN, BINA, DeleteBag("SB00001"), setup=lucknow_parent),
    Scenario("a dispatcher edits a bill", Code.FORBIDDEN, RAVI, EditBill("B1", vehicle="X"), setup=open_bill),
    Scenario("a biller edits another area's bill", Code.WRONG_AREA, IRA, EditBill("B1", vehicle="X"),
             {"area": "lucknow"}, open_bill),
    Scenario("a move into another area's parent", Code.WRONG_AREA, ROOT, MoveChild("C0001", "SB00009"),
             {"area": "indore"}, child_and_indore_parent),
    Scenario("a move of a bag that does not exist", Code.UNKNOWN_BAG, ROOT, MoveChild("C0009", "SB00001"),
             {"bag": "C0009"}, lucknow_parent),
    Scenario("a take-off of a parent that does not exist", Code.UNKNOWN_BAG, ROOT, TakeOffBill("SB00005"),
             {"bag": "SB00005"}),
    Scenario("a delete of a bag that does not exist", Code.UNKNOWN_BAG, ROOT, DeleteBag("C0009"), {"bag": "C0009"}),
    Scenario("a move into a parent that does not exist", Code.UNKNOWN_PARENT, ROOT, MoveChild("C0001", "SB00005"),
             {"parent": "SB00005"}, lucknow_parent_with_child),
    Scenario("a move of a loose child", Code.NOT_IN_PARENT, ROOT, MoveChild("C0001", "SB00001"),
             {"bag": "C0001"}, loose_child),
    Scenario("a take-out of a loose child", Code.NOT_IN_PARENT, ROOT, TakeOut("C0001"), {"bag": "C0001"},
             loose_child),
    Scenario("a move into the parent it is in", Code.ALREADY_IN_PARENT, ROOT, MoveChild("C0001", "SB00001"),
             parent_view("SB00001", 1, 30), lucknow_parent_with_child),
    Scenario("a move into a full parent", Code.PARENT_FULL, ROOT, MoveChild("C0001", "SB00002"),
             parent_view("SB00002", 30, 30),
             lambda world: (lucknow_parent_with_child(world), fill(world, SITA, "SB00002"))),
    Scenario("a move out of a parent on a bill", Code.PARENT_ON_BILL, ROOT, MoveChild("CSB00001000", "SB00002"),
             {"bill": "B1"}, lambda world: (parent_on_bill(world), ok(world, RAVI, ScanParent("SB00002")))),
    Scenario("a move into a parent on a bill", Code.PARENT_ON_BILL, ROOT, MoveChild("C0001", "SB00002"),
             {"bill": "B1"}, lambda world: (lucknow_parent_with_child(world), fill(world, RAVI, "SB00002"),
                                            open_bill(world), ok(world, BINA, AddToBill("B1", "SB00002")))),
    Scenario("a take-out from a parent on a bill", Code.PARENT_ON_BILL, ROOT, TakeOut("CSB00001000"),
             {"bill": "B1"}, parent_on_bill),
    Scenario("a reassign of a parent on a bill", Code.PARENT_ON_BILL, ROOT, ReassignArea("SB00001", "indore"),
             {"bill": "B1"}, lambda world: (parent_on_bill(world), with_areas(world))),
    Scenario("a take-off of a parent on no bill", Code.NOT_ON_BILL, ROOT, TakeOffBill("SB00001"),
             {"bag": "SB00001"}, full_parent),
    Scenario("a take-off from a finished bill", Code.BILL_NOT_OPEN, ROOT, TakeOffBill("SB00001"),
             {"bill": "B1"}, completed_bill),
    Scenario("a reassign to its own area", Code.SAME_AREA, ROOT, ReassignArea("SB00001", "lucknow"),
             {"area": "lucknow"}, reassignable),
    Scenario("a reassign to an area that does not exist", Code.UNKNOWN_AREA, ROOT,
             ReassignArea("SB00001", "atlantis"), {"area": "atlantis"}, reassignable),
    Scenario("a delete of a parent holding children", Code.BAG_NOT_EMPTY, ROOT, DeleteBag("SB00001"),
             {"count": 2}, ravi_linked_two),
    Scenario("a delete of a child in a parent", Code.BAG_IN_PARENT, ROOT, DeleteBag("C0001"),
             {"parent": "SB00001"}, lucknow_parent_with_child),
    Scenario("a delete of a parent on a bill", Code.BAG_ON_BILL, ROOT, DeleteBag("SB00001"),
             {"bill": "B1"}, parent_on_bill),
    Scenario("a move of a parent", Code.NOT_A_CHILD, ROOT, MoveChild("SB00002", "SB00001"), setup=lucknow_parent),
    Scenario("a move into a child", Code.NOT_A_PARENT, ROOT, MoveChild("C0001", "C0002"),
             setup=lucknow_parent_with_child),
    Scenario("a reassign of a child", Code.NOT_A_PARENT, ROOT, ReassignArea("C0001", "indore"),
             setup=lucknow_parent_with_child),
    Scenario("a take-out of garbage", Code.INVALID_CODE, ROOT, TakeOut("C-1")),
    Scenario("a delete of garbage", Code.INVALID_CODE, ROOT, DeleteBag("??")),
    Scenario("a vehicle of 201 characters in an edit", Code.INVALID_BILL, BINA, EditBill("B1", vehicle="v" * 201),
             {"reason": "the vehicle is longer than 200 characters"}, open_bill),
]

def test_every_code_the_rules_can_answer_has_a_scenario() -> None:
    assert {s.code for s in SCENARIOS} == set(Code) - NOT_FROM_RULES


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: f"{s.code.value}: {s.name}")
def test_scenario(scenario: Scenario) -> None:
    world = new_world()
    scenario.setup(world)
    world.now = T0 + scenario.now
    before = copy.deepcopy(world)
    outcome = rules.apply(world, scenario.actor, scenario.op)
    assert outcome.code is scenario.code, outcome
    assert outcome.ok is (scenario.code is Code.OK)
    assert outcome.data == scenario.data
    if scenario.code is not Code.OK:
        assert world == before, "a rejected operation changed the world"
    else:
        assert world != before or isinstance(scenario.op, ScanParent)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s.code is not Code.OK],
                         ids=lambda s: f"{s.code.value}: {s.name}")
def test_validate_answers_exactly_the_stateless_rejections(scenario: Scenario) -> None:
    """`validate` (the edge's instant answer) agrees with `apply` whenever it answers at all."""
    verdict = rules.validate(scenario.actor, scenario.op, FORMATS)
    if verdict is not None:
        assert verdict.code is scenario.code
        assert verdict.data == scenario.data


# --- effects of the accepted operations, beyond the answer ------------------------------------


def test_a_created_parent_takes_the_format_and_the_operators_area() -> None:
    world = new_world()
    ok(world, IQBAL, ScanParent("M444-00042"))
    bag = world.bags["M444-00042"]
    assert (bag.kind, bag.area, bag.format, bag.capacity, bag.expected_kg, bag.child_count) == (
        "P", "indore", "mini", 15, Decimal(15), 0)


def test_a_child_inherits_its_parents_area_and_records_the_link() -> None:
    world = new_world()
    ok(world, IQBAL, ScanParent("SB00001"))
    ok(world, ROOT, ScanChild("C0001", "SB00001"))
    child = world.bags["C0001"]
    assert (child.kind, child.area, child.parent, child.bill) == ("C", "indore", "SB00001", None)
    assert world.bags["SB00001"].child_count == 1
    assert world.last_action[ROOT.user_id] == rules.LastAction("link", "C0001", T0)


def test_undo_takes_the_child_out_and_forgets_the_last_action() -> None:
    world = new_world()
    ravi_linked_two(world)
    ok(world, RAVI, Undo("C0002"))
    assert world.bags["C0002"].parent is None
    assert world.bags["C0001"].parent == "SB00001"
    assert world.bags["SB00001"].child_count == 1
    assert RAVI.user_id not in world.last_action


def test_a_bill_addition_and_its_undo_move_weights_and_counts() -> None:
    world = new_world()
    fill(world, RAVI, "SB00001")
    fill(world, RAVI, "M444-00001")
    ok(world, BINA, CreateBill("B1", 2, "Delhi", "UP32"))
    ok(world, BINA, AddToBill("B1", "SB00001"))
    outcome = ok(world, BINA, AddToBill("B1", "M444-00001"))
    assert outcome.data == {**bill_view("B1", 2, 2, "open", 45, 45), "parent": "M444-00001"}
    bill = world.bills["B1"]
    assert (bill.area, bill.destination, bill.vehicle) == ("lucknow", "Delhi", "UP32")
    assert world.bags["M444-00001"].bill == "B1"
    undone = ok(world, BINA, Undo("M444-00001"))
    assert undone.data == {**bill_view("B1", 1, 2, "open", 30, 30), "undone": "bill_add",
                           "parent": "M444-00001"}
    assert world.bags["M444-00001"].bill is None
    assert (bill.parent_count, bill.actual_kg, bill.expected_kg) == (1, 30, 30)


def test_a_bill_goes_open_completed_reopened_and_can_change_again() -> None:
    world = new_world()
    parent_on_bill(world)
    ok(world, BINA, FinishBill("B1"))
    assert world.bills["B1"].status == "completed"
    ok(world, ANU, ReopenBill("B1"))
    assert world.bills["B1"].status == "open"
    ok(world, BINA, Undo("SB00001"))
    assert world.bills["B1"].parent_count == 0
    rejected = rules.apply(world, BINA, FinishBill("B1"))
    assert rejected.code is Code.BILL_EMPTY


def test_a_link_after_a_bill_addition_is_the_last_action() -> None:
    """The last undoable action is whichever came last, link or bill addition."""
    world = new_world()
    fill(world, ANU, "SB00001")
    ok(world, BINA, CreateBill("B1", 2))
    ok(world, ANU, AddToBill("B1", "SB00001"))
    ok(world, ANU, ScanParent("SB00002"))
    ok(world, ANU, ScanChild("Z0001", "SB00002"))
    assert rules.apply(world, ANU, Undo("SB00001")).code is Code.NOT_LAST_SCAN
    assert ok(world, ANU, Undo("Z0001")).data["undone"] == "link"


def test_the_undo_window_is_measured_from_the_action() -> None:
    world = new_world()
    lucknow_parent_with_child(world)
    world.now = T0 + timedelta(minutes=50)
    ok(world, RAVI, ScanChild("C0002", "SB00001"))
    world.now = T0 + timedelta(minutes=50) + timedelta(hours=1)
    assert ok(world, RAVI, Undo("C0002")).data["count"] == 1


def test_operation_code_and_target_name_what_a_scan_is_about() -> None:
    assert (rules.operation_code(ScanChild("C1", "SB00001")), rules.operation_target(ScanChild("C1", "SB00001"))) \
        == ("C1", "SB00001")
    assert (rules.operation_code(AddToBill("B1", "SB00001")), rules.operation_target(AddToBill("B1", "SB00001"))) \
        == ("SB00001", "B1")
    assert (rules.operation_code(FinishBill("B1")), rules.operation_target(FinishBill("B1"))) == ("B1", "")
    assert (rules.operation_code(ReopenBill("B1")), rules.operation_code(CreateBill("B2", 1))) == ("B1", "B2")
    assert (rules.operation_code(ScanParent("SB00001")), rules.operation_code(Undo("C1"))) == ("SB00001", "C1")
