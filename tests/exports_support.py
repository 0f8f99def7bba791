"""Helpers for export tests: many bags seeded at once in SQL, and a list walked page by page."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import asyncpg
import httpx
from starlette.testclient import TestClient


async def seed_children(pool: asyncpg.Pool, count: int, area: str = "lucknow", prefix: str = "EXP") -> None:
    """`count` loose child bags in `area`, one SQL statement (generate_series), one millisecond apart."""
    await pool.execute(
        """INSERT INTO bags (code, kind, area, created_at)
           SELECT $1 || lpad(g::text, 9, '0'), 'C', $2, now() - g * interval '1 millisecond'
             FROM generate_series(1, $3) AS g""", prefix, area, count, timeout=600)


def list_all(client: TestClient, path: str, key: str, token: str, **params: str) -> list[dict[str, Any]]:
    """Every item of a list endpoint for `params`, following `next` to the end."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {**params, "limit": "200", **({"after": after} if after else {})}
        answer = client.get(path, params=query, headers={"cookie": f"tt_session={token}"})
        assert answer.status_code == 200, answer.text
        items += answer.json()[key]
        after = answer.json()["next"]
        if after is None:
            return items


def as_cells(item: dict[str, Any]) -> list[str]:
    """A list item as an export's CSV row holds it."""
    def cell(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return str(value)
    return [cell(value) for value in item.values()]


def csv_rows(response: httpx.Response) -> list[list[str]]:
    assert response.status_code == 200, response.text
    return list(csv.reader(io.StringIO(response.text)))
