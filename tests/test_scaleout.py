"""Three hubs on one PostgreSQL and one Redis behind HAProxy, run from the shipped deploy/haproxy.cfg,
under steady load from the load generator: a drained hub and then a killed one each send their
scanners and dashboards through HAProxy to the others, and no scan is lost or stored twice.

The balancer, the load and the faults are in tests/scaleout_support.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from loadtest import balancer
from loadtest.hubs import UNLIMITED
from tests.hubprocess import HubProcess
from tests.remote_support import check_invariants, start_hubs, unique_prefix
from tests.scaleout_support import drain, kill, load_options, under_load, wait_for_sessions

pytestmark = pytest.mark.slow

SCANNERS = 24
DASHBOARDS = 6
CLIENTS = SCANNERS + DASHBOARDS


async def test_a_drained_then_a_killed_hub_lose_no_scan_behind_haproxy(
        hub_process: type[HubProcess], clean_db: asyncpg.Pool, database_url: str, redis_url: str,
        redis_prefix: str, tmp_path: Path) -> None:
    hubs = await start_hubs(hub_process, 3, REDIS_URL=redis_url, REDIS_PREFIX=unique_prefix(redis_prefix),
                            DRAIN_NOTICE_SECONDS="3", **UNLIMITED)
    with balancer.haproxy([f"127.0.0.1:{hub.port}" for hub in hubs], tmp_path / "haproxy.log") as lb:
        await asyncio.to_thread(lb.wait_for, dict.fromkeys(balancer.SERVERS, "UP"))
        moves = []

        async def faults() -> None:
            spread = await asyncio.to_thread(wait_for_sessions, lb, balancer.SERVERS, CLIENTS)
            assert all(server.sessions > 0 for server in spread.values()), spread  # leastconn used every hub
            await asyncio.sleep(1.5)
            await drain(hubs[0], "hub1", lb)
            moves.append(await asyncio.to_thread(wait_for_sessions, lb, ("hub2", "hub3"), CLIENTS))
            await asyncio.sleep(1.5)
            await kill(hubs[1], "hub2", lb)
            moves.append(await asyncio.to_thread(wait_for_sessions, lb, ("hub3",), CLIENTS))

        result = await under_load(load_options(lb.url, database_url, scanners=SCANNERS, rate=240,
                                               dashboards=DASHBOARDS, duration=16), faults)

    assert len(moves) == 2
    assert (result["lost"], result["duplicated"]) == (0, 0), result["check"]
    assert result["check"]["ok"], result["check"]
    assert result["dashboard_check"]["ok"], result["dashboard_check"]
    assert result["dashboards"] == DASHBOARDS and result["connected"] == SCANNERS
    errors = result["errors"]
    for closed in ("CLOSED_1012", "CLOSED_1006", "DASHBOARD_CLOSED_1012", "DASHBOARD_CLOSED_1006"):
        assert errors.get(closed, 0) > 0, errors  # scanners and dashboards of the drained hub, then the killed one
    assert "UNACKED" not in errors, errors
    await check_invariants(clean_db)
