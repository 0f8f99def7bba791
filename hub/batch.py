"""One batch of operations, applied in one transaction.

Lock the rows the batch touches, decide each operation in order with the domain rules, then write
the net effect set-wise. The database's constraints and triggers remain the final arbiter.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

import asyncpg

from hub.codes import Code
from hub.domain import rules
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import Actor, Bag, Bill, Operation, Outcome, World
from hub.store import batches as store
from hub.store import returns as returns_store
from hub.store.audit import AuditRow


@dataclass(frozen=True)
class Submission:
    """One operation from one device, as the writer receives it.

    `verdict` is set when the edge already decided it (a malformed frame, a stateless rejection):
    such a submission is recorded but touches no bag.
    """

    device: str
    seq: int
    actor: Actor
    operation: Operation | None
    client_time: datetime | None = None
    verdict: Outcome | None = None

    @property
    def key(self) -> tuple[str, int]:
        return (self.device, self.seq)


@dataclass(frozen=True)
class Result:
    """What the device is told: the outcome, and whether it is the stored answer to a resend."""

    outcome: Outcome
    replay: bool = False


@dataclass
class Committed:
    """A committed batch, for the caches and dashboards of every hub process.

    `seq` is its place in the commit order of all hubs (0 when it changed nothing and took none).
    """

    at: datetime
    seq: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    bags: list[Bag] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    """Bags a cache must drop: deleted ones, and children a correction changed (whose state the
    other hubs do not receive)."""


def touched(sub: Submission) -> tuple[set[str], set[str]]:
    """(bag codes, bill codes) an operation reads or changes."""
    op = sub.operation
    if sub.verdict is not None or op is None:
        return set(), set()
    if isinstance(op, (rules.ScanChild, rules.MoveChild)):
        return {op.code, op.parent}, set()
    if isinstance(op, (rules.ScanParent, rules.Undo, *rules.CORRECTIONS)):
        return {op.code}, set()
    if isinstance(op, rules.CreateBill):
        return set(), {op.code}
    if isinstance(op, rules.AddToBill):
        return {op.parent}, {op.bill}
    if isinstance(op, rules.ReturnAdd):
        return {op.parent}, set()
    if isinstance(op, rules.RETURN_OPERATIONS):
        return set(), set()
    return set(), {op.bill}


_FOLLOWED = (rules.Undo, rules.MoveChild, rules.TakeOut, rules.TakeOffBill)
"""Operations on a bag that also read the parent it is in, or the bill it is on."""


def _ticket_codes(subs: list[Submission]) -> tuple[set[str], set[str], set[str]]:
    """(every ticket the batch names, those it closes, whose parents and bills it must lock too,
    the parents it returns, whose bills it must lock)."""
    named: set[str] = set()
    closing: set[str] = set()
    returned: set[str] = set()
    for sub in subs:
        op = sub.operation
        if sub.verdict is not None or not isinstance(op, rules.RETURN_OPERATIONS):
            continue
        named.add(op.code if isinstance(op, rules.ReturnOpen) else op.ticket)
        if isinstance(op, (rules.ReturnFinish, rules.ReturnCancel)):
            closing.add(op.ticket)
        elif isinstance(op, rules.ReturnAdd):
            returned.add(op.parent)
    return named, closing, returned


async def _load_world(conn: asyncpg.Connection, subs: list[Submission],
                      formats: tuple[ParentFormat, ...], now: datetime) -> World:
    bag_codes: set[str] = set()
    bill_codes: set[str] = set()
    followed: set[str] = set()
    reassigned: set[str] = set()
    undo_users: set[int] = set()
    named_areas: set[str] = set()
    for sub in subs:
        bags, bills = touched(sub)
        bag_codes |= bags
        bill_codes |= bills
        op = sub.operation
        if sub.verdict is not None:
            continue
        area = getattr(op, "area", None)
        if area is not None:
            named_areas.add(area)
        if isinstance(op, _FOLLOWED):
            followed.add(op.code)
        if isinstance(op, rules.ReassignArea):
            reassigned.add(op.code)
        if isinstance(op, rules.Undo):
            undo_users.add(sub.actor.user_id)
    named_tickets, closing, returned = _ticket_codes(subs)
    tickets = await returns_store.lock_tickets(conn, named_tickets)
    for code in closing & tickets.keys():
        bag_codes |= tickets[code].parents.keys()
        bill_codes |= set(tickets[code].parents.values())
    loaded = await store.lock_bags(conn, bag_codes)
    found = [loaded[code] for code in followed if code in loaded]
    parents = {bag.parent for bag in found if bag.parent} - loaded.keys()
    loaded.update(await store.lock_bags(conn, parents))
    children = await store.lock_children(conn, reassigned & loaded.keys())
    loaded.update({code: bag for code, bag in children.items() if code not in loaded})
    bill_codes |= {bag.bill for bag in found if bag.bill}
    bill_codes |= {loaded[code].bill or "" for code in returned & loaded.keys()} - {""}
    locked_bills = await store.lock_bills(conn, bill_codes)
    last = await store.last_actions(conn, sorted(undo_users))
    areas = await store.existing_areas(conn, sorted(named_areas))
    # Only a bill addition, a return or a correction of a parent (or of a child in it) asks whether
    # a parent is on an open ticket.
    asked = returned | reassigned | parents | {bag.parent for bag in found if bag.parent} | {
        sub.operation.parent for sub in subs if isinstance(sub.operation, rules.AddToBill) and sub.verdict is None}
    returning = await returns_store.open_returns(conn, [loaded[code] for code in asked & loaded.keys()])
    return World(formats=formats, now=now, bags=loaded, bills=locked_bills, last_action=dict(last), areas=areas,
                 tickets=tickets, returning=returning)


def _scan_area(world: World, actor: Actor, op: Operation | None, outcome: Outcome) -> str:
    """The dispatch area a scan counts in: a rejected scan in the operator's area (whatever decided
    it: the edge, the cache or the writer); an accepted one in its parent's or bill's. An admin's
    rejected scan, having no area of its own, counts in its bag's or bill's, else in the area it
    names if that exists, else in "" (seen only by scope `all`)."""
    if not outcome.ok and actor.area is not None:
        return actor.area
    code = None
    ticket = _ticket_of(op)
    if ticket is not None and ticket in world.tickets:
        return world.tickets[ticket].area
    if isinstance(op, (rules.ScanParent, rules.Undo, *rules.CORRECTIONS)):
        code = op.code
    elif isinstance(op, rules.ScanChild):
        code = op.parent
    if code is not None and code in world.bags:
        return world.bags[code].area
    deleted = [bag for bag in world.deleted if bag.code == code]
    if deleted:
        return deleted[-1].area
    bill = getattr(op, "bill", None) if not isinstance(op, rules.CreateBill) else op.code
    if bill is not None and bill in world.bills:
        return world.bills[bill].area
    named = getattr(op, "area", None)
    if named in world.areas:
        return str(named)
    return actor.area or ""


def _ticket_of(op: Operation | None) -> str | None:
    if isinstance(op, rules.ReturnOpen):
        return op.code
    if isinstance(op, (rules.ReturnAdd, rules.ReturnFinish, rules.ReturnCancel)):
        return op.ticket
    return None


@dataclass
class _ReturnWrites:
    """What a batch's return operations write besides the bill memberships (see `_note_return`)."""

    creators: dict[str, int] = field(default_factory=dict)
    returned: list[tuple[str, str, str, int, datetime]] = field(default_factory=list)
    closed: list[tuple[str, str, int]] = field(default_factory=list)


def _note_return(writes: _ReturnWrites, world: World, op: rules.ReturnOperation, outcome: Outcome,
                 user: int, at: datetime) -> list[str]:
    """Collect an accepted return operation's writes; return the parents it puts back onto bills."""
    if isinstance(op, rules.ReturnOpen):
        if outcome.data["created"]:
            writes.creators[op.code] = user
        return []
    if isinstance(op, rules.ReturnAdd):
        writes.returned.append((op.ticket, op.parent, world.tickets[op.ticket].parents[op.parent], user, at))
        return []
    writes.closed.append((op.ticket, world.tickets[op.ticket].status, user))
    return list(world.tickets[op.ticket].parents) if isinstance(op, rules.ReturnCancel) else []


async def _write_returns(conn: asyncpg.Connection, world: World, writes: _ReturnWrites, now: datetime) -> None:
    """New tickets and returned parents, written before any parent leaves its bill."""
    new = [ticket for ticket in world.tickets.values() if ticket.id is None]
    await returns_store.insert_tickets(conn, new, [writes.creators.get(t.code) for t in new], now)
    await returns_store.insert_returned(conn, [
        (world.tickets[t].id, world.bags[p].id, world.bills[b].id, who, at)  # type: ignore[misc]
        for t, p, b, who, at in writes.returned])


def _stat_delta(op: Operation | None, outcome: Outcome) -> list[int]:
    """[accepted, rejected, children_linked, parents_completed, bills_completed] for one scan."""
    if not outcome.ok:
        return [0, 1, 0, 0, 0]
    data = outcome.data
    if isinstance(op, rules.ScanChild):
        return [1, 0, 1, int(data["complete"]), 0]
    if isinstance(op, rules.Undo) and data.get("undone") == "link":
        return [1, 0, -1, -int(data["count"] == data["capacity"] - 1), 0]
    if isinstance(op, rules.FinishBill):
        return [1, 0, 0, 0, 1]
    if isinstance(op, rules.ReopenBill):
        return [1, 0, 0, 0, -1]
    return [1, 0, 0, 0, 0]


Fact = tuple[str, str]
"""What the live counters count of a bag: ("link", child) or ("done", parent)."""


class Counted:
    """The links and completed parents a batch's corrections change, with the minute each was
    counted in, so that a correction takes its count back from (or moves it to another area in)
    the very minute that counted it, and the per-minute counters keep equal to what SQL counts."""

    def __init__(self, world: World, minute: datetime) -> None:
        self._world = world
        self._minute = minute
        self._minutes: dict[Fact, datetime] = {}

    def counted_now(self, fact: Fact) -> None:
        """A scan of this batch made the link or completed the parent: it counts in this minute."""
        self._minutes[fact] = self._minute

    def _minute_of(self, fact: Fact) -> datetime:
        if fact in self._minutes:
            return self._minutes[fact]
        bag = self._world.bags.get(fact[1])
        at = None if bag is None else bag.linked_at if fact[0] == "link" else bag.completed_at
        return _minute(at) if at is not None else self._minute

    def facts(self, codes: set[str]) -> dict[Fact, tuple[str, str | None]]:
        """Each fact about `codes` with the area it counts in (and the parent, for a link)."""
        facts: dict[Fact, tuple[str, str | None]] = {}
        for code in codes:
            bag = self._world.bags.get(code)
            if bag is None:
                continue
            parent = self._world.bags.get(bag.parent) if bag.parent is not None else None
            if parent is not None:
                facts[("link", code)] = (parent.area, parent.code)
            if bag.complete:
                facts[("done", code)] = (bag.area, None)
        return facts

    def changes(self, before: dict[Fact, tuple[str, str | None]],
                after: dict[Fact, tuple[str, str | None]]) -> dict[tuple[datetime, str], list[int]]:
        """The counter deltas, by (minute, area), that take the facts from `before` to `after`.

        A fact that went is taken back in its minute; one that moved area keeps its minute; a new
        link (or a link to another parent) or completion counts now."""
        deltas: dict[tuple[datetime, str], list[int]] = defaultdict(lambda: [0] * len(store.STAT_FIELDS))
        for fact in before.keys() | after.keys():
            was, now = before.get(fact), after.get(fact)
            if was == now:
                continue
            column = 2 if fact[0] == "link" else 3
            if was is not None:
                deltas[(self._minute_of(fact), was[0])][column] -= 1
            if now is not None:
                minute = self._minute_of(fact) if was is not None and was[1] == now[1] else self._minute
                deltas[(minute, now[0])][column] += 1
                self._minutes[fact] = minute
        return deltas


def _minute(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def _involved(world: World, op: rules.Correction) -> set[str]:
    """The bags whose counted facts a correction may change: its bag, the parent it is in, the
    parent it names, a reassigned parent's children."""
    codes = {op.code}
    bag = world.bags.get(op.code)
    if bag is not None and bag.parent is not None:
        codes.add(bag.parent)
    if isinstance(op, rules.MoveChild):
        codes.add(op.parent)
    if isinstance(op, rules.ReassignArea):
        codes |= {child.code for child in world.children(op.code)}
    return codes


def _audit_target(op: rules.Audited) -> str:
    return f"bill:{op.bill}" if isinstance(op, rules.EditBill) else f"bag:{op.code}"


async def apply_batch(conn: asyncpg.Connection, subs: list[Submission], formats: tuple[ParentFormat, ...],
                      now: datetime, *, sequence: bool = True) -> tuple[list[Result], Committed]:
    """Apply `subs` in order inside the caller's transaction; return each one's result.

    The batch's place in commit order (`Committed.seq`) is taken by its last statements (see
    `store.write_batch`); `sequence=False` leaves it to the caller, who takes it just before
    committing (a group of batches in one transaction holds the commit clock only at its end); such
    a batch changed something exactly when it has events.
    """
    results: list[Result | None] = [None] * len(subs)
    last_seq = await store.lock_devices(conn, sorted({s.device for s in subs}))
    recorded = await store.recorded_results(
        conn, [s.key for s in subs if s.seq <= last_seq.get(s.device, 0)]
    )
    fresh: list[int] = []
    for i, sub in enumerate(subs):
        if sub.key in recorded:
            code, detail = recorded[sub.key]
            results[i] = Result(Outcome(Code(code), detail), replay=True)
        elif sub.seq <= last_seq.get(sub.device, 0):
            results[i] = Result(Outcome(Code.STALE_SEQ, {"applied_seq": last_seq[sub.device]}))
        else:
            last_seq[sub.device] = sub.seq
            fresh.append(i)

    if not fresh:
        return [r for r in results if r is not None], Committed(at=now)
    applying = [subs[i] for i in fresh]
    world = await _load_world(conn, applying, formats, now)
    before_id = {code: bag.id for code, bag in world.bags.items()}
    before_parent = {code: bag.parent for code, bag in world.bags.items()}
    before_bill = {code: bag.bill for code, bag in world.bags.items()}
    before_area = {code: bag.area for code, bag in world.bags.items()}
    before_status = {code: bill.status for code, bill in world.bills.items()}
    before_text = {code: (bill.destination, bill.vehicle) for code, bill in world.bills.items()}
    creator: dict[str, int] = {}
    # Who made each link or bill addition, and when: one microsecond apart in batch order, so that
    # an operator's last action is known even among several of theirs in one batch.
    changed_by: dict[str, tuple[int, datetime]] = {}
    # Children linked and parents put on a bill by this batch: such a row is written anew even when
    # the batch ends where it began (undone by one operator, then redone by another or the same),
    # so that it names who made it and when, which later undos read.
    relinked: set[str] = set()
    rebilled: set[str] = set()
    return_writes = _ReturnWrites()
    committed = Committed(at=now)
    scans: list[tuple[Any, ...]] = []
    minute = _minute(now)
    counted = Counted(world, minute)
    stats: store.Stats = defaultdict(lambda: [0] * len(store.STAT_FIELDS))
    devices: dict[str, tuple[int, int | None]] = {}
    audits: list[AuditRow] = []
    corrected: set[str] = set()

    for i in fresh:
        sub = subs[i]
        known_bags, known_bills = len(world.bags), len(world.bills)
        op = sub.operation
        audited = op if sub.verdict is None and isinstance(op, rules.AUDITED) else None
        correction = audited if isinstance(audited, rules.CORRECTIONS) else None
        involved = _involved(world, correction) if correction is not None else set()
        facts = counted.facts(involved)
        before = rules.audited_state(world, audited) if audited is not None else None
        outcome = sub.verdict or rules.apply(world, sub.actor, op)  # type: ignore[arg-type]
        results[i] = Result(outcome)
        for table, known in ((world.bags, known_bags), (world.bills, known_bills)):
            for code in islice(reversed(table), max(0, len(table) - known)):  # the ones this operation created
                creator[code] = sub.actor.user_id
        shifts: dict[tuple[datetime, str], list[int]] = {}
        if outcome.ok and op is not None:
            changed_by[rules.operation_code(op)] = (sub.actor.user_id, now + timedelta(microseconds=i))
            if isinstance(op, (rules.ScanChild, rules.MoveChild)):
                relinked.add(op.code)
            elif isinstance(op, rules.AddToBill):
                rebilled.add(op.parent)
            elif isinstance(op, rules.RETURN_OPERATIONS):
                when = now + timedelta(microseconds=i)
                for parent in _note_return(return_writes, world, op, outcome, sub.actor.user_id, when):
                    changed_by[parent] = (sub.actor.user_id, when)
                    rebilled.add(parent)
            if isinstance(op, rules.ScanChild):
                counted.counted_now(("link", op.code))
                if outcome.data["complete"]:
                    counted.counted_now(("done", op.parent))
            if correction is not None:
                shifts = counted.changes(facts, counted.facts(involved))
                corrected |= {code for code in involved if code in world.bags and world.bags[code].kind == "C"}
            if audited is not None:
                after = rules.audited_state(world, audited)
                if after != before:
                    audits.append((sub.actor.user_id, audited.action, _audit_target(audited), before, after))
        area = _scan_area(world, sub.actor, op, outcome)
        op_name = op.op if op is not None else "invalid"
        code = rules.operation_code(op) if op is not None else ""
        target = rules.operation_target(op, outcome) if op is not None else ""
        scans.append((sub.device, sub.seq, sub.actor.user_id, area, op_name, code, target,
                      outcome.code.value, outcome.data, sub.client_time))
        delta = _stat_delta(op, outcome)
        for n, value in enumerate(shifts.pop((minute, area), [0] * len(delta))):
            delta[n] += value
        for key, values in [((minute, area), delta), *shifts.items()]:
            row = stats[(*key, sub.device)]
            for n, value in enumerate(values):
                row[n] += value
        devices[sub.device] = (sub.seq, sub.actor.user_id)
        event = {
            "device": sub.device, "seq": sub.seq, "user": sub.actor.username, "area": area,
            "op": op_name, "code": code, "target": target, "result": outcome.code.value,
            "data": outcome.data, "stats": delta,
            "client_at": sub.client_time.timestamp() if sub.client_time is not None else None,
        }
        if shifts:
            event["shifts"] = [[shift_area, shift_minute.timestamp(), values]
                               for (shift_minute, shift_area), values in shifts.items()]
        committed.events.append(event)

    bags = world.bags

    def now_parent(code: str) -> str | None:
        bag = bags.get(code)
        return bag.parent if bag is not None and bag.id == before_id[code] else None

    def now_bill(code: str) -> str | None:
        bag = bags.get(code)
        return bag.bill if bag is not None and bag.id == before_id[code] else None

    left_bill = [before_id[code] for code, bill in before_bill.items()
                 if bill and (now_bill(code) != bill or code in rebilled)]
    joined_bill = [b for b in bags.values() if b.bill and (before_bill.get(b.code) != b.bill or b.code in rebilled)]
    unlinked = [before_id[code] for code, parent in before_parent.items()
                if parent and (now_parent(code) != parent or code in relinked)]
    linked = [b for b in bags.values() if b.parent and (before_parent.get(b.code) != b.parent or b.code in relinked)]
    moved = [(b.id, b.area) for b in bags.values() if b.id is not None and before_area.get(b.code) != b.area]
    reopened = [b for b in world.bills.values() if b.status == "open" and before_status.get(b.code) == "completed"]
    finished = [b for b in world.bills.values() if b.status == "completed" and before_status.get(b.code) != "completed"]
    edited = [b for b in world.bills.values()
              if b.id is not None and before_text.get(b.code) != (b.destination, b.vehicle)]

    await _write_returns(conn, world, return_writes, now)
    await store.delete_bill_parents(conn, left_bill)  # type: ignore[arg-type]
    await returns_store.close_tickets(
        conn, [(world.tickets[t].id, status, who) for t, status, who in return_writes.closed], now)  # type: ignore[misc]
    await store.set_bill_status(conn, reopened, now)
    await store.delete_links(conn, unlinked)  # type: ignore[arg-type]
    await store.delete_bags(conn, [b.id for b in world.deleted if b.id is not None])
    new_bags = [bag for bag in bags.values() if bag.id is None]
    new_bills = [bill for bill in world.bills.values() if bill.id is None]
    await store.set_areas(conn, moved)  # before the links, which must join bags of one area
    await store.set_bill_text(conn, edited)
    await store.insert_bills(conn, new_bills, [creator.get(b.code) for b in new_bills], now)
    committed.seq = await store.write_batch(
        conn, new_bags, [creator.get(b.code) for b in new_bags],
        [(b.code, b.id, b.parent, bags[b.parent].id, *changed_by[b.code]) for b in linked],  # type: ignore[index,misc]
        scans, devices, stats, audits, now, sequence=sequence)
    await store.insert_bill_parents(  # after the bags they name, which `write_batch` may have created
        conn, [(b.id, world.bills[b.bill].id, *changed_by[b.code]) for b in joined_bill]  # type: ignore[index,misc]
    )
    await store.set_bill_status(conn, finished, now)

    committed.bags = list(bags.values())
    committed.bills = list(world.bills.values())
    committed.forget = sorted({bag.code for bag in world.deleted} | corrected)
    return [r for r in results if r is not None], committed
