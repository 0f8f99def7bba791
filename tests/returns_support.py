"""Helpers for the return-ticket tests: accounts without the cost of a login, parents filled and
billed through a scanner, and what SQL says of bills and tickets."""

from __future__ import annotations

from typing import Any

import asyncpg
from anyio.from_thread import BlockingPortal
from starlette.testclient import TestClient

from tests.dashboard_support import Account, make_account, sql_today, stats_today
from tests.support import Scanner


def portal(client: TestClient) -> BlockingPortal:
    """The running app's event loop, to call the database from a test's thread."""
    assert client.portal is not None, "the app's lifespan is not running"
    return client.portal


def hub_pool(client: TestClient) -> asyncpg.Pool:
    pool: asyncpg.Pool = client.app.state.hub.pool  # type: ignore[attr-defined]
    return pool


def account(client: TestClient, role: str = "biller", area: str | None = "lucknow") -> Account:
    """A user with a live session (no login: argon2 is slow, and login has tests of its own)."""
    made: Account = portal(client).call(make_account, hub_pool(client), role, area)
    return made


def fill_mini(scanner: Scanner, code: str, prefix: str) -> None:
    """Scan mini parent `code` and fill it with its 15 children."""
    assert scanner.do("parent", code=code)["ok"]
    for n in range(15):
        assert scanner.do("child", code=f"{prefix}{n:04d}", parent=code)["ok"]


def billed(scanner: Scanner, bill: str, parents: list[str], capacity: int = 5, finish: bool = True) -> None:
    """Create `bill`, put `parents` (complete) on it, and finish it unless told not to."""
    assert scanner.do("bill_create", bill=bill, capacity=capacity, destination="Delhi")["ok"]
    for parent in parents:
        assert scanner.do("bill_add", bill=bill, parent=parent)["ok"]
    if finish:
        assert scanner.do("bill_finish", bill=bill)["ok"]


def fetch(client: TestClient, query: str, *args: Any) -> list[tuple[Any, ...]]:
    """Rows of `query` as tuples, read from the hub's own database."""
    rows: list[asyncpg.Record] = portal(client).call(lambda: hub_pool(client).fetch(query, *args))
    return [tuple(row) for row in rows]


def bill_state(client: TestClient, code: str) -> tuple[Any, ...]:
    """(status, parent_count, parents by code, actual kg, expected kg) of a bill, as SQL counts them."""
    (row,) = fetch(client, """
        SELECT l.status, l.parent_count, coalesce(array_agg(b.code ORDER BY b.code) FILTER (WHERE b.id IS NOT NULL),
                                                  '{}'),
               coalesce(sum(b.child_count), 0)::int, coalesce(sum(b.expected_kg), 0)::int
          FROM bills l LEFT JOIN bill_parents bp ON bp.bill_id = l.id LEFT JOIN bags b ON b.id = bp.parent_id
         WHERE l.code = $1 GROUP BY l.id""", code)
    return row


def ticket_state(client: TestClient, code: str) -> tuple[Any, ...]:
    """(status, [(parent, bill, restored)]) of a return ticket."""
    (status,), = fetch(client, "SELECT status FROM return_tickets WHERE code = $1", code)
    parents = fetch(client, """
        SELECT b.code, l.code, rp.restored_at IS NOT NULL
          FROM return_parents rp JOIN return_tickets t ON t.id = rp.ticket_id
          JOIN bags b ON b.id = rp.parent_id JOIN bills l ON l.id = rp.bill_id
         WHERE t.code = $1 ORDER BY b.code""", code)
    return status, parents


def counted_today(client: TestClient, day: str) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]]]:
    """The day's counters per area as SQL counts them from scans, links and bills, and as scan_stats holds them."""
    return (portal(client).call(sql_today, hub_pool(client), day),
            portal(client).call(stats_today, hub_pool(client), day))
