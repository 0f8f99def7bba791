"""`tracetrack seed --bags N`: realistic data in bulk, through the same constraints and triggers as
scanning, so that a seeded database keeps every invariant.

What N bags become:

- Parents of each configured format whose pattern is a prefix and digits (SB#####, M444-#####),
  most of them of the format with the largest capacity, 9 in 10 complete and the rest partly
  filled. One dispatcher of an area fills a parent, a scan every second or so; children take its area.
- Children from label rolls of 1,000: a roll prefix then a 3-digit serial, 8 to 16 characters of
  A-Z0-9, never matching a parent format. A child's code is a one-to-one function of its bag id, so
  seeded codes never collide, also across runs.
- Bills in every area, filled with the area's complete parents and completed, except the run's last
  one per area when it is not full yet: it stays open. About 1 complete parent in 10 is left waiting
  for a bill.
- Users: dispatchers and a biller in every area (created once, reused by later runs), sharing one
  password hashed once. Every run gives them new devices, so sequence numbers start at 1.
- Scan history: one scan per parent created, child linked, bill created, parent billed and bill
  finished, all OK, numbered per device, with devices.last_seq and scan_stats to match.

Parent codes run out: a format of 5 digits has 100,000 codes, so SB and M444 together are full at
about 5 million bags. Past that, every free parent code is used and the remaining bags are children
not yet in a parent (labels imported ahead of packing); the report says so. Refusing would make the
scale the hub is built for impossible to seed until someone configures another format, and the
seeder inventing a format would put configuration in code.

Speed: rows go in with COPY, in chunks of about 50,000 bags. A chunk is one transaction with its
parents, children, bills and scans, so every commit leaves the invariants holding. A thread decides
the next chunk while two connections write. Nothing is skipped. Where the connection may (a
superuser), a chunk's bags, links, bills and bill parents are loaded with the per-row triggers and
key checks off, as `pg_restore --disable-triggers` loads, and what they do is then done set-wise in the same transaction
(hub/store/seeding.py): child_count and completed_at by one UPDATE from the chunk's links,
parent_count and on_bill by one from its bill parents, and one query over the chunk refusing it
whole if a link or bill parent points to anything but a bag of the right kind in the chunk, a child
and its parent differ in area, a billed parent is not complete, an area, format or user referred to
does not exist (those rows locked as a key check locks them), or a completed bill has no parents.
The CHECK and UNIQUE constraints stay on throughout, and the scans, devices and scan_stats go in
with the triggers back on. As any other user the triggers do it all row by row. Commits do not wait
for the WAL to reach the disk: a run cut short by a crash is run again.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import random
import re
import secrets
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from hub import accounts
from hub.codes import Code
from hub.domain import rules
from hub.domain.bagcodes import ParentFormat
from hub.migrate import migrate
from hub.store import audit
from hub.store import formats as formats_store
from hub.store.seeding import Chunk, may_load_set_wise, write_chunk

CHUNK_BAGS = 50_000
WRITERS = 2
DISPATCHERS_PER_AREA = 4
BILLERS_PER_AREA = 1
MAIN_FORMAT_SHARE = 0.8
COMPLETE_SHARE = 0.9
BILLED_SHARE = 0.9
BILL_CAPACITIES = (10, 15, 20, 25, 30, 40)
"""Parent bags a vehicle takes, from a pickup to a truck."""
SCAN_GAP = (0.8, 2.2)
"""Seconds between two scans of a dispatcher filling a parent."""
PAUSE = (5.0, 60.0)
"""Seconds a dispatcher takes between two parents."""
BUSY = 0.5
"""Share of the time the busiest area's dispatchers spend scanning: sets how far back history goes."""
HISTORY_ENDS = timedelta(minutes=30)
"""History ends this long before the run, so that no scan lies in the future."""
ROLL = 1000
ROLL_PREFIX_LENGTHS = (5, 7, 7, 9, 9, 13)
"""Prefix lengths of label rolls, drawn per roll: child codes of 8, 10, 12 and 16 characters."""
DESTINATIONS = ("Delhi", "Mumbai", "Kolkata", "Chennai", "Ahmedabad", "Pune", "Nagpur", "Bhopal", "Patna")
STATES = ("RJ", "MP", "UP", "HR", "PB", "CG", "JH", "MH")
BILL_PREFIX = "BL"
_LOCK = 0x7365_6564  # "seed": one run at a time, so two runs never pick the same free codes
_SIMPLE_FORMAT = re.compile(r"^\^?([A-Z0-9-]*)\[0-9\]\{([1-9])\}\$?$")
_DIGITS36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SERIALS = [f"{n:03d}" for n in range(ROLL)]
_OK = Code.OK.value
_LATENCIES = [timedelta(milliseconds=40 + ms) for ms in range(0, 400, 2)]
_UTC = UTC

@dataclass
class SeedReport:
    """What one run made and how long it took (counts are rows written)."""

    bags: int = 0
    parents: dict[str, int] = field(default_factory=dict)
    complete_parents: int = 0
    children_linked: int = 0
    children_loose: int = 0
    bills: int = 0
    bills_completed: int = 0
    parents_billed: int = 0
    users: int = 0
    users_created: int = 0
    password: str | None = None
    scans: int = 0
    seconds: float = 0.0

    def __str__(self) -> str:
        parents = sum(self.parents.values())
        formats = ", ".join(f"{name} {count:,}" for name, count in self.parents.items()) or "none"
        rate = self.bags / self.seconds if self.seconds else 0
        lines = [
            f"Seeded {self.bags:,} bags in {self.seconds:.1f} s ({rate:,.0f} bags/s)",
            f"  parents  {parents:,} ({formats}): {self.complete_parents:,} complete, "
            f"{parents - self.complete_parents:,} partial",
            f"  children {self.children_linked + self.children_loose:,}: {self.children_linked:,} in parents, "
            f"{self.children_loose:,} not yet in a parent",
            f"  bills    {self.bills:,}: {self.bills_completed:,} completed, "
            f"{self.bills - self.bills_completed:,} open, {self.parents_billed:,} parents on them",
            f"  users    {self.users:,} dispatchers and billers, {self.users_created:,} new",
            f"  scans    {self.scans:,}",
        ]
        if self.children_loose:
            lines.append(f"  Parent codes ran out: every free code of the prefix-and-digits formats is used, so "
                         f"{self.children_loose:,} children wait in no parent. Configure another parent "
                         f"format to seed more parents.")
        if self.password is not None:
            lines.append(f"  The new users' password is {self.password!r}; it is shown only this once.")
        return "\n".join(lines)


async def seed(pool: asyncpg.Pool, bags: int) -> SeedReport:
    """Migrate if needed, then add `bags` bags with their links, bills, users and scans."""
    started = time.perf_counter()
    async with pool.acquire() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK)
        try:
            await migrate(conn)
            report = SeedReport(bags=bags)
            chunks = await plan(conn, bags, await formats_store.load(pool), report)
            await _write_all(pool, chunks, bags, await may_load_set_wise(conn))
            report.seconds = time.perf_counter() - started
            await audit.insert_audit(conn, None, "seed", "database", None, {
                "bags": bags, "parents": sum(report.parents.values()), "bills": report.bills,
                "scans": report.scans, "users_created": report.users_created})
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK)
    return report


# --- preparation: everything read or reserved before the first row is written -----------------


@dataclass
class _Format:
    """A parent format the seeder can make codes for: free codes in ascending order."""

    name: str
    capacity: int
    expected_kg: Decimal
    codes: Iterator[str]
    free: int


@dataclass
class _Operator:
    """A seeded user with the device they scan with, and when they are free again."""

    user_id: int
    area: str
    device: str
    clock: float
    seq: int = 0


async def plan(conn: asyncpg.Connection, bags: int, formats: tuple[ParentFormat, ...],
               report: SeedReport) -> Iterator[Chunk]:
    """The chunks of a run of `bags` bags, each planned when it is taken; `report` counts them.

    What they need is read or reserved now: free parent codes, users, bag ids, bill numbers.
    """
    seedable = await _free_codes(conn, formats)
    areas = [row["name"] for row in await conn.fetch("SELECT name FROM areas ORDER BY name")]
    users = await _users(conn, areas, report)
    first_id = await _reserve_ids(conn, bags)
    first_bill = await conn.fetchval(
        "SELECT coalesce(max(substr(code, $1)::bigint), 0) + 1 FROM bills WHERE code ~ $2",
        len(BILL_PREFIX) + 1, f"^{BILL_PREFIX}[0-9]{{7}}$",
    )
    now = datetime.now(_UTC)
    planner = _Planner(bags, first_id, seedable, formats, users, first_bill, now, report, random.Random(first_id))
    return planner.chunks()


async def _free_codes(conn: asyncpg.Connection, formats: tuple[ParentFormat, ...]) -> list[_Format]:
    """Formats with a prefix-and-digits pattern, largest capacity first, with their unused codes."""
    existing = [row["code"] for row in await conn.fetch("SELECT code FROM bags WHERE kind = 'P'")]
    found = []
    for fmt in sorted(formats, key=lambda f: (-f.capacity, f.name)):
        match = _SIMPLE_FORMAT.match(fmt.pattern)
        if match is None:
            continue
        prefix, digits = match.group(1), int(match.group(2))
        used = {int(code[len(prefix):]) for code in existing if fmt.matches(code)}
        found.append(_Format(fmt.name, fmt.capacity, fmt.expected_kg, _unused(prefix, digits, used),
                             10**digits - len(used)))
    return found


def _unused(prefix: str, digits: int, used: set[int]) -> Iterator[str]:
    return (f"{prefix}{n:0{digits}d}" for n in range(10**digits) if n not in used)


async def _users(conn: asyncpg.Connection, areas: list[str], report: SeedReport) -> list[asyncpg.Record]:
    """The seeded dispatchers and billers of every area, created where missing."""
    wanted = [(f"seed.{area[:24]}.d{i}", "dispatcher", area)
              for area in areas for i in range(1, DISPATCHERS_PER_AREA + 1)]
    wanted += [(f"seed.{area[:24]}.b{i}", "biller", area)
               for area in areas for i in range(1, BILLERS_PER_AREA + 1)]
    names = [username for username, _, _ in wanted]
    existing = {row["username"] for row in await conn.fetch(
        "SELECT username FROM users WHERE username = ANY($1::text[])", names)}
    missing = [user for user in wanted if user[0] not in existing]
    if missing:
        # argon2 is slow on purpose: one hash for every seeded user.
        report.password = secrets.token_urlsafe(12)
        password_hash = await accounts.hash_password(report.password)
        await conn.execute(
            """INSERT INTO users (username, password_hash, role, area)
               SELECT u, $4, r, a FROM unnest($1::text[], $2::text[], $3::text[]) AS x(u, r, a)
               ON CONFLICT (username) DO NOTHING""",
            [u for u, _, _ in missing], [r for _, r, _ in missing], [a for _, _, a in missing], password_hash,
        )
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, username, role, area FROM users
            WHERE username = ANY($1::text[]) AND role IN ('dispatcher', 'biller') AND area IS NOT NULL
            ORDER BY username""",
        names,
    )
    report.users, report.users_created = len(rows), len(missing)
    return rows


async def _reserve_ids(conn: asyncpg.Connection, count: int) -> int:
    """Take `count` consecutive bag ids from the sequence; return the first.

    The table lock keeps any other inserter (who takes ids inside INSERT, after locking the table)
    from drawing an id between our nextval and setval.
    """
    async with conn.transaction():
        await conn.execute("LOCK TABLE bags IN SHARE ROW EXCLUSIVE MODE")
        first = await conn.fetchval("SELECT nextval(pg_get_serial_sequence('bags', 'id'))")
        await conn.execute("SELECT setval(pg_get_serial_sequence('bags', 'id'), $1)", first + count - 1)
    return int(first)


# --- planning: every row, decided chunk by chunk, with no I/O ---------------------------------


class _Planner:
    """Decides the rows of a run: which parents, how full, who scans what and when.

    Deterministic for a given first bag id. `chunks()` runs in a worker thread.
    """

    def __init__(self, bags: int, first_id: int, formats: list[_Format], all_formats: tuple[ParentFormat, ...],
                 users: list[asyncpg.Record], first_bill: int, now: datetime, report: SeedReport,
                 rng: random.Random) -> None:
        self.rng = rng
        self.report = report
        self.next_id = first_id
        self.next_bill = first_bill
        self.parent_code = re.compile("|".join(f"(?:{f.pattern.removeprefix('^').removesuffix('$')})"
                                               for f in all_formats) or "(?!)")
        device = f"seed-{first_id}-"
        self.dispatchers: dict[str, list[_Operator]] = defaultdict(list)
        self.billers: dict[str, _Operator] = {}
        for user in users:
            operator = _Operator(user["id"], user["area"], device + user["username"], 0.0)
            if user["role"] == "dispatcher":
                self.dispatchers[user["area"]].append(operator)
            else:
                self.billers.setdefault(user["area"], operator)
        self.areas = sorted(self.dispatchers)
        if not self.areas:
            raise ValueError("there is no dispatch area to seed bags in")
        report.parents = {fmt.name: 0 for fmt in formats}
        self.cum_weights = list(itertools.accumulate(rng.uniform(1, 3) for _ in self.areas))
        self.packs = self._plan_packs(bags, formats)
        self.loose = bags - sum(1 + n for _, n in self.packs)
        self.end = (now - HISTORY_ENDS).timestamp()
        self.span = self._span()
        for operator in itertools.chain(*self.dispatchers.values(), self.billers.values()):
            operator.clock = self.end - self.span
        self._roll = -1
        self._roll_prefix = ""
        self._complete: dict[str, list[tuple[int, str, float]]] = defaultdict(list)
        """The planned chunk's complete parents per area (id, code, completed at), waiting for bills."""

    def _plan_packs(self, bags: int, formats: list[_Format]) -> list[tuple[_Format, int]]:
        """(format, children) per parent until the bags or the free parent codes run out."""
        shares = [MAIN_FORMAT_SHARE if i == 0 else (1 - MAIN_FORMAT_SHARE) / (len(formats) - 1)
                  for i in range(len(formats))]
        left = [fmt.free for fmt in formats]
        packs: list[tuple[_Format, int]] = []
        budget = bags
        while budget > 0 and any(left):
            i = self.rng.choices(range(len(formats)), [share if n else 0 for share, n in zip(shares, left)])[0]
            fmt = formats[i]
            full = self.rng.random() < COMPLETE_SHARE
            children = min(fmt.capacity if full else self.rng.randrange(fmt.capacity), budget - 1)
            packs.append((fmt, children))
            left[i] -= 1
            budget -= 1 + children
        return packs

    def _span(self) -> float:
        """How far back history goes: the busiest area's dispatchers are busy BUSY of the time."""
        if not self.packs:
            return 86400.0
        work = sum(1 + n for _, n in self.packs) * sum(SCAN_GAP) / 2 + len(self.packs) * sum(PAUSE) / 2
        busiest = max(b - a for a, b in zip([0.0, *self.cum_weights], self.cum_weights)) / self.cum_weights[-1]
        return max(3600.0, busiest * work / (DISPATCHERS_PER_AREA * BUSY))

    def chunks(self) -> Iterator[Chunk]:
        """Packs in time order, loose children spread among them, billed chunk by chunk."""
        chunk = self._open()
        start, step = self.end - self.span, self.span / max(len(self.packs), 1)
        loose_per_pack = self.loose / len(self.packs) if self.packs else 0.0
        loose_due, loose_left = 0.0, self.loose
        for k, (fmt, children) in enumerate(self.packs):
            at = start + k * step
            self._pack(chunk, fmt, children, at)
            loose_due += loose_per_pack
            batch = min(int(loose_due), loose_left)
            self._loose(chunk, batch, at)
            loose_due, loose_left = loose_due - batch, loose_left - batch
            if len(chunk.bags) >= CHUNK_BAGS:
                yield self._close(chunk, last=False)
                chunk = self._open()
        # Without parents (or after rounding), children come in imports of one roll each.
        imports = -(-loose_left // ROLL)
        for k in range(imports):
            batch = min(ROLL, loose_left)
            self._loose(chunk, batch, start + self.span * k / imports)
            loose_left -= batch
            if len(chunk.bags) >= CHUNK_BAGS and loose_left:
                yield self._close(chunk, last=False)
                chunk = self._open()
        if chunk.bags:
            yield self._close(chunk, last=True)

    def _open(self) -> Chunk:
        return Chunk(ids=range(self.next_id, self.next_id))

    def _close(self, chunk: Chunk, last: bool) -> Chunk:
        chunk.ids = range(chunk.ids.start, self.next_id)
        self._bill(chunk, last)
        self._complete.clear()
        self.report.scans += len(chunk.scans)
        return chunk

    def _pack(self, chunk: Chunk, fmt: _Format, children: int, at: float) -> None:
        """A dispatcher scans a new parent, then `children` children into it."""
        rng = self.rng
        area = self.areas[bisect.bisect(self.cum_weights, rng.random() * self.cum_weights[-1])]
        dispatcher = min(self.dispatchers[area], key=lambda d: d.clock)
        user = dispatcher.user_id
        t = max(at, dispatcher.clock)
        parent_id, code = self.next_id, next(fmt.codes)
        created = self._scan(chunk, dispatcher, rules.ScanParent.op, code, "", t)
        chunk.bags.append((parent_id, code, "P", fmt.name, fmt.capacity, fmt.expected_kg, area, user, created))
        full = children == fmt.capacity
        linked = created
        gap, spread, random_ = SCAN_GAP[0], SCAN_GAP[1] - SCAN_GAP[0], rng.random
        for count, child_id in enumerate(range(parent_id + 1, parent_id + 1 + children), 1):
            t += gap + spread * random_()
            child = self._child_code(child_id)
            completed = full and count == children
            # The parent's view after the link, as the hub records it: what SQL counts completions by.
            detail = {"parent": code, "count": count, "capacity": fmt.capacity, "complete": completed}
            linked = self._scan(chunk, dispatcher, rules.ScanChild.op, child, code, t,
                                linked=1, completed=int(completed), detail=detail)
            chunk.bags.append((child_id, child, "C", None, None, None, area, user, linked))
            chunk.links.append((child_id, parent_id, user, linked))
        if full:
            self._complete[area].append((parent_id, code, t))
            self.report.complete_parents += 1
        dispatcher.clock = t + rng.uniform(*PAUSE)
        self.next_id += 1 + children
        self.report.parents[fmt.name] = self.report.parents.get(fmt.name, 0) + 1
        self.report.children_linked += children

    def _loose(self, chunk: Chunk, count: int, at: float) -> None:
        """`count` children imported at `at` into one area, in no parent yet."""
        if not count:
            return
        area = self.rng.choice(self.areas)
        created = datetime.fromtimestamp(at, _UTC)
        for child_id in range(self.next_id, self.next_id + count):
            chunk.bags.append((child_id, self._child_code(child_id), "C", None, None, None, area, None, created))
        self.next_id += count
        self.report.children_loose += count

    def _bill(self, chunk: Chunk, last: bool) -> None:
        """Bills for the chunk's complete parents, per area, most of them full."""
        rng = self.rng
        for area, parents in self._complete.items():
            biller = self.billers.get(area)
            if biller is None:
                continue
            billed = [parent for parent in parents if rng.random() < BILLED_SHARE]
            while billed:
                capacity = rng.choice(BILL_CAPACITIES)
                fill = capacity if rng.random() < 0.7 else rng.randint(capacity * 3 // 4, capacity)
                group, billed = billed[:fill], billed[fill:]
                # A short last bill of the run is still being loaded; earlier ones left as they were.
                self._one_bill(chunk, biller, capacity, group, finish=not (last and len(group) < fill))

    def _one_bill(self, chunk: Chunk, biller: _Operator, capacity: int, parents: list[tuple[int, str, float]],
                  finish: bool) -> None:
        rng = self.rng
        code = f"{BILL_PREFIX}{self.next_bill:07d}"
        self.next_bill += 1
        t = max(biller.clock, parents[0][2]) + rng.uniform(30, 120)
        created = self._scan(chunk, biller, rules.CreateBill.op, code, "", t)
        vehicle = f"{rng.choice(STATES)}{rng.randint(1, 40):02d}{rng.choice(_DIGITS36[10:])}" \
                  f"{rng.choice(_DIGITS36[10:])}{rng.randint(1, 9999):04d}"
        chunk.bills.append((code, capacity, rng.choice(DESTINATIONS), vehicle, biller.area, biller.user_id,
                            created))
        for parent_id, parent_code, completed in parents:
            t = max(t + rng.uniform(4, 10), completed + 10)
            added = self._scan(chunk, biller, rules.AddToBill.op, parent_code, code, t)
            chunk.bill_parents.append((parent_id, code, biller.user_id, added))
        if finish:
            t += rng.uniform(60, 300)
            finished = self._scan(chunk, biller, rules.FinishBill.op, code, "", t, finished=1)
            chunk.finished.append((code, finished))
            self.report.bills_completed += 1
        biller.clock = t
        self.report.bills += 1
        self.report.parents_billed += len(parents)

    def _scan(self, chunk: Chunk, operator: _Operator, op: str, code: str, target: str, at: float,
              linked: int = 0, completed: int = 0, finished: int = 0,
              detail: dict[str, Any] | None = None) -> datetime:
        """Record one accepted scan (and its per-minute counts); return its server time."""
        seq = operator.seq = operator.seq + 1
        server_time = datetime.fromtimestamp(at, _UTC)
        chunk.scans.append((operator.device, seq, operator.user_id, operator.area, op, code, target, _OK, detail,
                            server_time - _LATENCIES[seq % 200], server_time))
        chunk.devices[operator.device] = (seq, operator.user_id)
        counts = chunk.stats[(int(at // 60), operator.area, operator.device)]
        counts[0] += 1
        if linked:
            counts[2] += 1
            counts[3] += completed
        counts[4] += finished
        return server_time

    def _child_code(self, bag_id: int) -> str:
        """The child code of a bag id: its roll's prefix, then its serial in the roll."""
        roll, serial = divmod(bag_id, ROLL)
        if roll != self._roll:
            self._roll = roll
            self._roll_prefix = _roll_prefix(roll, ROLL_PREFIX_LENGTHS[(roll * 2654435761 >> 16) % 6])
        code = self._roll_prefix + _SERIALS[serial]
        if self.parent_code.fullmatch(code) is None:
            return code
        for length in sorted(set(ROLL_PREFIX_LENGTHS)):  # the same id with another length is still unique
            code = _roll_prefix(roll, length) + _SERIALS[serial]
            if self.parent_code.fullmatch(code) is None:
                return code
        raise ValueError(f"every child code for bag {bag_id} matches a parent format")


def _roll_prefix(roll: int, length: int) -> str:
    """`length` base-36 digits, a bijection of the roll number (the multiplier is prime to 36)."""
    value = (roll * 25214903917 + 2718281828) % 36**length
    digits = []
    for _ in range(length):
        value, digit = divmod(value, 36)
        digits.append(_DIGITS36[digit])
    return "".join(reversed(digits))


# --- writing ----------------------------------------------------------------------------------


async def _write_all(pool: asyncpg.Pool, chunks: Iterator[Chunk], bags: int, set_wise: bool) -> None:
    """A thread plans chunks; WRITERS connections write them, each chunk in one transaction."""
    queue: asyncio.Queue[Chunk | None] = asyncio.Queue(maxsize=WRITERS)
    columns = (TextColumn("seeding"), BarColumn(), MofNCompleteColumn(), TextColumn("bags"),
               TimeElapsedColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as progress:
        task = progress.add_task("seeding", total=bags)

        async def take() -> None:
            while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
                await queue.put(chunk)
            for _ in range(WRITERS):
                await queue.put(None)

        async def write() -> None:
            async with pool.acquire() as conn:
                while (chunk := await queue.get()) is not None:
                    await write_chunk(conn, chunk, set_wise)
                    progress.advance(task, len(chunk.bags))

        async with asyncio.TaskGroup() as group:
            group.create_task(take())
            for _ in range(WRITERS):
                group.create_task(write())
