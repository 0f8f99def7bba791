"""The rules of scanning, as pure functions over an in-memory `World`.

The batch writer fills a `World` from rows it has locked in PostgreSQL and applies each operation of
the batch in order; the HTTP API and imports go through the same writer, so each rule has one code
path. Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from hub.codes import Code
from hub.domain.bagcodes import CHILD_PATTERN, ParentFormat, is_bill_code, is_child_code, parent_format
from hub.domain.text import text_problem

UNDO_WINDOW = timedelta(hours=1)
MAX_BILL_CAPACITY = 1000
MAX_TEXT = 200


class Role(enum.StrEnum):
    ADMIN = "admin"
    BILLER = "biller"
    DISPATCHER = "dispatcher"


@dataclass(frozen=True)
class Actor:
    """Who performs an operation, with the rights that follow from the role and dispatch area."""

    user_id: int
    username: str
    role: Role
    area: str | None

    def may_enter(self, area: str) -> bool:
        return self.role is Role.ADMIN or self.area == area

    @property
    def may_bill(self) -> bool:
        return self.role in (Role.ADMIN, Role.BILLER)


# --- operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScanParent:
    """Scan a parent bag: created on first scan, in the operator's area (or the one an admin names)."""

    code: str
    area: str | None = None
    op = "parent"


@dataclass(frozen=True)
class ScanChild:
    """Put a child bag into the named parent."""

    code: str
    parent: str
    op = "child"


@dataclass(frozen=True)
class Undo:
    """Undo the operator's own last link (child into parent) or bill addition, naming its bag."""

    code: str
    op = "undo"


@dataclass(frozen=True)
class CreateBill:
    """Create an open bill, in the operator's area (or the one an admin names)."""

    code: str
    capacity: int
    destination: str = ""
    vehicle: str = ""
    area: str | None = None
    op = "bill_create"


@dataclass(frozen=True)
class AddToBill:
    bill: str
    parent: str
    op = "bill_add"


@dataclass(frozen=True)
class FinishBill:
    bill: str
    op = "bill_finish"


@dataclass(frozen=True)
class ReopenBill:
    bill: str
    op = "bill_reopen"


# Corrections: an admin fixing what scanning got wrong. Each is audited as `action` on its bag.


@dataclass(frozen=True)
class MoveChild:
    """Move a child bag from the parent it is in to another parent of the same dispatch area."""

    code: str
    parent: str
    op = "move_child"
    action = "bag.move"


@dataclass(frozen=True)
class TakeOut:
    """Take a child bag out of its parent; it stays a (loose) child bag."""

    code: str
    op = "take_out"
    action = "bag.take_out"


@dataclass(frozen=True)
class TakeOffBill:
    """Take a parent bag off its (open) bill."""

    code: str
    op = "take_off_bill"
    action = "bag.take_off_bill"


@dataclass(frozen=True)
class ReassignArea:
    """Move a parent bag, with every child in it, to another dispatch area."""

    code: str
    area: str
    op = "reassign_area"
    action = "bag.reassign"


@dataclass(frozen=True)
class DeleteBag:
    """Delete a bag created by mistake: only an empty, loose one (its scan history stays)."""

    code: str
    op = "delete_bag"
    action = "bag.delete"


@dataclass(frozen=True)
class EditBill:
    """Change a bill's destination or vehicle (None leaves it as it is), open or finished."""

    bill: str
    destination: str | None = None
    vehicle: str | None = None
    op = "bill_edit"
    action = "bill.edit"


Correction = MoveChild | TakeOut | TakeOffBill | ReassignArea | DeleteBag
CORRECTIONS = (MoveChild, TakeOut, TakeOffBill, ReassignArea, DeleteBag)
Audited = Correction | EditBill
AUDITED = (*CORRECTIONS, EditBill)



@dataclass(frozen=True)
class ReturnOpen:
    """Open a return ticket in the operator's area (or the one an admin names), or resume an open one."""

    code: str
    area: str | None = None
    op = "return_open"


@dataclass(frozen=True)
class ReturnAdd:
    """A parent came back: it goes onto the open ticket and off its bill."""

    ticket: str
    parent: str
    op = "return_add"


@dataclass(frozen=True)
class ReturnFinish:
    """Finalise a ticket: its parents stay off their bills, free to go on another."""

    ticket: str
    op = "return_finish"


@dataclass(frozen=True)
class ReturnCancel:
    """Cancel a ticket: every parent on it goes back onto the bill it came off."""

    ticket: str
    op = "return_cancel"


ReturnOperation = ReturnOpen | ReturnAdd | ReturnFinish | ReturnCancel
Operation = (ScanParent | ScanChild | Undo | CreateBill | AddToBill | FinishBill | ReopenBill
             | MoveChild | TakeOut | TakeOffBill | ReassignArea | DeleteBag | EditBill | ReturnOperation)
RETURN_OPERATIONS = (ReturnOpen, ReturnAdd, ReturnFinish, ReturnCancel)


def operation_code(op: Operation) -> str:
    """The bag, bill or ticket code an operation is about (recorded as the scan's `code`)."""
    if isinstance(op, (AddToBill, ReturnAdd)):
        return op.parent
    if isinstance(op, (FinishBill, ReopenBill, EditBill)):
        return op.bill
    if isinstance(op, (ReturnFinish, ReturnCancel)):
        return op.ticket
    return op.code


def operation_target(op: Operation, outcome: Outcome | None = None) -> str:
    """The parent, bill, area or return ticket an operation names (recorded as the scan's `target`).

    A take-out or take-off names the parent or bill the bag left, which only `apply` knows: its
    outcome says (`left`)."""
    if isinstance(op, (TakeOut, TakeOffBill)):
        return str(outcome.data.get("left", "")) if outcome is not None else ""
    if isinstance(op, (ScanChild, MoveChild)):
        return op.parent
    if isinstance(op, AddToBill):
        return op.bill
    if isinstance(op, ReassignArea):
        return op.area
    if isinstance(op, ReturnAdd):
        return op.ticket
    return ""


# --- state ------------------------------------------------------------------------------------


@dataclass
class Bag:
    """One bag as the rules see it. `parent` is a child's parent code, `bill` a parent's bill code."""

    code: str
    kind: str
    area: str
    id: int | None = None
    format: str | None = None
    capacity: int = 0
    expected_kg: Decimal = Decimal(0)
    child_count: int = 0
    parent: str | None = None
    bill: str | None = None
    # As loaded, for the live counters: when the current link was made, when the parent filled up.
    linked_at: datetime | None = None
    completed_at: datetime | None = None

    @property
    def complete(self) -> bool:
        return self.kind == "P" and self.child_count == self.capacity


@dataclass
class Bill:
    code: str
    capacity: int
    area: str
    id: int | None = None
    parent_count: int = 0
    status: str = "open"
    destination: str = ""
    vehicle: str = ""
    actual_kg: Decimal = Decimal(0)
    expected_kg: Decimal = Decimal(0)


@dataclass
class Ticket:
    """A return ticket: `parents` maps each parent returned on it to the bill it came off."""

    code: str
    area: str
    id: int | None = None
    status: str = "open"
    parents: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class LastAction:
    """An operator's most recent link or bill addition that is still in effect."""

    kind: str  # "link" | "bill_add"
    code: str
    at: datetime


@dataclass
class World:
    """The slice of state a batch of operations reads and changes.

    `last_action` holds, per user id, their last undoable action; a user missing from it has none
    loaded, and such a user's undo is answered NOTHING_TO_UNDO. `areas` holds the dispatch areas that
    exist, at least those the operations name. `deleted` collects the bags deleted, in order.
    `tickets` holds the return tickets the operations name; `returning` maps parents on an open
    ticket to that ticket, at least those the operations put on a bill or return.
    """

    formats: tuple[ParentFormat, ...]
    now: datetime
    bags: dict[str, Bag] = field(default_factory=dict)
    bills: dict[str, Bill] = field(default_factory=dict)
    last_action: dict[int, LastAction | None] = field(default_factory=dict)
    areas: set[str] = field(default_factory=set)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    returning: dict[str, str] = field(default_factory=dict)
    deleted: list[Bag] = field(default_factory=list)

    def children(self, parent: str) -> list[Bag]:
        """The loaded children of `parent` (all of them, for a batch that reassigns it)."""
        return [bag for bag in self.bags.values() if bag.parent == parent]


@dataclass(frozen=True)
class Outcome:
    """The verdict on one operation: a result code and what the scanner shows with it."""

    code: Code
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.code is Code.OK


def _reject(code: Code, **data: Any) -> Outcome:
    return Outcome(code, data)


def _parent_view(bag: Bag) -> dict[str, Any]:
    return {"parent": bag.code, "count": bag.child_count, "capacity": bag.capacity,
            "complete": bag.complete}


def kg(weight: Decimal | int) -> str:
    """A weight as the hub shows it everywhere: a decimal string with two places ("15.00")."""
    return f"{Decimal(weight):.2f}"


def _bill_view(bill: Bill) -> dict[str, Any]:
    return {"bill": bill.code, "count": bill.parent_count, "capacity": bill.capacity,
            "status": bill.status, "actual_kg": kg(bill.actual_kg),
            "expected_kg": kg(bill.expected_kg)}


# --- stateless checks -------------------------------------------------------------------------


def validate(actor: Actor, op: Operation, formats: tuple[ParentFormat, ...]) -> Outcome | None:
    """Rejections that need no state: code formats and role. None when the operation may proceed.

    The hub's session runs this at the edge for an instant answer; `apply` runs it again, so a rule
    exists once.
    """
    if isinstance(op, RETURN_OPERATIONS):
        return _validate_return(actor, op, formats)
    if isinstance(op, ScanParent):
        return _check_parent_code(op.code, formats) or _check_named_area(actor, op.area)
    if isinstance(op, CORRECTIONS) and actor.role is not Role.ADMIN:
        return _reject(Code.FORBIDDEN)
    if isinstance(op, (ScanChild, MoveChild)):
        return _check_child_code(op.code, formats) or _check_parent_code(op.parent, formats)
    if isinstance(op, TakeOut):
        return _check_child_code(op.code, formats)
    if isinstance(op, (TakeOffBill, ReassignArea)):
        return _check_parent_code(op.code, formats)
    if isinstance(op, (Undo, DeleteBag)):
        if parent_format(op.code, formats) is None and not is_child_code(op.code, formats):
            return _reject(Code.INVALID_CODE)
        return None
    if not actor.may_bill:
        return _reject(Code.FORBIDDEN)
    if isinstance(op, CreateBill):
        problem = _bill_problem(op, formats)
        if problem is not None:
            return _reject(Code.INVALID_BILL, reason=problem)
        return _check_named_area(actor, op.area)
    if not is_bill_code(op.bill):
        return _reject(Code.UNKNOWN_BILL)
    if isinstance(op, AddToBill):
        return _check_parent_code(op.parent, formats)
    if isinstance(op, EditBill):
        problem = _text_problem(destination=op.destination, vehicle=op.vehicle)
        return _reject(Code.INVALID_BILL, reason=problem) if problem is not None else None
    return None


def _text_problem(**fields: str | None) -> str | None:
    """What is wrong with a bill's destination or vehicle (None values are not checked)."""
    for name, value in fields.items():
        problem = text_problem(value, MAX_TEXT) if value is not None else None
        if problem is not None:
            return f"the {name} {problem}"
    return None


def _bill_problem(op: CreateBill, formats: tuple[ParentFormat, ...]) -> str | None:
    """What is wrong with a new bill's details, in words; None when nothing is."""
    if not is_bill_code(op.code):
        return "a bill number is 1-40 characters of A-Z 0-9 / _ -, starting with a letter or digit"
    fmt = parent_format(op.code, formats)
    if fmt is not None:
        return f"a bill number cannot be a bag code ({op.code} is a {fmt.name} parent bag)"
    if not 1 <= op.capacity <= MAX_BILL_CAPACITY:
        return f"the capacity is 1-{MAX_BILL_CAPACITY} parent bags"
    return _text_problem(destination=op.destination, vehicle=op.vehicle)


def wrong_area(actor: Actor, area: str, **data: Any) -> Outcome:
    """WRONG_AREA, naming the other area to an admin only: a dispatcher or biller learns that the bag,
    bill or ticket is not theirs, never where it is (the rejection is stored and listed with their scans)."""
    if actor.role is Role.ADMIN:
        data["area"] = area
    return _reject(Code.WRONG_AREA, **data)


def _check_named_area(actor: Actor, area: str | None) -> Outcome | None:
    """Only an admin may name a dispatch area other than their own."""
    if area is not None and actor.role is not Role.ADMIN and area != actor.area:
        return _reject(Code.WRONG_AREA, area=area)
    return None


def _new_area(world: World, actor: Actor, named: str | None) -> str | Outcome:
    """The dispatch area a new parent or bill goes to: the one named, else the operator's own."""
    area = named if named is not None else actor.area
    if area is None:
        return _reject(Code.AREA_REQUIRED)
    if area != actor.area and area not in world.areas:
        return _reject(Code.UNKNOWN_AREA, area=area)
    return area


def _check_child_code(code: str, formats: tuple[ParentFormat, ...]) -> Outcome | None:
    if parent_format(code, formats) is not None:
        return _reject(Code.NOT_A_CHILD)
    if CHILD_PATTERN.match(code) is None:  # `is_child_code`, its parent formats already ruled out
        return _reject(Code.INVALID_CODE)
    return None


def _check_parent_code(code: str, formats: tuple[ParentFormat, ...]) -> Outcome | None:
    if parent_format(code, formats) is not None:
        return None
    if is_child_code(code, formats):
        return _reject(Code.NOT_A_PARENT)
    return _reject(Code.INVALID_CODE)


# --- the rules --------------------------------------------------------------------------------


def apply(world: World, actor: Actor, op: Operation) -> Outcome:
    """Decide one operation against `world`; on OK, change `world` to its effect."""
    rejected = validate(actor, op, world.formats)
    if rejected is not None:
        return rejected
    handler: Callable[[World, Actor, Any], Outcome] = _HANDLERS[type(op)]
    return handler(world, actor, op)


def _scan_parent(world: World, actor: Actor, op: ScanParent) -> Outcome:
    bag = world.bags.get(op.code)
    if bag is None:
        area = _new_area(world, actor, op.area)
        if isinstance(area, Outcome):
            return area
        fmt = parent_format(op.code, world.formats)
        assert fmt is not None  # validate() admitted only parent codes
        bag = Bag(code=op.code, kind="P", area=area, format=fmt.name,
                  capacity=fmt.capacity, expected_kg=fmt.expected_kg)
        world.bags[op.code] = bag
        return Outcome(Code.OK, {**_parent_view(bag), "created": True})
    if not actor.may_enter(bag.area):
        return wrong_area(actor, bag.area)
    return Outcome(Code.OK, {**_parent_view(bag), "created": False})


def _find_parent(world: World, actor: Actor, code: str) -> Bag | Outcome:
    parent = world.bags.get(code)
    if parent is None:
        return _reject(Code.UNKNOWN_PARENT, parent=code)
    if not actor.may_enter(parent.area):
        return wrong_area(actor, parent.area)
    return parent


def _check_room(parent: Bag, child: Bag | None) -> Outcome | None:
    """Why `child` (None: a new one) cannot go into `parent`, or None when it can."""
    if child is not None and child.parent == parent.code:
        return _reject(Code.ALREADY_IN_PARENT, **_parent_view(parent))
    if child is not None and child.parent is not None:
        return _reject(Code.ALREADY_LINKED, other_parent=child.parent)
    if parent.bill is not None:
        return _reject(Code.PARENT_ON_BILL, bill=parent.bill)
    if parent.child_count >= parent.capacity:
        return _reject(Code.PARENT_FULL, **_parent_view(parent))
    return None


def _link(child: Bag, parent: Bag) -> None:
    child.parent = parent.code
    parent.child_count += 1


def _unlink(child: Bag, parent: Bag) -> None:
    child.parent = None
    parent.child_count -= 1


def _scan_child(world: World, actor: Actor, op: ScanChild) -> Outcome:
    parent = _find_parent(world, actor, op.parent)
    if isinstance(parent, Outcome):
        return parent
    child = world.bags.get(op.code)
    if child is not None and child.area != parent.area:
        return wrong_area(actor, child.area)  # a loose child of another area: not this parent's to take
    refused = _check_room(parent, child)
    if refused is not None:
        return refused
    if child is None:
        child = Bag(code=op.code, kind="C", area=parent.area)
        world.bags[op.code] = child
    _link(child, parent)
    world.last_action[actor.user_id] = LastAction("link", child.code, world.now)
    return Outcome(Code.OK, {**_parent_view(parent), "child": child.code})


def _undo(world: World, actor: Actor, op: Undo) -> Outcome:
    last = world.last_action.get(actor.user_id)
    if last is None:
        return _reject(Code.NOTHING_TO_UNDO)
    if last.code != op.code:
        return _reject(Code.NOT_LAST_SCAN, last=last.code)
    if world.now - last.at > UNDO_WINDOW:
        return _reject(Code.UNDO_EXPIRED)
    bag = world.bags[op.code]
    if last.kind == "link":
        assert bag.parent is not None
        parent = world.bags[bag.parent]
        if parent.bill is not None:
            return _reject(Code.PARENT_ON_BILL, bill=parent.bill)
        _unlink(bag, parent)
        world.last_action.pop(actor.user_id)
        return Outcome(Code.OK, {**_parent_view(parent), "undone": "link", "child": bag.code})
    assert bag.bill is not None
    bill = world.bills[bag.bill]
    if bill.status != "open":
        return _reject(Code.BILL_NOT_OPEN, bill=bill.code)
    _take_off_bill(bill, bag)
    world.last_action.pop(actor.user_id)
    return Outcome(Code.OK, {**_bill_view(bill), "undone": "bill_add", "parent": bag.code})


def _create_bill(world: World, actor: Actor, op: CreateBill) -> Outcome:
    if op.code in world.bills:
        return _reject(Code.BILL_EXISTS, bill=op.code)
    area = _new_area(world, actor, op.area)
    if isinstance(area, Outcome):
        return area
    bill = Bill(code=op.code, capacity=op.capacity, area=area, destination=op.destination,
                vehicle=op.vehicle)
    world.bills[op.code] = bill
    return Outcome(Code.OK, _bill_view(bill))


def _find_bill(world: World, actor: Actor, code: str) -> Bill | Outcome:
    bill = world.bills.get(code)
    if bill is None:
        return _reject(Code.UNKNOWN_BILL, bill=code)
    if not actor.may_enter(bill.area):
        return wrong_area(actor, bill.area)
    return bill


def _add_to_bill(world: World, actor: Actor, op: AddToBill) -> Outcome:
    bill = _find_bill(world, actor, op.bill)
    if isinstance(bill, Outcome):
        return bill
    parent = world.bags.get(op.parent)
    if parent is None:
        return _reject(Code.UNKNOWN_PARENT, parent=op.parent)
    if parent.area != bill.area:
        return wrong_area(actor, parent.area)
    if parent.bill is not None:
        return _reject(Code.ALREADY_ON_BILL, bill=parent.bill)
    if parent.code in world.returning:
        return _reject(Code.PARENT_ON_RETURN, ticket=world.returning[parent.code])
    if bill.status != "open":
        return _reject(Code.BILL_NOT_OPEN, bill=bill.code)
    if not parent.complete:
        return _reject(Code.PARENT_INCOMPLETE, **_parent_view(parent))
    if bill.parent_count >= bill.capacity:
        return _reject(Code.BILL_FULL, **_bill_view(bill))
    parent.bill = bill.code
    bill.parent_count += 1
    bill.actual_kg += parent.child_count
    bill.expected_kg += parent.expected_kg
    world.last_action[actor.user_id] = LastAction("bill_add", parent.code, world.now)
    return Outcome(Code.OK, {**_bill_view(bill), "parent": parent.code})


def _take_off_bill(bill: Bill, parent: Bag) -> None:
    parent.bill = None
    bill.parent_count -= 1
    bill.actual_kg -= parent.child_count
    bill.expected_kg -= parent.expected_kg


def _finish_bill(world: World, actor: Actor, op: FinishBill) -> Outcome:
    bill = _find_bill(world, actor, op.bill)
    if isinstance(bill, Outcome):
        return bill
    if bill.status != "open":
        return _reject(Code.BILL_NOT_OPEN, bill=bill.code)
    if bill.parent_count == 0:
        return _reject(Code.BILL_EMPTY, bill=bill.code)
    bill.status = "completed"
    return Outcome(Code.OK, _bill_view(bill))


def _reopen_bill(world: World, actor: Actor, op: ReopenBill) -> Outcome:
    bill = _find_bill(world, actor, op.bill)
    if isinstance(bill, Outcome):
        return bill
    if bill.status != "completed":
        return _reject(Code.BILL_NOT_COMPLETED, bill=bill.code)
    bill.status = "open"
    return Outcome(Code.OK, _bill_view(bill))


# --- corrections -------------------------------------------------------------------------------


def _find_bag(world: World, code: str) -> Bag | Outcome:
    bag = world.bags.get(code)
    return bag if bag is not None else _reject(Code.UNKNOWN_BAG, bag=code)


def _forget_actions(world: World, code: str) -> None:
    """A correction changed `code`'s link or bill: no operator's undo may still act on it."""
    for user_id, last in world.last_action.items():
        if last is not None and last.code == code:
            world.last_action[user_id] = None


def _child_in_parent(world: World, code: str) -> tuple[Bag, Bag] | Outcome:
    """(child, its parent) for a child bag that is in a parent not on a bill."""
    child = _find_bag(world, code)
    if isinstance(child, Outcome):
        return child
    if child.parent is None:
        return _reject(Code.NOT_IN_PARENT, bag=code)
    parent = world.bags[child.parent]
    if parent.bill is not None:
        return _reject(Code.PARENT_ON_BILL, bill=parent.bill)
    if parent.code in world.returning:  # its cancel puts it back on its bill as it was
        return _reject(Code.PARENT_ON_RETURN, ticket=world.returning[parent.code])
    return child, parent


def _move_child(world: World, actor: Actor, op: MoveChild) -> Outcome:
    found = _child_in_parent(world, op.code)
    if isinstance(found, Outcome):
        return found
    child, old = found
    new = _find_parent(world, actor, op.parent)
    if isinstance(new, Outcome):
        return new
    if new.area != child.area:
        return wrong_area(actor, new.area)
    if new is old:
        return _reject(Code.ALREADY_IN_PARENT, **_parent_view(new))
    refused = _check_room(new, None)
    if refused is not None:
        return refused
    _unlink(child, old)
    _link(child, new)
    _forget_actions(world, child.code)
    return Outcome(Code.OK, {**_parent_view(new), "child": child.code, "left": old.code,
                             "from": _parent_view(old)})


def _take_out(world: World, actor: Actor, op: TakeOut) -> Outcome:
    found = _child_in_parent(world, op.code)
    if isinstance(found, Outcome):
        return found
    child, parent = found
    _unlink(child, parent)
    _forget_actions(world, child.code)
    return Outcome(Code.OK, {**_parent_view(parent), "child": child.code, "left": parent.code})


def _take_parent_off_bill(world: World, actor: Actor, op: TakeOffBill) -> Outcome:
    parent = _find_bag(world, op.code)
    if isinstance(parent, Outcome):
        return parent
    if parent.bill is None:
        return _reject(Code.NOT_ON_BILL, bag=op.code)
    bill = world.bills[parent.bill]
    if bill.status != "open":
        return _reject(Code.BILL_NOT_OPEN, bill=bill.code)
    _take_off_bill(bill, parent)
    _forget_actions(world, parent.code)
    return Outcome(Code.OK, {**_bill_view(bill), "parent": parent.code, "left": bill.code})


def _reassign_area(world: World, actor: Actor, op: ReassignArea) -> Outcome:
    parent = _find_bag(world, op.code)
    if isinstance(parent, Outcome):
        return parent
    if parent.area == op.area:
        return _reject(Code.SAME_AREA, area=op.area)
    if op.area not in world.areas:
        return _reject(Code.UNKNOWN_AREA, area=op.area)
    if parent.bill is not None:
        return _reject(Code.PARENT_ON_BILL, bill=parent.bill)
    if parent.code in world.returning:
        return _reject(Code.PARENT_ON_RETURN, ticket=world.returning[parent.code])
    old = parent.area
    children = world.children(parent.code)
    for bag in (parent, *children):
        bag.area = op.area
    return Outcome(Code.OK, {**_parent_view(parent), "area": op.area, "from_area": old,
                             "children": len(children)})


def _delete_bag(world: World, actor: Actor, op: DeleteBag) -> Outcome:
    bag = _find_bag(world, op.code)
    if isinstance(bag, Outcome):
        return bag
    if bag.bill is not None:
        return _reject(Code.BAG_ON_BILL, bill=bag.bill)
    if bag.child_count > 0:
        return _reject(Code.BAG_NOT_EMPTY, count=bag.child_count)
    if bag.parent is not None:
        return _reject(Code.BAG_IN_PARENT, parent=bag.parent)
    del world.bags[bag.code]
    world.deleted.append(bag)
    return Outcome(Code.OK, {"code": bag.code, "kind": "parent" if bag.kind == "P" else "child",
                             "area": bag.area})


def _edit_bill(world: World, actor: Actor, op: EditBill) -> Outcome:
    bill = _find_bill(world, actor, op.bill)
    if isinstance(bill, Outcome):
        return bill
    if op.destination is not None:
        bill.destination = op.destination
    if op.vehicle is not None:
        bill.vehicle = op.vehicle
    return Outcome(Code.OK, {**_bill_view(bill), "destination": bill.destination, "vehicle": bill.vehicle})


def audited_state(world: World, op: Audited) -> dict[str, Any] | None:
    """What the audit log records of a correction's or bill edit's subject (None: it does not exist)."""
    if isinstance(op, EditBill):
        bill = world.bills.get(op.bill)
        return None if bill is None else {"destination": bill.destination, "vehicle": bill.vehicle,
                                          "status": bill.status}
    bag = world.bags.get(op.code)
    if bag is None:
        return None
    state: dict[str, Any] = {"kind": "parent" if bag.kind == "P" else "child", "area": bag.area}
    if bag.kind == "P":
        state.update(child_count=bag.child_count, bill=bag.bill)
        if isinstance(op, ReassignArea):
            state["children"] = sorted(child.code for child in world.children(bag.code))
    else:
        state["parent"] = bag.parent
    return state


# --- returns ----------------------------------------------------------------------------------


def _validate_return(actor: Actor, op: ReturnOperation, formats: tuple[ParentFormat, ...]) -> Outcome | None:
    """Returns are the billers' (and admins'): the stateless checks of a return operation."""
    if not actor.may_bill:
        return _reject(Code.FORBIDDEN)
    if isinstance(op, ReturnOpen):
        problem = _ticket_problem(op.code, formats)
        if problem is not None:
            return _reject(Code.INVALID_RETURN, reason=problem)
        return _check_named_area(actor, op.area)
    if not is_bill_code(op.ticket):
        return _reject(Code.UNKNOWN_RETURN)
    if isinstance(op, ReturnAdd):
        return _check_parent_code(op.parent, formats)
    return None


def _ticket_problem(code: str, formats: tuple[ParentFormat, ...]) -> str | None:
    """What is wrong with a new ticket's number, in words (numbered like bills); None when nothing is."""
    if not is_bill_code(code):
        return "a return ticket number is 1-40 characters of A-Z 0-9 / _ -, starting with a letter or digit"
    fmt = parent_format(code, formats)
    if fmt is not None:
        return f"a return ticket number cannot be a bag code ({code} is a {fmt.name} parent bag)"
    return None


def _ticket_view(ticket: Ticket) -> dict[str, Any]:
    return {"ticket": ticket.code, "area": ticket.area, "status": ticket.status, "count": len(ticket.parents)}


def _find_ticket(world: World, actor: Actor, code: str) -> Ticket | Outcome:
    """The named ticket, open and in the operator's area, or the rejection that says why not."""
    ticket = world.tickets.get(code)
    if ticket is None:
        return _reject(Code.UNKNOWN_RETURN, ticket=code)
    if not actor.may_enter(ticket.area):
        return wrong_area(actor, ticket.area)
    if ticket.status != "open":
        return _reject(Code.RETURN_NOT_OPEN, ticket=ticket.code, status=ticket.status)
    return ticket


def _return_open(world: World, actor: Actor, op: ReturnOpen) -> Outcome:
    if op.code in world.tickets:
        ticket = _find_ticket(world, actor, op.code)
        if isinstance(ticket, Outcome):
            return ticket
        return Outcome(Code.OK, {**_ticket_view(ticket), "created": False})
    area = _new_area(world, actor, op.area)
    if isinstance(area, Outcome):
        return area
    ticket = Ticket(code=op.code, area=area)
    world.tickets[op.code] = ticket
    return Outcome(Code.OK, {**_ticket_view(ticket), "created": True})


def _return_add(world: World, actor: Actor, op: ReturnAdd) -> Outcome:
    ticket = _find_ticket(world, actor, op.ticket)
    if isinstance(ticket, Outcome):
        return ticket
    parent = world.bags.get(op.parent)
    if parent is None:
        return _reject(Code.UNKNOWN_PARENT, parent=op.parent)
    if parent.area != ticket.area:
        return wrong_area(actor, parent.area)
    if parent.code in world.returning:
        return _reject(Code.ALREADY_RETURNED, parent=parent.code, ticket=world.returning[parent.code])
    if parent.bill is None:
        return _reject(Code.NOT_ON_BILL, parent=parent.code)
    bill = world.bills[parent.bill]
    _take_off_bill(bill, parent)
    ticket.parents[parent.code] = bill.code
    world.returning[parent.code] = ticket.code
    for user, last in world.last_action.items():  # a bill addition taken back is no one's to undo
        if last is not None and last.kind == "bill_add" and last.code == parent.code:
            world.last_action[user] = None
    return Outcome(Code.OK, {**_ticket_view(ticket), "parent": parent.code, "from_bill": _bill_view(bill)})


def _return_finish(world: World, actor: Actor, op: ReturnFinish) -> Outcome:
    ticket = _find_ticket(world, actor, op.ticket)
    if isinstance(ticket, Outcome):
        return ticket
    if not ticket.parents:
        return _reject(Code.RETURN_EMPTY, ticket=ticket.code)
    ticket.status = "finalised"
    for parent in ticket.parents:
        world.returning.pop(parent, None)
    return Outcome(Code.OK, _ticket_view(ticket))


def _return_cancel(world: World, actor: Actor, op: ReturnCancel) -> Outcome:
    ticket = _find_ticket(world, actor, op.ticket)
    if isinstance(ticket, Outcome):
        return ticket
    blocked = _put_back_problem(world, actor, ticket)
    if blocked is not None:
        return blocked
    for code, bill_code in ticket.parents.items():
        parent, bill = world.bags[code], world.bills[bill_code]
        parent.bill = bill.code
        bill.parent_count += 1
        bill.actual_kg += parent.child_count
        bill.expected_kg += parent.expected_kg
        world.returning.pop(code, None)
    ticket.status = "cancelled"
    bills = sorted(set(ticket.parents.values()))
    return Outcome(Code.OK, {**_ticket_view(ticket), "bills": [_bill_view(world.bills[b]) for b in bills]})


def _put_back_problem(world: World, actor: Actor, ticket: Ticket) -> Outcome | None:
    """Why a ticket's parents cannot all go back onto their bills (changed since they were returned)."""
    coming: dict[str, int] = {}
    for code, bill_code in sorted(ticket.parents.items()):
        parent, bill = world.bags[code], world.bills[bill_code]
        if parent.bill is not None:
            return _reject(Code.ALREADY_ON_BILL, parent=code, bill=parent.bill)
        if parent.area != bill.area:
            return wrong_area(actor, parent.area, parent=code)
        if not parent.complete:
            return _reject(Code.PARENT_INCOMPLETE, **_parent_view(parent))
        coming[bill_code] = coming.get(bill_code, 0) + 1
        if bill.parent_count + coming[bill_code] > bill.capacity:
            return _reject(Code.BILL_FULL, parent=code, **_bill_view(bill))
    return None


_HANDLERS: dict[type, Callable[[World, Actor, Any], Outcome]] = {
    ScanParent: _scan_parent,
    ScanChild: _scan_child,
    Undo: _undo,
    CreateBill: _create_bill,
    AddToBill: _add_to_bill,
    FinishBill: _finish_bill,
    ReopenBill: _reopen_bill,
    MoveChild: _move_child,
    TakeOut: _take_out,
    TakeOffBill: _take_parent_off_bill,
    ReassignArea: _reassign_area,
    DeleteBag: _delete_bag,
    EditBill: _edit_bill,


    ReturnOpen: _return_open,
    ReturnAdd: _return_add,
    ReturnFinish: _return_finish,
    ReturnCancel: _return_cancel,
}
