"""Helpers for the corrections tests: accounts with a session, bags filled over the scanner socket,
admin requests with an Idempotency-Key, and the whole state of bags and bills as SQL holds it."""

from __future__ import annotations

from typing import Any

import asyncpg
from httpx import Response
from starlette.testclient import TestClient

from tests.dashboard_support import Account, make_account
from tests.support import Scanner

STATE_SQL = {
    "bags": "SELECT code, kind, area, child_count, completed_at IS NOT NULL AS complete FROM bags ORDER BY code",
    "links": """SELECT c.code AS child, p.code AS parent FROM links l JOIN bags c ON c.id = l.child_id
                  JOIN bags p ON p.id = l.parent_id ORDER BY c.code""",
    "bill_parents": """SELECT b.code AS parent, l.code AS bill FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id
                         JOIN bills l ON l.id = bp.bill_id ORDER BY b.code""",
    "bills": "SELECT code, area, status, parent_count, destination, vehicle FROM bills ORDER BY code",
    "audit": """SELECT action, target, before, after FROM audit_log
                 WHERE action LIKE 'bag.%' OR action LIKE 'bill.%' ORDER BY id""",
}


def hub_of(client: TestClient) -> Any:
    return client.app.state.hub  # type: ignore[attr-defined]


def account(client: TestClient, role: str = "dispatcher", area: str | None = "lucknow") -> Account:
    return client.portal.call(make_account, hub_of(client).pool, role, area)  # type: ignore[union-attr]


def fetch(client: TestClient, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Rows of `sql` as dicts, read through the app's own pool."""
    async def run() -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await hub_of(client).pool.fetch(sql, *args, timeout=30)
        return rows
    return [dict(row) for row in client.portal.call(run)]  # type: ignore[union-attr]


def state(client: TestClient) -> dict[str, list[dict[str, Any]]]:
    """Every bag, link, bill membership, bill and correction audit row."""
    return {name: fetch(client, sql) for name, sql in STATE_SQL.items()}


def fill(scanner: Scanner, parent: str, prefix: str, count: int) -> None:
    """Scan `parent`, then `count` children named PREFIX0000, PREFIX0001 ... into it."""
    assert scanner.do("parent", code=parent)["ok"]
    for n in range(count):
        ack = scanner.do("child", code=f"{prefix}{n:04d}", parent=parent)
        assert ack["ok"], ack


def call(client: TestClient, who: Account, method: str, path: str, body: dict[str, Any] | None = None,
         key: str | None = None) -> Response:
    """An API request as `who`, with an Idempotency-Key when `key` is given."""
    headers = {**who.cookie, **({"Idempotency-Key": key} if key is not None else {})}
    response = client.request(method, path, json=body, headers=headers)
    client.cookies.clear()
    return response
