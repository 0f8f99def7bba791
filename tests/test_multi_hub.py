"""Two hub processes on one database, scanners on both racing for the same parents, children and
bills: no invariant breaks, and what the scanners were told agrees with what PostgreSQL holds.

Every hub decides against rows it has locked, and the database's constraints are the final arbiter,
so two hubs (each with its own cache and writer) must not be able to put a child in two parents, a
parent above its capacity, a parent on two bills or a bill above its capacity.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter, defaultdict
from typing import Any

import asyncpg

from tests.device_support import Device, links_in_db, run_all
from tests.hubprocess import create_users, login
from tests.remote_support import check_invariants

PARENTS = {"SB00001": 30, "SB00002": 30, "M444-00001": 15, "M444-00002": 15}
CHILDREN = [f"R{n:04d}" for n in range(1, 121)]  # 120 children for 90 places
CHILD_CODES = {"OK", "ALREADY_LINKED", "ALREADY_IN_PARENT", "PARENT_FULL", "CONFLICT"}


def racing_dispatcher(n: int) -> list[dict[str, Any]]:
    """Scan every parent, then every child into a parent picked at random, in an order of its own."""
    rng = random.Random(n)
    parents = list(PARENTS)
    ops: list[dict[str, Any]] = [{"op": "parent", "code": p} for p in rng.sample(parents, len(parents))]
    for child in rng.sample(CHILDREN, len(CHILDREN)):
        ops.append({"op": "child", "code": child, "parent": rng.choice(parents)})
    return ops


def acked(devices: list[Device]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(operation, ack) of every operation of these devices."""
    return [(d.ops[seq - 1], ack) for d in devices for seq, ack in sorted(d.acks.items())]


def more(device: Device, ops: list[dict[str, Any]]) -> None:
    """Give a device more operations to make, numbered on from its last."""
    device.ops += [{"t": "op", "seq": n, **op} for n, op in enumerate(ops, start=len(device.ops) + 1)]


async def check_scans(pool: asyncpg.Pool, devices: list[Device]) -> None:
    """Every ack is recorded once, with its result."""
    for device in devices:
        rows = await pool.fetch("SELECT seq, result FROM scans WHERE device_id = $1", device.name)
        assert len(rows) == len({r["seq"] for r in rows})
        assert {r["seq"]: r["result"] for r in rows} == {seq: a["code"] for seq, a in device.acks.items()}


async def test_two_hubs_racing_for_the_same_bags_break_no_invariant(hub_process: Any,
                                                                    clean_db: asyncpg.Pool) -> None:
    dispatchers = [f"race{n}" for n in range(1, 7)]
    billers = ["bill1", "bill2"]
    await create_users(clean_db, dispatchers)
    await create_users(clean_db, billers, role="biller")
    await create_users(clean_db, ["faraway"], area="indore")
    hubs = await asyncio.gather(*(asyncio.to_thread(lambda: hub_process().start()) for _ in range(2)))
    urls = [hub.url for hub in hubs]

    # --- the children race: six dispatchers, three on each hub, same parents, same children
    scanners = [Device(f"hh-race-{n}", await login(urls[n % 2], name), racing_dispatcher(n), burst=4,
                       pause=0.005)
                for n, name in enumerate(dispatchers)]
    stranger = Device("hh-faraway", await login(urls[1], "faraway"),
                      [{"op": "child", "code": c, "parent": p} for c, p in zip(CHILDREN, list(PARENTS) * 30)])
    async def race(devices: list[Device], extra: list[Device] = []) -> None:  # noqa: B006
        """Even-numbered scanners on the first hub, odd ones (and `extra`) on the second; all connect
        first, then start together."""
        welcomed = {d.name: len(d.welcomes) for d in devices + extra}
        for device in devices + extra:
            device.start.clear()
        racing = asyncio.gather(run_all(devices[0::2], hubs[0].ws_url("/ws/scan"), 120, reconnect=True),
                                run_all(devices[1::2] + extra, hubs[1].ws_url("/ws/scan"), 120, reconnect=True))
        try:
            async with asyncio.timeout(30):
                while any(len(d.welcomes) == welcomed[d.name] for d in devices + extra):
                    await asyncio.sleep(0.005)
        finally:
            for device in devices + extra:
                device.start.set()
        results = await racing
        assert results == [["done"] * len(devices[0::2]), ["done"] * len(devices[1::2] + extra)]

    await race(scanners, [stranger])
    await check_invariants(clean_db)

    ops = acked(scanners)
    created = Counter(a["data"]["parent"] for o, a in ops if o["op"] == "parent" and a["data"].get("created"))
    assert created == {p: 1 for p in PARENTS}, "each parent is created by exactly one scan"
    assert {a["code"] for o, a in ops if o["op"] == "parent"} == {"OK"}
    child_acks = [(o, a) for o, a in ops if o["op"] == "child"]
    assert {a["code"] for _, a in child_acks} <= CHILD_CODES, Counter(a["code"] for _, a in child_acks)
    linked = [(o["code"], o["parent"]) for o, a in child_acks if a["ok"]]
    assert len(linked) == len({child for child, _ in linked}), "a child was accepted into two parents"
    for o, a in child_acks:
        if a["code"] == "ALREADY_LINKED":
            assert (o["code"], a["data"]["other_parent"]) in linked
        if a["code"] == "ALREADY_IN_PARENT":
            assert (o["code"], o["parent"]) in linked
        if a["ok"]:
            assert a["data"]["count"] <= PARENTS[o["parent"]]
    # 120 children for 90 places, every child offered to random parents by six scanners: all full
    assert Counter(parent for _, parent in linked) == PARENTS
    assert all(a["code"] in ("UNKNOWN_PARENT", "WRONG_AREA") for a in stranger.acks.values())
    assert await links_in_db(clean_db) == dict(linked)

    # --- each dispatcher undoes its last link, three on each hub at once; then they fill up again
    undone: list[str] = []
    undoing = [d for d in scanners if any(a["ok"] and "child" in a["data"] for a in d.acks.values())]
    for device in undoing:
        last = max(seq for seq, a in device.acks.items() if a["ok"] and device.ops[seq - 1]["op"] == "child")
        more(device, [{"op": "undo", "code": device.ops[last - 1]["code"]}])
    await race(scanners)
    for device in undoing:
        undo = device.acks[len(device.ops)]
        # NOT_LAST_SCAN only through the linked_at tie (see test_replay's xfail): links of one batch
        # are indistinguishable by time.
        assert undo["code"] in ("OK", "NOT_LAST_SCAN"), undo
        if undo["ok"]:
            assert undo["data"]["undone"] == "link"
            undone.append(undo["data"]["child"])
    assert undone, "no undo went through"
    links = {child: parent for child, parent in linked if child not in undone}
    await check_invariants(clean_db)
    assert await links_in_db(clean_db) == links
    refill_from = {device.name: len(device.ops) for device in scanners}
    for device in scanners:
        more(device, racing_dispatcher(len(device.ops)))
    await race(scanners)
    await check_invariants(clean_db)
    refill = [(d.ops[seq - 1]["code"], d.ops[seq - 1]["parent"]) for d in scanners for seq, a in d.acks.items()
              if seq > refill_from[d.name] and d.ops[seq - 1]["op"] == "child" and a["ok"]]
    assert all(child not in links for child, _ in refill)
    links.update(refill)
    assert len(refill) == len(undone) and Counter(links.values()) == PARENTS
    assert await links_in_db(clean_db) == links

    # --- the bills race: a biller on each hub; both want the same bill number and the same parents
    tokens = [await login(urls[n], name) for n, name in enumerate(billers)]

    def biller(n: int) -> list[dict[str, Any]]:
        rng = random.Random(100 + n)
        own = f"B-{n}"
        ops: list[dict[str, Any]] = [{"op": "bill_create", "bill": own, "capacity": 2},
                                     {"op": "bill_create", "bill": "B-SHARED", "capacity": 1,
                                      "destination": f"by biller {n}"}]
        for parent in rng.sample(list(PARENTS), len(PARENTS)):
            ops += [{"op": "bill_add", "bill": "B-SHARED", "parent": parent},
                    {"op": "bill_add", "bill": own, "parent": parent}]
        return ops + [{"op": "bill_finish", "bill": own}]

    bill_devices = [Device(f"hh-biller-{n}", token, biller(n), burst=2, pause=0.001)
                    for n, token in enumerate(tokens)]
    results = await asyncio.gather(*(run_all([d], hubs[n].ws_url("/ws/scan"), 60, reconnect=True)
                                     for n, d in enumerate(bill_devices)))
    assert results == [["done"], ["done"]]
    await check_invariants(clean_db)

    bill_ops = acked(bill_devices)
    shared = [a["code"] for o, a in bill_ops if o["op"] == "bill_create" and o["bill"] == "B-SHARED"]
    assert sorted(shared) == ["BILL_EXISTS", "OK"]
    added = [(o["parent"], o["bill"]) for o, a in bill_ops if o["op"] == "bill_add" and a["ok"]]
    assert len(added) == len({parent for parent, _ in added}), "a parent was accepted onto two bills"
    on_bill: defaultdict[str, int] = defaultdict(int)
    for _, bill in added:
        on_bill[bill] += 1
    assert on_bill["B-SHARED"] == 1 and on_bill["B-0"] <= 2 and on_bill["B-1"] <= 2
    assert len(added) == len(PARENTS), "every complete parent ended on some bill"
    for o, a in bill_ops:
        if o["op"] == "bill_add" and not a["ok"]:
            assert a["code"] in ("ALREADY_ON_BILL", "BILL_FULL", "CONFLICT"), (o, a)
    rows = await clean_db.fetch("SELECT p.code AS parent, b.code AS bill FROM bill_parents bp "
                                "JOIN bags p ON p.id = bp.parent_id JOIN bills b ON b.id = bp.bill_id")
    assert {(r["parent"], r["bill"]) for r in rows} == set(added)
    statuses = {r["code"]: (r["status"], r["parent_count"]) for r in await clean_db.fetch(
        "SELECT code, status, parent_count FROM bills")}
    assert statuses["B-SHARED"] == ("open", 1)
    for n in (0, 1):
        finish = bill_devices[n].acks[len(bill_devices[n].ops)]
        assert finish["code"] == ("OK" if on_bill[f"B-{n}"] else "BILL_EMPTY")
        assert statuses[f"B-{n}"] == ("completed" if on_bill[f"B-{n}"] else "open", on_bill[f"B-{n}"])

    # --- and now each dispatcher undoes its last scan again: its parent is on a bill, so it stays
    def still_linked(device: Device) -> list[str]:
        return [device.ops[seq - 1]["code"] for seq, a in sorted(device.acks.items())
                if a["ok"] and device.ops[seq - 1]["op"] == "child" and device.ops[seq - 1]["code"] in links]

    undoing = [d for d in scanners if still_linked(d)]
    assert undoing
    for device in undoing:
        more(device, [{"op": "undo", "code": still_linked(device)[-1]}])
    await race(scanners)
    for device in undoing:
        assert device.acks[len(device.ops)]["code"] in ("PARENT_ON_BILL", "NOT_LAST_SCAN")
    assert await links_in_db(clean_db) == links
    await check_invariants(clean_db)
    await check_scans(clean_db, scanners + [stranger] + bill_devices)
    assert sum(len(d.retries) for d in scanners + [stranger] + bill_devices) == 0
