"""Imports of child-parent and parent-bill links through the one writer: both modes, run twice."""

from __future__ import annotations

import csv
import io
import zipfile

import asyncpg
import pytest
from starlette.testclient import TestClient

from hub.domain.sheets import SheetError, read_rows
from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.http_support import edge_client
from tests.imports_support import XLSX, children, csv_file, events, sprawling_xlsx, state, summary, upload, xlsx_file
from tests.support import Scanner, login, make_user

LINKS = ("child", "parent")

# Rows 2-6 fill nothing wrong; row 7 names a parent that is a child code, row 8 a child already in
# another parent, row 9 an invalid child code; row 10 repeats row 2 (already there).
MIXED = [("KID0001", "SB10001"), ("KID0002", "SB10001"), ("KID0003", "M444-10001"), ("KID0004", "sb10001"),
         ("KID0005", "M444-10001"), ("KID0006", "NOTAPARENT1"), ("KID0003", "SB10001"), ("x!", "SB10001"),
         ("KID0001", "SB10001")]


async def test_row_by_row_applies_the_good_rows_reports_the_bad_and_a_second_run_changes_nothing(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    data = csv_file(LINKS, MIXED)
    first = summary(upload(client, admin, data, mode="rows"))
    assert (first["status"], first["rows_total"], first["applied"], first["already"], first["bad"]) == \
        ("done", 9, 5, 1, 3)
    after_first = await state(clean_db)
    assert after_first["links"] == [("KID0001", "SB10001"), ("KID0002", "SB10001"), ("KID0003", "M444-10001"),
                                    ("KID0004", "SB10001"), ("KID0005", "M444-10001")]
    assert {(code, area) for code, kind, area, *_ in after_first["bags"] if kind == "P"} == {
        ("SB10001", "lucknow"), ("M444-10001", "lucknow")}

    report = client.get(f"/api/imports/{first['id']}/errors.csv", headers={"cookie": f"tt_session={admin}"})
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(report.text)))
    assert lines[0] == ["row", "child", "parent", "code", "message"]
    assert [(row[0], row[1], row[2], row[3]) for row in lines[1:]] == [
        ("7", "KID0006", "NOTAPARENT1", "NOT_A_PARENT"), ("8", "KID0003", "SB10001", "ALREADY_LINKED"),
        ("9", "x!", "SB10001", "INVALID_CODE")]
    assert "M444-10001" in lines[2][4]  # the reason names the other parent

    second = summary(upload(client, admin, data, mode="rows"))
    assert (second["status"], second["applied"], second["already"], second["bad"]) == ("done", 0, 6, 3)
    assert await state(clean_db) == after_first


async def test_all_or_nothing_applies_nothing_when_a_row_is_bad_and_everything_when_none_is(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    before = await state(clean_db)
    bad = csv_file(LINKS, MIXED)
    for _ in range(2):
        refused = summary(upload(client, admin, bad, mode="all"))
        assert (refused["status"], refused["applied"], refused["bad"]) == ("refused", 0, 3)
        assert await state(clean_db) == before
    report = client.get(f"/api/imports/{refused['id']}/errors.csv", headers={"cookie": f"tt_session={admin}"})
    assert [line.split(",")[0] for line in report.text.splitlines()[1:]] == ["7", "8", "9"]

    good = csv_file(LINKS, MIXED[:5])
    applied = summary(upload(client, admin, good, mode="all"))
    assert (applied["status"], applied["applied"], applied["already"], applied["bad"]) == ("done", 5, 0, 0)
    after = await state(clean_db)
    assert len(after["links"]) == 5
    again = summary(upload(client, admin, good, mode="all"))
    assert (again["status"], again["applied"], again["already"]) == ("done", 0, 5)
    assert await state(clean_db) == after


async def test_an_excel_file_of_parent_bill_links_fills_a_bill(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    full = children("SB20001", 30, "FULA") + children("SB20002", 30, "FULB") + children("SB20003", 3, "HALF")
    assert summary(upload(client, admin, xlsx_file(LINKS, full), content_type=XLSX, area="indore"))["applied"] == 63
    biller = make_user(client, "biller", "indore")
    with Scanner(client, biller) as scanner:
        assert scanner.do("bill_create", bill="IN-1", capacity=5)["ok"]
        assert scanner.do("bill_add", bill="IN-1", parent="SB20001")["ok"]
    rows = [("SB20001", "IN-1"), ("SB20002", "in-1"), ("SB20003", "IN-1"), ("SB20002", "NOBILL")]
    result = summary(upload(client, admin, xlsx_file(("Parent", "Bill"), rows), kind="bills", mode="rows",
                            content_type=XLSX, area=None, name="bills.xlsx"))
    assert (result["applied"], result["already"], result["bad"]) == (1, 1, 2)
    assert (await state(clean_db))["bill_parents"] == [("SB20001", "IN-1"), ("SB20002", "IN-1")]
    listed = client.get("/api/imports", headers={"cookie": f"tt_session={admin}"}).json()["imports"]
    assert [(i["file_name"], i["kind"], i["actor"]) for i in listed[:2]] == [("bills.xlsx", "bills", "admin"),
                                                                           ("links.csv", "links", "admin")]
    audit = await clean_db.fetch("SELECT action, target, after FROM audit_log WHERE action = 'import' ORDER BY id")
    assert len(audit) == 2 and audit[1]["after"]["applied"] == 1 and len(audit[1]["after"]["sha256"]) == 64


async def test_progress_lines_reach_every_row_and_any_hub_can_read_the_record(
        client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    rows = [row for n in range(40) for row in children(f"SB3{n:04d}", 30, f"P{n:02d}C")]
    lines = events(upload(client, admin, csv_file(LINKS, rows), mode="rows"))
    progress = [line["done"] for line in lines if line["event"] == "progress"]
    assert len(progress) > 2 and progress == sorted(progress) and progress[-1] == 1200
    record = client.get(f"/api/imports/{lines[0]['import']['id']}", headers={"cookie": f"tt_session={admin}"})
    assert record.json()["import"]["rows_done"] == 1200 and record.json()["import"]["applied"] == 1200
    assert await clean_db.fetchval("SELECT count(*) FROM bags WHERE completed_at IS NOT NULL") == 40


def test_only_admins_import(client: TestClient) -> None:
    data = csv_file(LINKS, [("KID0001", "SB10001")])
    assert client.post("/api/imports?kind=links&mode=rows", content=data,
                       headers={"content-type": "text/csv"}).status_code == 401
    for role in ("dispatcher", "biller"):
        token = make_user(client, role, "lucknow")
        refused = upload(client, token, data)
        assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN"
        listed = client.get("/api/imports", headers={"cookie": f"tt_session={token}"})
        assert listed.status_code == 403


def bomb() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * 30_000_000)
    return out.getvalue()


def test_files_that_cannot_be_imported_get_clear_400s(client: TestClient) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    cases = {
        b"": "IMPORT_EMPTY",
        b"child,parent\n": "IMPORT_EMPTY",
        b"kid,bag\nKID0001,SB10001\n": "IMPORT_COLUMNS",
        "child,parent\nKID0001,SB10001\n".encode("utf-16"): "IMPORT_UNREADABLE",
        b"child,parent\n\xff\xfe,SB1\n": "IMPORT_UNREADABLE",
        b"PK\x03\x04 not really a zip": "IMPORT_UNREADABLE",
        bomb(): "IMPORT_UNREADABLE",
        b'child,parent\n"KID0001' + b"x" * 200_000 + b'",SB10001\n': "IMPORT_UNREADABLE",
    }
    for data, code in cases.items():
        response = upload(client, admin, data)
        assert response.status_code == 400 and response.json()["error"] == code, (data[:40], response.text)
    bad_kind = client.post("/api/imports?kind=people&mode=rows", content=b"x",
                           headers={"cookie": f"tt_session={admin}", "content-type": "text/csv"})
    assert bad_kind.status_code == 400 and bad_kind.json()["error"] == "BAD_REQUEST"
    assert upload(client, admin, b"child,parent\n", area="atlantis").json()["error"] == "UNKNOWN_AREA"
    plain = upload(client, admin, b"child,parent\nKID0001,SB10001\n", content_type="text/plain")
    assert plain.status_code == 415


def test_a_tiny_workbook_declaring_a_huge_sheet_is_refused_without_reading_it(client: TestClient) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    data = sprawling_xlsx(1_048_576)
    assert len(data) < 10_000
    refused = upload(client, admin, data, content_type=XLSX)
    assert refused.status_code == 400 and refused.json()["error"] == "IMPORT_TOO_MANY_ROWS"


def test_every_row_of_a_workbook_counts_and_only_the_needed_columns_are_read() -> None:
    for declared in (True, False):
        with pytest.raises(SheetError) as refused:
            read_rows(sprawling_xlsx(300, declared=declared), "links", 100)
        assert refused.value.code.value == "IMPORT_TOO_MANY_ROWS"
    rows = read_rows(sprawling_xlsx(90, declared=False), "links", 100)
    assert [(row.number, row.cells) for row in rows] == [(2, ("KID0001", "SB10001"))]


def test_the_import_route_alone_takes_bodies_over_the_json_limit(client: TestClient) -> None:
    admin = login(client, "admin", ADMIN_PASSWORD)
    big = csv_file((*LINKS, "note"), [(f"K{n:07d}", "SB10001", "n" * 1000) for n in range(1100)])
    assert len(big) > 1_048_576
    result = summary(upload(client, admin, big))
    assert (result["applied"], result["bad"]) == (30, 1070)  # the parent is full after 30
    elsewhere = client.post("/api/users", content=big, headers={"cookie": f"tt_session={admin}",
                                                                "content-type": "application/json"})
    assert elsewhere.status_code == 413


def test_the_limits_of_size_and_rows_are_settings(settings: Settings, clean_db: asyncpg.Pool) -> None:
    with edge_client(settings.replace(import_max_bytes=2000, import_max_rows=10)) as client:
        admin = login(client, "admin", ADMIN_PASSWORD)
        eleven = csv_file(LINKS, [(f"KID{n:04d}", "SB10001") for n in range(11)])
        assert upload(client, admin, eleven).json()["error"] == "IMPORT_TOO_MANY_ROWS"
        assert summary(upload(client, admin, eleven[:eleven.rindex(b"KID")]))["applied"] == 10
        large = upload(client, admin, b"child,parent\n" + b"KID0001,SB10001\n" * 200)
        assert large.status_code == 413 and large.json()["error"] == "PAYLOAD_TOO_LARGE"
