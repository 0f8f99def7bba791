"""Sequences of scans and corrections through the real batch writer, in batches of any size, against
the same sequence through the pure rules one by one (the writer must answer every operation as the
rules do, and end in the rules' state), with every invariant checked in SQL afterwards, the live
counters equal to what SQL counts, and exactly one audit row per accepted correction.

Capacities are small (formats are configuration; the names are the database's own), so parents
fill, go on bills and come off them within a few dozen operations.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.batch import Submission, apply_batch
from hub.database import create_pool
from hub.domain import rules
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import Actor, Role, World
from tests.dashboard_support import sql_today, stats_today

FORMATS = (ParentFormat("standard", "^SB[0-9]{5}$", 3, Decimal(3)),
           ParentFormat("mini", "^M444-[0-9]{5}$", 2, Decimal(2)))
PARENTS = ["SB00001", "SB00002", "M444-00001", "M444-00002"]
CHILDREN = [f"C{n:04d}" for n in range(1, 9)]
BILLS = ["B1", "B2"]
AREAS = ["lucknow", "indore", "atlantis"]
EXISTING = {"lucknow", "indore", "jaipur"}
TABLES = "scan_stats, scans, devices, bill_parents, bills, links, bags, audit_log"

parents, children, bills = st.sampled_from(PARENTS), st.sampled_from(CHILDREN), st.sampled_from(BILLS)
operations = st.one_of(
    st.tuples(st.sampled_from(["ravi", "iqbal"]), st.builds(rules.ScanParent, parents)),
    st.tuples(st.sampled_from(["ravi", "ravi", "iqbal", "bina"]), st.builds(rules.ScanChild, children, parents)),
    st.tuples(st.just("bina"), st.builds(rules.CreateBill, bills, st.just(2))),
    st.tuples(st.just("bina"), st.builds(rules.AddToBill, bills, parents)),
    st.tuples(st.sampled_from(["bina", "root"]), st.builds(rules.FinishBill, bills)),
    st.tuples(st.sampled_from(["bina", "root"]), st.builds(rules.ReopenBill, bills)),
    st.tuples(st.sampled_from(["bina", "root", "ira"]), st.builds(rules.EditBill, bills, st.none(),
                                                                  st.sampled_from(["UP32", "MP09"]))),
    st.tuples(st.just("root"), st.builds(rules.MoveChild, children, parents)),
    st.tuples(st.just("root"), st.builds(rules.TakeOut, children)),
    st.tuples(st.just("root"), st.builds(rules.TakeOffBill, parents)),
    st.tuples(st.just("root"), st.builds(rules.ReassignArea, parents, st.sampled_from(AREAS))),
    st.tuples(st.sampled_from(["root", "root", "ravi"]),
              st.builds(rules.DeleteBag, st.sampled_from(PARENTS + CHILDREN))),
)
PRELUDE = [("ravi", rules.ScanParent("SB00001")), ("ravi", rules.ScanParent("SB00002")),
           ("ravi", rules.ScanParent("M444-00001")), ("iqbal", rules.ScanParent("M444-00002")),
           ("ravi", rules.ScanChild("C0001", "M444-00001")), ("ravi", rules.ScanChild("C0002", "M444-00001")),
           ("ravi", rules.ScanChild("C0003", "SB00001")), ("iqbal", rules.ScanChild("C0004", "M444-00002")),
           ("bina", rules.CreateBill("B1", 2)), ("bina", rules.AddToBill("B1", "M444-00001"))]
"""Bags and a bill to correct, so that most drawn corrections find something to act on."""
steps = st.tuples(st.one_of(operations, operations.filter(lambda step: isinstance(step[1], rules.ScanChild))),
                  st.booleans())
runs = st.lists(steps, min_size=5, max_size=60).flatmap(
    lambda drawn: st.permutations([False] * 9 + [True]).map(lambda ends: [*zip(PRELUDE, ends), *drawn]))
"""(who, operation) and whether a new batch starts after it: the prelude in one or two batches, then
what hypothesis draws."""


async def reset(conn: asyncpg.Connection) -> dict[str, Actor]:
    await conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    await conn.execute("DELETE FROM users WHERE username <> 'admin'")
    actors = {}
    for name, role, area in (("ravi", Role.DISPATCHER, "lucknow"), ("iqbal", Role.DISPATCHER, "indore"),
                             ("bina", Role.BILLER, "lucknow"), ("ira", Role.BILLER, "indore"),
                             ("root", Role.ADMIN, None)):
        user_id = await conn.fetchval(
            "INSERT INTO users (username, password_hash, role, area) VALUES ($1, 'x', $2, $3) RETURNING id",
            f"prop-{name}", role.value, area)
        actors[name] = Actor(user_id, f"prop-{name}", role, area)
    return actors


async def db_state(conn: asyncpg.Connection) -> dict[str, Any]:
    bags = {r["code"]: (r["kind"], r["area"], r["child_count"], r["parent"], r["bill"]) for r in await conn.fetch(
        """SELECT b.code, b.kind, b.area, b.child_count, p.code AS parent, l.code AS bill FROM bags b
             LEFT JOIN links k ON k.child_id = b.id LEFT JOIN bags p ON p.id = k.parent_id
             LEFT JOIN bill_parents bp ON bp.parent_id = b.id LEFT JOIN bills l ON l.id = bp.bill_id""")}
    bills = {r["code"]: (r["area"], r["status"], r["parent_count"], r["vehicle"])
             for r in await conn.fetch("SELECT code, area, status, parent_count, vehicle FROM bills")}
    return {"bags": bags, "bills": bills}


def model_state(world: World) -> dict[str, Any]:
    return {"bags": {b.code: (b.kind, b.area, b.child_count, b.parent, b.bill) for b in world.bags.values()},
            "bills": {b.code: (b.area, b.status, b.parent_count, b.vehicle) for b in world.bills.values()}}


async def check_invariants(conn: asyncpg.Connection) -> None:
    assert await conn.fetch(
        """SELECT p.code FROM bags p WHERE p.kind = 'P'
              AND (p.child_count <> (SELECT count(*) FROM links l WHERE l.parent_id = p.id)
                   OR (p.completed_at IS NOT NULL) <> (p.child_count = p.capacity))""") == []
    assert await conn.fetch(
        """SELECT c.code FROM links l JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id
            WHERE c.area <> p.area""") == [], "a child is in its parent's area"
    assert await conn.fetch(
        """SELECT b.code FROM bills b
            WHERE b.parent_count <> (SELECT count(*) FROM bill_parents bp WHERE bp.bill_id = b.id)
               OR EXISTS (SELECT 1 FROM bill_parents bp JOIN bags p ON p.id = bp.parent_id
                           WHERE bp.bill_id = b.id AND (p.child_count <> p.capacity OR p.area <> b.area))""") == []


async def run(database_url: str, steps: list[tuple[tuple[str, rules.Operation], bool]]) -> None:
    pool = await create_pool(database_url, 1)  # the hub's own connections (its jsonb codec)
    try:
        async with pool.acquire() as conn:
            await check_run(conn, steps)
    finally:
        await pool.close()


async def check_run(conn: asyncpg.Connection, steps: list[tuple[tuple[str, rules.Operation], bool]]) -> None:
    actors = await reset(conn)
    now = datetime.now(UTC)
    world = World(formats=FORMATS, now=now, areas=set(EXISTING))
    batch: list[Submission] = []
    expected: list[str] = []
    answered: list[str] = []
    for seq, ((who, operation), ends_batch) in enumerate(steps, start=1):
        actor = actors[who]
        batch.append(Submission(f"prop-{who}", seq, actor, operation))
        expected.append(rules.apply(world, actor, operation).code.value)
        if ends_batch or seq == len(steps):
            async with conn.transaction():
                results, _ = await apply_batch(conn, batch, FORMATS, now)
            answered += [r.outcome.code.value for r in results]
            batch = []
    assert answered == expected
    assert await db_state(conn) == model_state(world)
    await check_invariants(conn)
    day = now.date().isoformat()
    assert await stats_today(conn, day) == await sql_today(conn, day)
    accepted = [op for (_, op), code in zip((step for step, _ in steps), expected)
                if code == "OK" and isinstance(op, rules.CORRECTIONS)]
    assert await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'bag.%'") == len(accepted)
    assert await conn.fetchval("SELECT count(*) FROM scans") == len(steps)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(steps=runs)
def test_corrections_and_scans_through_the_writer_keep_every_invariant(database_url: str, clean_db: Any,
                                                                      steps: Any) -> None:
    asyncio.run(run(database_url, steps))
