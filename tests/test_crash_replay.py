"""kill -9 of a hub under load, a new hub, replay: every acked scan is in PostgreSQL, none twice.

Real hub processes (`python -m hub serve`) and real websocket clients. Several scanners pipeline
operations with a durable outbox, as docs/protocol.md section 9 describes; the hub is SIGKILLed while
operations are in flight; a new hub process starts on the same database; the scanners reconnect and
resend everything unacked. Then PostgreSQL must hold every acked operation exactly once with the
acked result, and the links must be exactly those the acks describe.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import asyncpg

from tests.device_support import WAIT, Device, links_in_db, run_all
from tests.hubprocess import create_users, login


def dispatcher_shift(n: int) -> list[dict[str, Any]]:
    """A dispatcher's day in miniature: fill a standard parent (with rescans, a slip undone and
    redone, overfill), then a mini parent."""
    parent, mini = f"SB{n:05d}", f"M444-{n:05d}"
    ops: list[dict[str, Any]] = [{"op": "parent", "code": parent}]
    for k in range(1, 34):
        child = f"D{n}C{k:04d}"
        ops.append({"op": "child", "code": child, "parent": parent})
        if k % 7 == 0:
            ops.append({"op": "child", "code": child, "parent": parent})  # scanned twice
        if k == 12:
            ops.append({"op": "undo", "code": child})
            ops.append({"op": "child", "code": child, "parent": parent})
    ops.append({"op": "parent", "code": mini})
    ops += [{"op": "child", "code": f"D{n}M{k:04d}", "parent": mini} for k in range(1, 17)]
    ops.append({"op": "child", "code": f"D{n}C0001", "parent": mini})  # already in the other parent
    return ops


async def check_database(pool: asyncpg.Pool, devices: list[Device]) -> None:
    """Every ack is in scans once with its result; links, counters and stats agree with the acks."""
    for device in devices:
        rows = await pool.fetch("SELECT seq, result, detail FROM scans WHERE device_id = $1", device.name)
        by_seq = Counter(r["seq"] for r in rows)
        assert all(n == 1 for n in by_seq.values()), f"{device.name}: recorded twice: {by_seq.most_common(3)}"
        assert sorted(by_seq) == sorted(device.acks) == list(range(1, len(device.ops) + 1))
        for row in rows:
            ack = device.acks[row["seq"]]
            assert (row["result"], row["detail"]) == (ack["code"], ack["data"]), (device.name, row["seq"])
        assert await pool.fetchval("SELECT last_seq FROM devices WHERE device_id = $1", device.name) == len(
            device.ops)
        # Applied once, effects too: the per-minute counters were written in the same transactions.
        stats = await pool.fetchrow(
            "SELECT sum(accepted) AS accepted, sum(rejected) AS rejected, sum(children_linked) AS linked "
            "FROM scan_stats WHERE device_id = $1", device.name)
        oks = [device.ops[s - 1]["op"] for s, a in device.acks.items() if a["code"] == "OK"]
        assert stats["accepted"] == len(oks)
        assert stats["rejected"] == len(device.acks) - len(oks)
        assert stats["linked"] == oks.count("child") - oks.count("undo")

    expected: dict[str, str] = {}
    for device in devices:
        expected.update(device.expected_links())
    assert await links_in_db(pool) == expected
    bad = await pool.fetch(
        """SELECT p.code, p.child_count, p.capacity, p.completed_at IS NOT NULL AS completed,
                  (SELECT count(*) FROM links l WHERE l.parent_id = p.id) AS links
             FROM bags p WHERE p.kind = 'P'
              AND (p.child_count <> (SELECT count(*) FROM links l WHERE l.parent_id = p.id)
                   OR p.child_count > p.capacity
                   OR (p.completed_at IS NOT NULL) <> (p.child_count = p.capacity))""")
    assert bad == [], bad


async def test_kill_9_under_load_then_replay_to_a_new_hub_loses_and_doubles_nothing(
        hub_process: Any, clean_db: asyncpg.Pool) -> None:
    names = [f"crash{n}" for n in range(1, 5)]
    await create_users(clean_db, names)
    first = await asyncio.to_thread(lambda: hub_process().start())
    tokens = [await login(first.url, name) for name in names]
    # Two scanners will stop reading acks: the hub commits what they sent, and its acks never reach
    # them (as if the hub died before they got out). Two keep scanning fast until the hub dies.
    devices = [Device(f"hh-crash-{n}", token, dispatcher_shift(n), burst=4, pause=0.05) if n <= 2 else
               Device(f"hh-crash-{n}", token, dispatcher_shift(n) + dispatcher_shift(n + 10), burst=4, pause=0.02)
               for n, token in enumerate(tokens, start=1)]
    deaf, busy = devices[:2], devices[2:]

    async def until(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 30
        while not condition():
            assert not sessions.done(), f"the scanners finished before {what}"
            assert time.monotonic() < deadline, f"the scanners made no progress towards {what}"
            await asyncio.sleep(0.002)

    sessions = asyncio.ensure_future(run_all(devices, first.ws_url("/ws/scan"), 60))
    await until(lambda: all(len(d.acks) >= 12 for d in deaf), "the deaf scanners were under way")
    for device in deaf:
        device.reading.clear()
    stopped = time.monotonic()
    await until(lambda: all(len(d.acks) >= 0.4 * len(d.ops) for d in busy) and time.monotonic() > stopped + 0.3,
                "the busy scanners were under way")
    await asyncio.to_thread(first.kill)  # SIGKILL: no shutdown, no drain, no goodbye
    acked_before = {d.name: dict(d.acks) for d in devices}
    sent_before = {d.name: d.sent for d in devices}
    assert await asyncio.wait_for(sessions, WAIT) == ["closed"] * len(devices)
    for device in devices:
        device.reading.set()
        assert not device.done, f"{device.name} finished before the hub died"
    for device in deaf:
        assert device.outbox, f"{device.name} had nothing in flight when the hub died"

    second = await asyncio.to_thread(lambda: hub_process().start())
    assert await run_all(devices, second.ws_url("/ws/scan"), 90, reconnect=True) == ["done"] * len(devices)

    for device in devices:
        before = acked_before[device.name]
        applied = device.welcomes[1]["applied_seq"]
        # Durable: the new hub knows every seq acked before the crash (and nothing never sent).
        assert max(before, default=0) <= applied <= sent_before[device.name]
        for seq, ack in before.items():
            assert device.acks[seq] == ack
        # Resent operations the dead hub had committed are replays; the rest were applied now.
        assert all(seq <= applied for seq in device.replays)
        assert device.retries == []
    # The unread acks were of committed operations: their resends were answered as replays.
    assert all(device.replays for device in deaf)
    await check_database(clean_db, devices)
    # Every parent filled exactly as its acks say: 30 in each standard parent, 15 in each mini.
    counts = {r["code"]: r["child_count"] for r in await clean_db.fetch("SELECT code, child_count FROM bags "
                                                                         "WHERE kind = 'P'")}
    shifts = [1, 2, 3, 4, 13, 14]
    assert counts == {**{f"SB{n:05d}": 30 for n in shifts}, **{f"M444-{n:05d}": 15 for n in shifts}}
