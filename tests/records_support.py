"""Helpers for the records tests: a varied data set written straight into PostgreSQL (through its
constraints and triggers), the same data as plain Python values for reference answers, and a walk
over every page of a list endpoint."""

from __future__ import annotations

import asyncio
import random
import string
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from starlette.testclient import TestClient

from tests.http_support import cookie

AREAS = ("lucknow", "indore", "jaipur")
START = datetime(2025, 11, 27, 18, 0, tzinfo=UTC)  # in the past: rows added now are newer
PASSWORD_HASH = "not-a-real-hash"


@dataclass
class Bag:
    code: str
    kind: str  # "parent" or "child"
    area: str
    created_at: datetime
    capacity: int | None = None
    children: list[str] = field(default_factory=list)
    parent: str | None = None
    bill: str | None = None
    id: int = 0

    @property
    def status(self) -> str:
        if self.kind == "child":
            return "in_parent" if self.parent else "loose"
        if self.bill:
            return "on_bill"
        if not self.children:
            return "empty"
        return "complete" if len(self.children) == self.capacity else "filling"


@dataclass
class Bill:
    code: str
    area: str
    created_at: datetime
    capacity: int
    destination: str
    vehicle: str
    completed: bool = False
    parents: list[str] = field(default_factory=list)
    id: int = 0


@dataclass
class Scan:
    device: str
    seq: int
    user: str
    area: str
    op: str
    code: str
    target: str
    result: str
    at: datetime
    id: int = 0


@dataclass
class Entry:
    actor: str
    action: str
    target: str
    at: datetime
    id: int = 0


@dataclass
class Dataset:
    """What was written, as Python values: the reference the API's answers are compared with."""

    users: dict[str, int] = field(default_factory=dict)
    bags: list[Bag] = field(default_factory=list)
    bills: list[Bill] = field(default_factory=list)
    scans: list[Scan] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)


def _instants(rng: random.Random, count: int) -> list[datetime]:
    """`count` instants over four days, many of them shared (ties are where keysets go wrong)."""
    pool = [START + timedelta(minutes=rng.randrange(4 * 24 * 60), microseconds=rng.randrange(3))
            for _ in range(max(count // 3, 1))]
    return [rng.choice(pool) for _ in range(count)]


def make_dataset(seed: int = 7, parents: int = 40, loose: int = 30) -> Dataset:
    """Parents of every status (capacities 1-3, so full parents are cheap), children in them and loose,
    bills open and completed, scans accepted and rejected, audit entries: all in three areas."""
    rng = random.Random(seed)
    data = Dataset(users={f"user{n}": 0 for n in range(4)})
    times = iter(_instants(rng, parents * 4 + loose + 200))
    child_codes = iter(f"C{n:05d}{''.join(rng.choices(string.ascii_uppercase, k=2))}" for n in range(10**5))
    for n in range(parents):
        area = AREAS[n % len(AREAS)]
        code = f"SB{n:05d}" if n % 2 else f"M444-{n:05d}"
        parent = Bag(code, "parent", area, next(times), capacity=rng.randint(1, 3))
        data.bags.append(parent)
        for _ in range(rng.randint(0, parent.capacity or 0)):
            child = Bag(next(child_codes), "child", area, next(times), parent=parent.code)
            parent.children.append(child.code)
            data.bags.append(child)
    for _ in range(loose):
        data.bags.append(Bag(next(child_codes), "child", rng.choice(AREAS), next(times)))
    for n, area in enumerate(AREAS * 2):
        bill = Bill(f"BL-{n}", area, next(times), capacity=3, destination=rng.choice(["Delhi", "Pune", "Agra"]),
                    vehicle=rng.choice(["RJ14 0001", "MP09 7777", "UP32 DELHI"]))
        full = [b for b in data.bags if b.area == area and b.status == "complete"]
        for parent in full[:rng.randint(0, 3)]:
            parent.bill = bill.code
            bill.parents.append(parent.code)
        bill.completed = bool(bill.parents) and rng.random() < 0.5
        data.bills.append(bill)
    users = list(data.users)
    for n in range(120):
        bag = rng.choice(data.bags)
        data.scans.append(Scan(device=f"dev-{n % 5}", seq=n + 1, user=rng.choice(users), area=bag.area,
                               op="child" if bag.kind == "child" else "parent", code=bag.code,
                               target=bag.parent or "", result=rng.choice(["OK", "OK", "OK", "PARENT_FULL"]),
                               at=next(times)))
    for _ in range(40):
        data.entries.append(Entry(actor=rng.choice(users), action=rng.choice(["bill.edit", "user.create", "bag.move"]),
                                  target=rng.choice(["bill:BL-1", "user:3", "bag:SB00001"]), at=next(times)))
    return data


async def write_dataset(pool: asyncpg.Pool, data: Dataset) -> None:
    """Insert the data set (on a clean database); ids are filled in."""
    async with pool.acquire() as conn, conn.transaction():
        for name in data.users:
            data.users[name] = await conn.fetchval(
                "INSERT INTO users (username, password_hash, role, area) VALUES ($1, $2, 'dispatcher', 'lucknow')"
                " RETURNING id", name, PASSWORD_HASH)
        ids: dict[str, int] = {}
        for bag in data.bags:
            parent = bag.kind == "parent"
            bag.id = ids[bag.code] = await conn.fetchval(
                """INSERT INTO bags (code, kind, format, capacity, expected_kg, area, created_at)
                   VALUES ($1, $2, $3, $4::integer, $4::numeric, $5, $6) RETURNING id""",
                bag.code, "P" if parent else "C", "mini" if parent else None, bag.capacity if parent else None,
                bag.area, bag.created_at)
        await conn.executemany("INSERT INTO links (child_id, parent_id) VALUES ($1, $2)",
                               [(b.id, ids[b.parent]) for b in data.bags if b.parent])
        for bill in data.bills:
            bill.id = await conn.fetchval(
                """INSERT INTO bills (code, capacity, area, destination, vehicle, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
                bill.code, bill.capacity, bill.area, bill.destination, bill.vehicle, bill.created_at)
            await conn.executemany("INSERT INTO bill_parents (parent_id, bill_id) VALUES ($1, $2)",
                                   [(ids[p], bill.id) for p in bill.parents])
            if bill.completed:
                await conn.execute("UPDATE bills SET status = 'completed', completed_at = created_at WHERE id = $1",
                                   bill.id)
        for scan in data.scans:
            scan.id = await conn.fetchval(
                """INSERT INTO scans (device_id, seq, user_id, area, op, code, target, result, server_time)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id""",
                scan.device, scan.seq, data.users[scan.user], scan.area, scan.op, scan.code, scan.target,
                scan.result, scan.at)
        for entry in data.entries:
            entry.id = await conn.fetchval(
                "INSERT INTO audit_log (actor_id, action, target, at) VALUES ($1, $2, $3, $4) RETURNING id",
                data.users[entry.actor], entry.action, entry.target, entry.at)


def walk(client: TestClient, path: str, token: str, key: str, params: dict[str, Any],
         limit: int = 7) -> list[dict[str, Any]]:
    """Every row of a list endpoint, page after page (asserting each page answers 200)."""
    rows: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {**params, "limit": str(limit), **({"after": after} if after else {})}
        response = client.get(path, params=query, headers=cookie(token))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body[key]) <= limit
        rows.extend(body[key])
        after = body["next"]
        if after is None:
            return rows
        assert len(body[key]) == limit


def newest_first(items: list[Any], time: str) -> list[Any]:
    return sorted(items, key=lambda item: (getattr(item, time), item.id), reverse=True)


def within(params: dict[str, str]) -> tuple[datetime, datetime]:
    """The instants a reference keeps for `from` and `to` given as date-times with offsets."""
    return (datetime.fromisoformat(params["from"]) if "from" in params else datetime.min.replace(tzinfo=UTC),
            datetime.fromisoformat(params["to"]) if "to" in params else datetime.max.replace(tzinfo=UTC))


def walk_while_inserting(client: TestClient, path: str, token: str, key: str, database_url: str, insert: str,
                         limit: int = 4) -> tuple[list[dict[str, Any]], int, int]:
    """Walk every page of a list while another task, on its own connection, runs `insert` (SQL with
    $1 = a running number) between every two pages; returns the rows seen, the pages and the inserts."""
    page_done, inserted_one = threading.Semaphore(0), threading.Semaphore(0)
    stop = threading.Event()
    inserted = 0

    async def inserter() -> None:
        nonlocal inserted
        conn = await asyncpg.connect(database_url)
        try:
            while True:
                page_done.acquire()
                if stop.is_set():
                    return
                await conn.execute(insert, inserted)
                inserted += 1
                inserted_one.release()
        finally:
            await conn.close()

    thread = threading.Thread(target=lambda: asyncio.run(inserter()))
    thread.start()
    seen: list[dict[str, Any]] = []
    pages = 0
    after = None
    try:
        while True:
            response = client.get(path, params={"limit": str(limit), **({"after": after} if after else {})},
                                  headers=cookie(token))
            assert response.status_code == 200, response.text
            body = response.json()
            seen.extend(body[key])
            pages += 1
            after = body["next"]
            if after is None:
                return seen, pages, inserted
            page_done.release()
            inserted_one.acquire()
    finally:
        stop.set()
        page_done.release()
        thread.join()
