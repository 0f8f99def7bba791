"""Helpers for import tests: files to upload, the upload itself, and what the database holds."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import zipfile
from typing import Any

import asyncpg
import httpx
from openpyxl import Workbook
from starlette.testclient import TestClient

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_file(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def xlsx_file(header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def sprawling_xlsx(last_row: int, *, declared: bool = True) -> bytes:
    """A few-KB workbook of a header and one row, plus one cell in the sheet's last column at
    `last_row`: read naively, every row is padded to 16,384 cells and every missing row filled in.
    `declared=False` drops the sheet's <dimension>, so only reading it tells how far it goes."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(("child", "parent"))
    sheet.append(("KID0001", "SB10001"))
    sheet.cell(row=last_row, column=16_384, value="x")
    out = io.BytesIO()
    workbook.save(out)
    if declared:
        return out.getvalue()
    edited = io.BytesIO()
    with zipfile.ZipFile(out) as source, zipfile.ZipFile(edited, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            part = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = re.sub(rb"<dimension [^>]*/>", b"", part)
            target.writestr(info, part)
    return edited.getvalue()


def children(parent: str, count: int, prefix: str) -> list[tuple[str, str]]:
    """`count` (child, parent) rows filling `parent` with children named `prefix` + a number."""
    return [(f"{prefix}{n:04d}", parent) for n in range(1, count + 1)]


def upload(client: TestClient, token: str, data: bytes, *, kind: str = "links", mode: str = "rows",
           area: str | None = "lucknow", content_type: str = "text/csv", name: str = "links.csv") -> httpx.Response:
    params = {"kind": kind, "mode": mode, "name": name, **({"area": area} if area else {})}
    return client.post("/api/imports", params=params, content=data,
                       headers={"cookie": f"tt_session={token}", "content-type": content_type})


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The NDJSON lines of an import's answer."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


def summary(response: httpx.Response) -> dict[str, Any]:
    """The final import record of an import's answer."""
    lines = events(response)
    assert lines[0]["event"] == "started" and lines[-1]["event"] == "finished", lines
    record: dict[str, Any] = lines[-1]["import"]
    return record


async def state(pool: asyncpg.Pool) -> dict[str, Any]:
    """Everything an import can change: bags, links, bill memberships and counters."""
    return {
        "bags": [tuple(r) for r in await pool.fetch(
            "SELECT code, kind, area, child_count, completed_at IS NOT NULL FROM bags ORDER BY code")],
        "links": [tuple(r) for r in await pool.fetch(
            "SELECT c.code, p.code FROM links l JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id "
            "ORDER BY c.code")],
        "bill_parents": [tuple(r) for r in await pool.fetch(
            "SELECT p.code, b.code FROM bill_parents bp JOIN bags p ON p.id = bp.parent_id "
            "JOIN bills b ON b.id = bp.bill_id ORDER BY p.code")],
        "bills": [tuple(r) for r in await pool.fetch("SELECT code, parent_count, status FROM bills ORDER BY code")],
    }


def state_of(database_url: str) -> dict[str, Any]:
    """`state` from a test that runs outside the event loop (a hypothesis test)."""

    async def read() -> dict[str, Any]:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
        try:
            return await state(pool)
        finally:
            await pool.close()

    return asyncio.run(read())
