"""An export of more rows than the hub could hold stays within a small memory bound, and stops when
its client goes away. Measured on a real hub process: its peak RSS (VmHWM in /proc) before and after.

500,000 bags as asyncpg records are about 600 MB and as CSV about 45 MB; the hub may grow by far
less than either while sending them all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_PASSWORD
from tests.exports_support import seed_children
from tests.hubprocess import login

pytestmark = pytest.mark.slow

ROWS = 500_000
BOUND = 40 * 2**20


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far, in bytes (VmHWM)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc")


async def test_an_export_of_more_rows_than_fit_in_the_bound_streams_them_all(
        hub_process: Any, clean_db: asyncpg.Pool) -> None:
    await seed_children(clean_db, ROWS)
    hub = await asyncio.to_thread(lambda: hub_process().start())
    assert hub.process is not None
    token = await login(hub.url, "admin", ADMIN_PASSWORD)
    async with httpx.AsyncClient(base_url=hub.url, cookies={"tt_session": token}, timeout=60) as http:
        warm = await http.get("/api/exports/bags.csv", params={"prefix": "EXP00000000"})
        assert warm.status_code == 200 and len(warm.text.splitlines()) == 10
        before = peak_rss(hub.process.pid)
        lines = 0
        async with http.stream("GET", "/api/exports/bags.csv") as response:
            assert response.status_code == 200
            async for _line in response.aiter_lines():
                lines += 1
        grown = peak_rss(hub.process.pid) - before
    assert lines == ROWS + 1
    assert grown < BOUND, f"the hub's peak RSS grew by {grown >> 20} MB exporting {ROWS} rows"


async def test_an_export_whose_client_goes_away_stops(hub_process: Any, clean_db: asyncpg.Pool) -> None:
    await seed_children(clean_db, ROWS)
    hub = await asyncio.to_thread(lambda: hub_process().start())
    token = await login(hub.url, "admin", ADMIN_PASSWORD)
    async with httpx.AsyncClient(base_url=hub.url, cookies={"tt_session": token}, timeout=60) as http:
        async with http.stream("GET", "/api/exports/bags.csv") as response:
            received = 0
            async for part in response.aiter_bytes():
                received += len(part)
                if received > 256 * 1024:
                    break  # rows are arriving: hang up
    async with asyncio.timeout(30):  # the audit row is written when the export stops
        while (after := await clean_db.fetchval(
                "SELECT after FROM audit_log WHERE action = 'export' ORDER BY id DESC LIMIT 1")) is None:
            await asyncio.sleep(0.1)
    assert after["complete"] is False and 0 < after["rows"] < ROWS
