"""Exports: the list's rows for the same filter, as CSV and Excel, confined to the reader's area."""

from __future__ import annotations

import io

import asyncpg
import pytest
from openpyxl import load_workbook
from starlette.testclient import TestClient

from hub import exports
from tests.conftest import ADMIN_PASSWORD
from tests.exports_support import as_cells, csv_rows, list_all, seed_children
from tests.imports_support import children, csv_file, summary, upload
from tests.support import Scanner, login, make_user


async def fill(client: TestClient, pool: asyncpg.Pool, admin: str) -> None:
    """Parents with children in lucknow and indore (through an import), and loose children."""
    lucknow = children("SB60001", 30, "LKA") + children("SB60002", 7, "LKB")
    assert summary(upload(client, admin, csv_file(("child", "parent"), lucknow), area="lucknow"))["bad"] == 0
    assert summary(upload(client, admin, csv_file(("child", "parent"), children("M444-60001", 5, "INA")),
                          area="indore"))["bad"] == 0
    await seed_children(pool, 450, "lucknow", "LOOSE")


async def test_a_csv_export_holds_the_lists_rows_for_the_same_filter(client: TestClient,
                                                                     clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    await fill(client, clean_db, admin)
    for params in ({}, {"area": "lucknow", "kind": "child"}, {"status": "filling"}, {"prefix": "lk"},
                   {"kind": "parent", "area": "indore"}):
        listed = list_all(client, "/api/bags", "bags", admin, **params)
        exported = csv_rows(client.get("/api/exports/bags.csv", params=params,
                                       headers={"cookie": f"tt_session={admin}"}))
        assert exported[0] == list(listed[0]) if listed else exported[0][0] == "code"
        assert exported[1:] == [as_cells(item) for item in listed], params
    assert len(listed) == 1 and sum(1 for _ in exported[1:]) == 1


async def test_an_export_audits_its_filters_as_read(client: TestClient, clean_db: asyncpg.Pool) -> None:
    """A prefix is normalised like a scanned code: with a NUL in it (found by test_http_properties),
    the export is that of the prefix without it, and so is its audit row (the raw value could not be
    stored: jsonb holds no NUL). Every dataset's audit holds the values its filter used: a user name
    lower-cased, a parameter given empty left out."""
    admin = login(client, "admin", ADMIN_PASSWORD)
    await fill(client, clean_db, admin)
    expected = csv_rows(client.get("/api/exports/bags.csv?prefix=lk", headers={"cookie": f"tt_session={admin}"}))
    response = client.get("/api/exports/bags.csv?prefix=l%00k", headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 200 and csv_rows(response) == expected and len(expected) > 1
    for query in ("links.csv?prefix=%00lk&area=", "scans.csv?user=Admin&device=", "bills.xlsx?q=van&status="):
        assert client.get(f"/api/exports/{query}", headers={"cookie": f"tt_session={admin}"}).status_code == 200
    audit = await clean_db.fetch("SELECT after FROM audit_log WHERE action = 'export' ORDER BY id")
    assert [row["after"]["filters"] for row in audit] == [{"prefix": "LK"}, {"prefix": "LK"}, {"prefix": "LK"},
                                                          {"user": "admin"}, {"q": "van"}]
    assert [row["after"]["complete"] for row in audit] == [True] * 5


async def test_links_export_as_the_import_reads_them(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    await fill(client, clean_db, admin)
    response = client.get("/api/exports/links.csv", params={"area": "lucknow"},
                          headers={"cookie": f"tt_session={admin}"})
    rows = csv_rows(response)
    assert response.headers["content-disposition"] == 'attachment; filename="links.csv"'
    assert rows[0] == ["child", "parent", "area", "created_at"]
    assert sorted((child, parent) for child, parent, *_ in rows[1:]) == sorted(
        children("SB60001", 30, "LKA") + children("SB60002", 7, "LKB"))
    refused = client.get("/api/exports/links.csv?kind=parent", headers={"cookie": f"tt_session={admin}"})
    assert refused.status_code == 400 and refused.json()["error"] == "INVALID_FILTER"


async def test_a_dispatcher_exports_only_their_own_area(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    await fill(client, clean_db, admin)
    dispatcher = make_user(client, "dispatcher", "indore")
    mine = csv_rows(client.get("/api/exports/bags.csv", headers={"cookie": f"tt_session={dispatcher}"}))
    assert len(mine) == 1 + 6 and {row[2] for row in mine[1:]} == {"indore"}
    other = client.get("/api/exports/bags.csv?area=lucknow", headers={"cookie": f"tt_session={dispatcher}"})
    assert other.status_code == 403 and other.json()["error"] == "FORBIDDEN"
    assert client.get("/api/exports/bags.csv").status_code == 401
    for path in ("/api/exports/people.csv", "/api/exports/bags.pdf"):
        missing = client.get(path, headers={"cookie": f"tt_session={dispatcher}"})
        assert missing.status_code == 404 and missing.json()["error"] == "NOT_FOUND"
    bad = client.get("/api/exports/bags.csv?limit=5", headers={"cookie": f"tt_session={dispatcher}"})
    assert bad.status_code == 400 and bad.json()["error"] == "INVALID_FILTER"
    audit = await clean_db.fetch("SELECT actor_id, target, after FROM audit_log WHERE action = 'export' ORDER BY id")
    assert [(row["target"], row["after"]["rows"], row["after"]["complete"]) for row in audit] == [
        ("export:bags", 6, True)]
    assert audit[0]["after"]["filters"] == {}


async def test_an_excel_export_opens_and_continues_on_a_new_sheet(client: TestClient, clean_db: asyncpg.Pool,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "SHEET_ROWS", 200)  # a sheet of a header and 199 rows
    admin = login(client, "admin", ADMIN_PASSWORD)
    await fill(client, clean_db, admin)
    listed = list_all(client, "/api/bags", "bags", admin, kind="child")
    response = client.get("/api/exports/bags.xlsx?kind=child", headers={"cookie": f"tt_session={admin}"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content), read_only=True)
    width = len(listed[0])  # a read-only sheet leaves out trailing empty cells: pad them back
    sheets = [[["" if v is None else str(v) for v in row] + [""] * (width - len(row))
               for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets]
    assert [len(sheet) for sheet in sheets] == [200, 200, 95]  # 492 rows, a header on each sheet
    assert all(sheet[0] == list(listed[0]) for sheet in sheets)
    assert [row for sheet in sheets for row in sheet[1:]] == [as_cells(item) for item in listed]


async def test_bills_and_scans_export_as_their_lists(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    await fill(client, clean_db, admin)
    biller = make_user(client, "biller", "lucknow")
    with Scanner(client, biller) as scanner:
        assert scanner.do("bill_create", bill="LK-1", capacity=2, destination="=HYPERLINK()", vehicle="UP32")["ok"]
        assert scanner.do("bill_add", bill="LK-1", parent="SB60001")["ok"]
        assert not scanner.do("bill_add", bill="LK-1", parent="SB60002")["ok"]
    for dataset, params in (("bills", {}), ("scans", {}), ("scans", {"result": "rejected"}),
                            ("bills", {"q": "up32"})):
        listed = list_all(client, f"/api/{dataset}", dataset, biller, **params)
        exported = csv_rows(client.get(f"/api/exports/{dataset}.csv", params=params,
                                       headers={"cookie": f"tt_session={biller}"}))
        assert listed and exported[0] == list(listed[0])
        cells = [as_cells(item) for item in listed]
        for row in cells:  # a text cell a spreadsheet would run as a formula is exported quoted
            row[:] = ["'" + cell if cell.startswith("=") else cell for cell in row]
        assert exported[1:] == cells, (dataset, params)
    assert exported[1][5] == "'=HYPERLINK()"
