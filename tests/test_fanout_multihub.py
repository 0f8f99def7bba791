"""Two real hub processes on one PostgreSQL and one Redis: what is scanned on either is on every
dashboard, exactly as SQL counts it; a batch whose publication was lost is repaired from SQL;
presence crosses processes, and a hub that dies takes its scanners off the list.

The clients, the random workload and the exactness checks are in tests/remote_support.py.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from hub.batch import Submission, apply_batch
from hub.domain import rules
from hub.domain.rules import Actor, Role
from hub.store import formats as formats_store
from tests.dashboard_support import Account, make_account, totals
from tests.hubprocess import HubProcess
from tests.remote_support import (
    Operator,
    RemoteDashboard,
    RemoteScanner,
    assert_acks_recorded,
    assert_exact,
    assert_view_equals_snapshot,
    biller_work,
    caught_up,
    dispatcher_work,
    start_hubs,
    unique_prefix,
)

pytestmark = pytest.mark.slow


# --- a lost publication, a wall-screen token ----------------------------------------------------


async def lose_a_batch(pool: asyncpg.Pool, account: Account, code: str) -> None:
    """Commit a batch as a hub would, and publish nothing: as if its hub died right after COMMIT."""
    actor = Actor(account.user_id, account.username, Role(account.role), account.area)
    formats = await formats_store.load(pool)
    async with pool.acquire() as conn, conn.transaction():
        results, committed = await apply_batch(
            conn, [Submission(f"lost-{uuid.uuid4().hex[:6]}", 1, actor, rules.ScanParent(code))], formats,
            datetime.now(UTC))
    assert results[0].outcome.ok and committed.seq > 0


async def issue_wall_token(hub: HubProcess, admin: Account, area: str | None) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=hub.url, headers=admin.cookie, timeout=10) as http:
        response = await http.post("/api/wall-tokens", json={"label": f"screen {area}", "area": area})
    assert response.status_code == 201, response.text
    return response.json()


# --- the tests -----------------------------------------------------------------------------------


async def test_scans_on_one_hub_reach_dashboards_on_the_other_exactly(
        hub_process: type[HubProcess], clean_db: asyncpg.Pool, redis_url: str, redis_prefix: str) -> None:
    pool = clean_db
    a, b = await start_hubs(hub_process, 2, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix))
    admin = await make_account(pool, "admin")
    luck_a, luck_b, indore_a, jaipur_b = [await make_account(pool, "dispatcher", area)
                                          for area in ("lucknow", "lucknow", "indore", "jaipur")]
    biller_a, biller_b = [await make_account(pool, "biller", area) for area in ("lucknow", "indore")]
    wall = await issue_wall_token(a, admin, "indore")
    seed = random.randrange(1 << 30)
    print(f"random workload seed {seed}")

    async with RemoteDashboard(b, "", admin) as all_b, RemoteDashboard(b, "format=json", luck_a) as lucknow_b, \
            RemoteDashboard(b, f"token={wall['token']}", None) as indore_wall_b, \
            RemoteDashboard(a, "format=json", admin) as all_a:
        dashboards = [all_b, lucknow_b, indore_wall_b, all_a]
        await asyncio.gather(*(d.until(lambda d=d: d.view.seq is not None, 10, "snapshot") for d in dashboards))
        assert lucknow_b.view.scope == "area:lucknow" and indore_wall_b.view.scope == "area:indore"

        async with RemoteScanner(a, luck_a) as s1, RemoteScanner(b, luck_b) as s2, \
                RemoteScanner(a, indore_a) as s3, RemoteScanner(b, jaipur_b) as s4, \
                RemoteScanner(a, biller_a) as s5, RemoteScanner(b, biller_b) as s6:
            scanners = [s1, s2, s3, s4, s5, s6]
            ops = [Operator(s, n + 1) for n, s in enumerate(scanners)]
            # Scans into another area's parents (WRONG_AREA), except for the two lucknow dispatchers
            # on different hubs: they fill each other's parents now and then.
            ops[0].foreign = ops[2].parents
            ops[1].foreign = ops[0].parents
            ops[2].foreign = ops[3].parents
            ops[3].foreign = ops[0].parents
            rngs = [random.Random(seed + n) for n in range(len(ops))]

            async def dispatcher(n: int) -> None:
                await dispatcher_work(ops[n], rngs[n], 60)
                if n == 1 and ops[0].parents:  # cross-hub contention on one parent
                    ops[1].parents.append(ops[0].parents[-1])
                await dispatcher_work(ops[n], rngs[n], 60)

            late: list[RemoteDashboard] = []

            async def join_late() -> None:
                await asyncio.sleep(0.5)
                dash = RemoteDashboard(a, "scope=area:lucknow", admin)
                await dash.__aenter__()
                late.append(dash)

            await asyncio.wait_for(asyncio.gather(
                *(dispatcher(n) for n in range(4)), biller_work(ops[4], rngs[4], 3), biller_work(ops[5], rngs[5], 2),
                join_late()), 90)
            dashboards += late
            try:
                counted = await assert_exact(pool, dashboards)
                await assert_acks_recorded(pool, scanners)
                codes = {a.reply["code"] for s in scanners for a in s.acks}
                assert {"OK", "WRONG_AREA", "INVALID_CODE", "UNKNOWN_PARENT", "BILL_NOT_OPEN"} <= codes, codes
                assert totals(counted)["parents_completed"] >= 5 and totals(counted)["bills_completed"] >= 4
                assert set(indore_wall_b.view.areas) <= {"indore"}
                assert {e["area"] for _, m in indore_wall_b.messages for e in m.get("events", [])} == {"indore"}
                for dash in dashboards:
                    assert dash.view.gaps == 0 and dash.close_code is None
                    await assert_view_equals_snapshot(dash)

                # A batch whose publication is lost (its hub died after COMMIT): the next batch shows
                # the gap, and within about a second every hub resyncs its dashboards from SQL.
                snapshots = [d.view.snapshots for d in dashboards]
                await lose_a_batch(pool, luck_a, "SB77777")
                assert (await s1.do("child", code="LOSTKID1", parent="SB77777"))["ok"]
                await caught_up(pool, dashboards, timeout=5)
                assert all(d.view.snapshots > n for d, n in zip(dashboards, snapshots))
                after = await assert_exact(pool, dashboards)
                assert totals(after)["accepted"] == totals(counted)["accepted"] + 2
                assert all(d.view.gaps == 0 for d in dashboards)

                # The last batch before a quiet spell is lost: no later batch shows the gap, the
                # hubs find it on the commit clock (read every few seconds).
                snapshots = [d.view.snapshots for d in dashboards]
                await lose_a_batch(pool, luck_a, "SB77778")
                took = time.monotonic()
                await caught_up(pool, dashboards, timeout=10)
                print(f"a lost last batch was repaired after {time.monotonic() - took:.1f} s")
                assert all(d.view.snapshots > n for d, n in zip(dashboards, snapshots))
                assert totals(await assert_exact(pool, dashboards))["accepted"] == totals(after)["accepted"] + 1
            finally:
                for dash in late:
                    await dash.__aexit__(None, None, None)
    latencies = sorted(a.latency for s in scanners for a in s.acks)
    print(f"{len(latencies)} acks, median {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")


async def test_presence_crosses_hubs_and_a_dead_hub_drops_off(
        hub_process: type[HubProcess], clean_db: asyncpg.Pool, redis_url: str, redis_prefix: str) -> None:
    pool = clean_db
    a, b = await start_hubs(hub_process, 2, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix))
    admin = await make_account(pool, "admin")
    raipur, ranchi = [await make_account(pool, "dispatcher", area) for area in ("raipur", "ranchi")]
    async with RemoteDashboard(b, "", admin) as all_b, RemoteDashboard(b, "scope=area:ranchi", admin) as ranchi_b, \
            RemoteDashboard(a, "", admin) as all_a:
        await all_b.until(lambda: all_b.view.seq is not None, 10, "snapshot")
        async with RemoteScanner(a, raipur, "raipur-gun-1") as scanner:
            joined = await all_b.until(lambda: all_b.online() == ["raipur-gun-1"], 2, "the join")
            entry = all_b.view.online[0]
            assert (entry["user"], entry["area"], entry["parent"]) == (raipur.username, "raipur", None)
            await scanner.do("parent", code="SB60001")
            await all_b.until(lambda: all_b.view.online[0]["parent"] == "SB60001", 2, "the parent")
        left = await all_b.until(lambda: all_b.online() == [], 2, "the leave")
        print(f"presence across hubs: join {joined * 1000:.0f} ms, leave {left * 1000:.0f} ms")
        assert joined < 1.0 and left < 1.0
        assert all(m.get("online", []) == [] and not m.get("changed") for _, m in ranchi_b.messages
                   if m["t"] == "presence")
        await all_a.until(lambda: all_a.online() == [], 2, "the leave on the scanner's own hub")  # paced too

        async with RemoteScanner(a, raipur, "raipur-gun-2"), RemoteScanner(b, ranchi, "ranchi-gun-1"):
            await all_b.until(lambda: all_b.online() == ["raipur-gun-2", "ranchi-gun-1"], 2, "both")
            await all_a.until(lambda: all_a.online() == ["raipur-gun-2", "ranchi-gun-1"], 2, "both")
            await ranchi_b.until(lambda: ranchi_b.online() == ["ranchi-gun-1"], 2, "ranchi's own")
            # Hub A dies without a word: B drops its scanners when its announcements stop.
            a.kill()
            gone = await all_b.until(lambda: all_b.online() == ["ranchi-gun-1"], 12, "A's scanners gone")
            print(f"a killed hub's scanners left the list after {gone:.1f} s")
            assert all_b.close_code is None and ranchi_b.online() == ["ranchi-gun-1"]
        await all_b.until(lambda: all_b.online() == [], 2, "the last leave")
        assert await all_a.closed() in (1006, 1012)
