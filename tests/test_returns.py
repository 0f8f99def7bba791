"""Return tickets end to end: over the scanner websocket into PostgreSQL, what dashboards show, the
read API with its role and area rules, one batch holding several return operations, and the schema
refusing what no path may do."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from starlette.testclient import TestClient

from hub.batch import Submission
from hub.codes import Code
from hub.domain import rules
from hub.store import formats as formats_store
from hub.writer import BatchWriter
from tests.dashboard_support import DashboardView, totals
from tests.returns_support import account, bill_state, billed, counted_today, fetch, fill_mini, ticket_state
from tests.support import Scanner
from tests.ws_support import Socket, Watcher

MINI = {"capacity": 5, "status": "completed"}


def bill_data(code: str, count: int, kg: int, status: str = "completed", capacity: int = 5) -> dict[str, Any]:
    return {"bill": code, "count": count, "capacity": capacity, "status": status,
            "actual_kg": f"{kg}.00", "expected_kg": f"{kg}.00"}


def test_a_return_takes_parents_off_a_completed_bill_and_a_cancel_puts_them_back(client: TestClient) -> None:
    admin, biller = account(client, "admin"), account(client, "biller", "jaipur")
    watcher = Watcher(client, admin.token)
    view = DashboardView()
    try:
        view.apply(watcher.next())
        with Scanner(client, biller.token) as scanner:
            fill_mini(scanner, "M444-00001", "RA")
            fill_mini(scanner, "M444-00002", "RB")
            billed(scanner, "B-1", ["M444-00001", "M444-00002"])
            assert scanner.do("bill_create", bill="B-2", capacity=5)["ok"]
            assert bill_state(client, "B-1") == ("completed", 2, ["M444-00001", "M444-00002"], 30, 30)

            opened = scanner.do("return_open", ticket=" r-1 ")
            assert opened["data"] == {"ticket": "R-1", "area": "jaipur", "status": "open", "count": 0,
                                      "created": True}
            first = scanner.do("return_add", ticket="R-1", parent="M444-00001")
            assert first["ok"] and first["data"] == {"ticket": "R-1", "area": "jaipur", "status": "open",
                                                     "count": 1, "parent": "M444-00001",
                                                     "from_bill": bill_data("B-1", 1, 15)}
            assert bill_state(client, "B-1") == ("completed", 1, ["M444-00002"], 15, 15)
            last = scanner.do("return_add", ticket="R-1", parent="M444-00002")
            assert last["data"]["from_bill"] == bill_data("B-1", 0, 0)
            assert bill_state(client, "B-1") == ("completed", 0, [], 0, 0)  # dispatched, all of it back

            again = scanner.do("return_add", ticket="R-1", parent="M444-00002")
            assert (again["code"], again["data"]) == ("ALREADY_RETURNED", {"parent": "M444-00002", "ticket": "R-1"})
            assert scanner.do("bill_add", bill="B-2", parent="M444-00001")["code"] == "PARENT_ON_RETURN"
            assert scanner.do("return_open", ticket="R-1")["data"]["created"] is False

            cancelled = scanner.do("return_cancel", ticket="R-1")
            assert cancelled["ok"] and cancelled["data"]["bills"] == [bill_data("B-1", 2, 30)]
            assert bill_state(client, "B-1") == ("completed", 2, ["M444-00001", "M444-00002"], 30, 30)
            assert ticket_state(client, "R-1") == ("cancelled", [("M444-00001", "B-1", True),
                                                                 ("M444-00002", "B-1", True)])
            closed = scanner.do("return_add", ticket="R-1", parent="M444-00001")
            assert (closed["code"], closed["data"]) == ("RETURN_NOT_OPEN", {"ticket": "R-1", "status": "cancelled"})
            assert scanner.do("return_finish", ticket="R-1")["code"] == "RETURN_NOT_OPEN"

        seq = client.app.state.hub.fanout.state.seq  # type: ignore[attr-defined]
        while view.seq != seq:
            view.apply(watcher.next())
    finally:
        watcher.close()
    counted, stats = counted_today(client, view.day)
    assert stats == counted
    assert counted["jaipur"]["bills_completed"] == 1 and counted["jaipur"]["rejected"] == 4
    assert view.counters == totals(counted)
    assert set(view.bills) == {"B-2"}  # B-1 stayed completed throughout
    events = [(e["op"], e["code"], e["target"], e["result"]) for e in view.events if e["op"].startswith("return_")]
    assert events[:3] == [("return_open", "R-1", "", "OK"), ("return_add", "M444-00001", "R-1", "OK"),
                          ("return_add", "M444-00002", "R-1", "OK")]
    assert ("return_cancel", "R-1", "", "OK") in events


def test_a_finalised_return_frees_its_parents_for_another_bill(client: TestClient) -> None:
    biller = account(client, "biller", "hisar")
    admin = account(client, "admin")
    watcher = Watcher(client, admin.token)
    view = DashboardView()
    try:
        view.apply(watcher.next())
        with Scanner(client, biller.token) as scanner:
            fill_mini(scanner, "M444-00011", "FA")
            billed(scanner, "B-11", ["M444-00011"])
            assert scanner.do("return_open", ticket="R-11")["ok"]
            assert scanner.do("return_finish", ticket="R-11")["code"] == "RETURN_EMPTY"
            assert scanner.do("return_add", ticket="R-11", parent="M444-00011")["ok"]
            finished = scanner.do("return_finish", ticket="R-11")
            assert finished["data"] == {"ticket": "R-11", "area": "hisar", "status": "finalised", "count": 1}
            assert ticket_state(client, "R-11") == ("finalised", [("M444-00011", "B-11", False)])
            assert bill_state(client, "B-11") == ("completed", 0, [], 0, 0)
            assert scanner.do("return_cancel", ticket="R-11")["code"] == "RETURN_NOT_OPEN"

            billed(scanner, "B-12", ["M444-00011"], finish=False)  # the parent is free again
            assert scanner.do("return_open", ticket="R-12")["ok"]
            off_open = scanner.do("return_add", ticket="R-12", parent="M444-00011")
            assert off_open["data"]["from_bill"] == bill_data("B-12", 0, 0, "open")
            assert scanner.do("return_finish", ticket="R-12")["ok"]
            assert scanner.do("return_add", ticket="R-12", parent="M444-00011")["code"] == "RETURN_NOT_OPEN"
            assert scanner.do("return_open", ticket="R-13")["ok"]
            assert scanner.do("return_add", ticket="R-13", parent="M444-00011")["code"] == "NOT_ON_BILL"
        seq = client.app.state.hub.fanout.state.seq  # type: ignore[attr-defined]
        while view.seq != seq:
            view.apply(watcher.next())
    finally:
        watcher.close()
    assert view.bills["B-12"]["count"] == 0 and view.bills["B-12"]["actual_kg"] == "0.00"
    counted, stats = counted_today(client, view.day)
    assert stats == counted
    assert view.counters == totals(counted)


def test_returns_are_for_billers_and_admins_of_the_tickets_area(client: TestClient) -> None:
    lucknow, indore = account(client, "biller", "lucknow"), account(client, "biller", "indore")
    dispatcher, admin = account(client, "dispatcher", "lucknow"), account(client, "admin")
    with Scanner(client, lucknow.token) as scanner:
        fill_mini(scanner, "M444-00021", "AA")
        billed(scanner, "B-21", ["M444-00021"])
        assert scanner.do("return_open", ticket="R-21")["ok"]
    with Scanner(client, indore.token) as scanner:
        fill_mini(scanner, "M444-00022", "AB")
        billed(scanner, "B-22", ["M444-00022"])
        assert scanner.do("return_add", ticket="R-21", parent="M444-00021")["code"] == "WRONG_AREA"
        assert scanner.do("return_open", ticket="R-21")["code"] == "WRONG_AREA"
        assert scanner.do("return_open", ticket="R-22", area="lucknow")["code"] == "WRONG_AREA"
        assert scanner.do("return_open", ticket="R-22")["data"]["area"] == "indore"
    with Scanner(client, dispatcher.token) as scanner:
        assert scanner.do("return_open", ticket="R-23")["code"] == "FORBIDDEN"
        assert scanner.do("return_cancel", ticket="R-21")["code"] == "FORBIDDEN"
    with Scanner(client, admin.token) as scanner:
        assert scanner.do("return_open", ticket="R-24")["code"] == "AREA_REQUIRED"
        assert scanner.do("return_add", ticket="R-21", parent="M444-00022")["data"] == {"area": "indore"}
        assert scanner.do("return_add", ticket="R-21", parent="M444-00021")["ok"]
        assert scanner.do("return_open", ticket="SB00001")["code"] == "INVALID_RETURN"
    assert bill_state(client, "B-22")[1] == 1 and bill_state(client, "B-21")[1] == 0

    def get(who: Any, path: str) -> tuple[int, Any]:
        response = client.get(path, headers=who.cookie)
        return response.status_code, response.json()

    status, body = get(lucknow, "/api/returns/r-21")
    assert status == 200
    ticket = body["return"]
    assert (ticket["code"], ticket["area"], ticket["status"], ticket["parent_count"], ticket["created_by"],
            ticket["actual_kg"]) == ("R-21", "lucknow", "open", 1, lucknow.username, "15.00")
    assert [(p["code"], p["returned_by"], p["bill"]) for p in ticket["parents"]] == [
        ("M444-00021", admin.username, {"code": "B-21", "status": "completed", "parent_count": 0, "capacity": 5})]
    unknown = get(indore, "/api/returns/R-NONE")
    assert unknown == (404, {"error": "UNKNOWN_RETURN", "message": "There is no return ticket with this number."})
    assert get(indore, "/api/returns/R-21") == unknown  # another area's: as if it did not exist
    assert get(dispatcher, "/api/returns/R-21")[0] == 403
    assert get(dispatcher, "/api/returns")[0] == 403

    assert [t["code"] for t in get(indore, "/api/returns")[1]["returns"]] == ["R-22"]
    assert get(indore, "/api/returns?area=lucknow")[1]["error"] == "FORBIDDEN"
    assert [t["code"] for t in get(admin, "/api/returns")[1]["returns"]] == ["R-22", "R-21"]
    assert [t["code"] for t in get(admin, "/api/returns?area=lucknow&status=open")[1]["returns"]] == ["R-21"]
    assert get(admin, "/api/returns?status=finalised")[1] == {"returns": [], "next": None}
    for bad in ("status=shipped", "limit=0", "limit=201", "limit=%C2%B2", "area=Lucknow!", "colour=red"):
        assert get(admin, f"/api/returns?{bad}")[1]["error"] == "INVALID_FILTER", bad
    for bad in ("x", "W10", "WyJiaWxscyIsIjIwMjUtMDEtMDFUMDA6MDA6MDArMDA6MDAiLDFd", "%FF" * 3):
        assert get(admin, f"/api/returns?after={bad}")[1]["error"] == "INVALID_CURSOR", bad


def test_the_list_pages_stay_stable_while_tickets_are_opened(client: TestClient) -> None:
    biller = account(client, "biller", "akola")
    with Scanner(client, biller.token) as scanner:
        for n in range(5):
            assert scanner.do("return_open", ticket=f"P-{n}")["ok"]
        seen: list[str] = []
        path = "/api/returns?limit=2"
        while path:
            page = client.get(path, headers=biller.cookie).json()
            seen += [t["code"] for t in page["returns"]]
            if len(seen) == 2:
                assert scanner.do("return_open", ticket="P-NEW")["ok"]  # newer than every page: not seen
            path = f"/api/returns?limit=2&after={page['next']}" if page["next"] else ""
    assert seen == ["P-4", "P-3", "P-2", "P-1", "P-0"]


def test_a_resent_return_is_answered_from_its_record(client: TestClient) -> None:
    biller = account(client, "biller", "raipur")
    with Scanner(client, biller.token, device="returns-replay") as scanner:
        fill_mini(scanner, "M444-00031", "RR")
        billed(scanner, "B-31", ["M444-00031"])
        assert scanner.do("return_open", ticket="R-31")["ok"]
        seq = scanner.op("return_add", ticket="R-31", parent="M444-00031")
        assert scanner.socket is not None and scanner.socket.ack(seq)["ok"]
    socket = Socket(client, "/ws/scan", biller.token)
    try:
        assert socket.hello("returns-replay", seq - 1)["applied_seq"] == seq
        socket.send({"t": "op", "seq": seq, "op": "return_add", "ticket": "R-31", "parent": "M444-00031"})
        replayed = socket.ack(seq)
    finally:
        socket.close()
    assert replayed["replay"] and replayed["ok"] and replayed["data"]["from_bill"]["count"] == 0
    assert bill_state(client, "B-31")[:2] == ("completed", 0)
    assert fetch(client, "SELECT count(*) FROM return_parents") == [(1,)]


# --- several return operations in one batch -------------------------------------------------------


async def _writer(pool: asyncpg.Pool) -> BatchWriter:
    return BatchWriter(pool, await formats_store.load(pool), max_ops=500, max_delay=0.001,
                       on_commit=_ignore)


async def _ignore(_: object) -> None:
    return None


async def _run(pool: asyncpg.Pool, actor: rules.Actor, device: str, ops: list[rules.Operation]) -> list[Code]:
    """Queue `ops` before the writer starts, so that they go in one batch; their result codes."""
    writer = await _writer(pool)
    futures = [writer.submit(Submission(device, n, actor, op, datetime.now(UTC))) for n, op in enumerate(ops, 1)]
    writer.start()
    try:
        return [(await future).outcome.code for future in futures]
    finally:
        await writer.close(5)


@pytest.fixture
async def biller(clean_db: asyncpg.Pool) -> rules.Actor:
    user_id = await clean_db.fetchval(
        "INSERT INTO users (username, password_hash, role, area) VALUES ('ret-biller', 'x', 'biller', 'ranchi') "
        "RETURNING id")
    return rules.Actor(user_id, "ret-biller", rules.Role.BILLER, "ranchi")


def _filled(parent: str, prefix: str) -> list[rules.Operation]:
    return [rules.ScanParent(parent), *(rules.ScanChild(f"{prefix}{n:04d}", parent) for n in range(15))]


async def test_return_and_cancel_in_one_batch_end_where_they_began(clean_db: asyncpg.Pool, biller: rules.Actor) -> None:
    setup = [*_filled("M444-00041", "BA"), *_filled("M444-00042", "BB"), rules.CreateBill("B-41", 2),
             rules.AddToBill("B-41", "M444-00041"), rules.AddToBill("B-41", "M444-00042"), rules.FinishBill("B-41")]
    assert set(await _run(clean_db, biller, "batch-a", setup)) == {Code.OK}
    codes = await _run(clean_db, biller, "batch-b", [
        rules.ReturnOpen("R-41"), rules.ReturnAdd("R-41", "M444-00041"), rules.ReturnAdd("R-41", "M444-00042"),
        rules.ReturnCancel("R-41"), rules.ReturnOpen("R-42"), rules.ReturnAdd("R-42", "M444-00041"),
        rules.ReturnFinish("R-42")])
    assert codes == [Code.OK] * 7
    rows = await clean_db.fetch(
        """SELECT t.code, t.status, b.code AS parent, rp.restored_at IS NOT NULL AS restored
             FROM return_parents rp JOIN return_tickets t ON t.id = rp.ticket_id JOIN bags b ON b.id = rp.parent_id
            ORDER BY t.code, b.code""")
    assert [tuple(r) for r in rows] == [("R-41", "cancelled", "M444-00041", True),
                                        ("R-41", "cancelled", "M444-00042", True),
                                        ("R-42", "finalised", "M444-00041", False)]
    assert tuple(await clean_db.fetchrow("SELECT status, parent_count FROM bills WHERE code = 'B-41'")) == (
        "completed", 1)


async def test_a_parent_billed_and_returned_in_one_batch(clean_db: asyncpg.Pool, biller: rules.Actor) -> None:
    """The database sees the return before the bill addition it undoes: the writer applies that batch
    in parts, and every answer is the one the rules gave."""
    codes = await _run(clean_db, biller, "batch-c", [
        *_filled("M444-00051", "BC"), rules.CreateBill("B-51", 2), rules.AddToBill("B-51", "M444-00051"),
        rules.ReturnOpen("R-51"), rules.ReturnAdd("R-51", "M444-00051"), rules.FinishBill("B-51")])
    assert codes[-4:] == [Code.OK, Code.OK, Code.OK, Code.BILL_EMPTY]
    assert await clean_db.fetchval("SELECT parent_count FROM bills WHERE code = 'B-51'") == 0
    assert await clean_db.fetchval("SELECT count(*) FROM return_parents") == 1


# --- the schema -----------------------------------------------------------------------------------


@pytest.fixture
async def conn(clean_db: asyncpg.Pool) -> Any:
    async with clean_db.acquire() as connection:
        yield connection


async def _full_parent(conn: asyncpg.Connection, code: str) -> int:
    parent: int = await conn.fetchval(
        "INSERT INTO bags (code, kind, format, capacity, expected_kg, area) "
        "VALUES ($1, 'P', 'mini', 15, 15, 'lucknow') RETURNING id", code)
    children = await conn.fetch(
        "INSERT INTO bags (code, kind, area) SELECT $1 || lpad(n::text, 4, '0'), 'C', 'lucknow' "
        "FROM generate_series(1, 15) n RETURNING id", code.replace("-", ""))
    await conn.execute("INSERT INTO links (child_id, parent_id) SELECT unnest($1::bigint[]), $2",
                       [c["id"] for c in children], parent)
    return parent


async def _completed_bill(conn: asyncpg.Connection, parents: list[int]) -> int:
    bill: int = await conn.fetchval(
        "INSERT INTO bills (code, capacity, area) VALUES ('S-1', 5, 'lucknow') RETURNING id")
    await conn.execute("INSERT INTO bill_parents (parent_id, bill_id) SELECT unnest($1::bigint[]), $2", parents, bill)
    await conn.execute("UPDATE bills SET status = 'completed', completed_at = now() WHERE id = $1", bill)
    return bill


async def _ticket(conn: asyncpg.Connection, code: str = "T-1") -> int:
    ticket: int = await conn.fetchval(
        "INSERT INTO return_tickets (code, area) VALUES ($1, 'lucknow') RETURNING id", code)
    return ticket


async def test_a_completed_bill_is_emptied_only_by_returns(conn: asyncpg.Connection) -> None:
    first, second = await _full_parent(conn, "M444-00061"), await _full_parent(conn, "M444-00062")
    bill = await _completed_bill(conn, [first, second])
    await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", first)  # not the last: as before
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", second)
    ticket = await _ticket(conn)
    with pytest.raises(asyncpg.CheckViolationError):  # a return record names the bill the parent is on
        await conn.execute("INSERT INTO return_parents (ticket_id, parent_id, bill_id) VALUES ($1, $2, $3)",
                           ticket, first, bill)
    await conn.execute("INSERT INTO return_parents (ticket_id, parent_id, bill_id) VALUES ($1, $2, $3)",
                       ticket, second, bill)
    await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", second)
    assert tuple(await conn.fetchrow("SELECT status, parent_count FROM bills WHERE id = $1", bill)) == ("completed", 0)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("DELETE FROM return_parents")
    await conn.execute("UPDATE bills SET status = 'open', completed_at = NULL WHERE id = $1", bill)
    with pytest.raises(asyncpg.CheckViolationError):  # finishing an empty bill stays refused
        await conn.execute("UPDATE bills SET status = 'completed', completed_at = now() WHERE id = $1", bill)


async def test_a_parent_goes_back_onto_a_completed_bill_only_from_its_cancelled_return_and_once(
        conn: asyncpg.Connection) -> None:
    first, second = await _full_parent(conn, "M444-00071"), await _full_parent(conn, "M444-00072")
    bill = await _completed_bill(conn, [first, second])
    ticket = await _ticket(conn)
    await conn.execute("INSERT INTO return_parents (ticket_id, parent_id, bill_id) VALUES ($1, $2, $3)",
                       ticket, first, bill)
    await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", first)
    put_back = "INSERT INTO bill_parents (parent_id, bill_id) VALUES ($1, $2)"
    with pytest.raises(asyncpg.CheckViolationError):  # the ticket is still open
        await conn.execute(put_back, first, bill)
    async with conn.transaction():
        await conn.execute("UPDATE return_tickets SET status = 'cancelled', closed_at = now() WHERE id = $1", ticket)
        await conn.execute(put_back, first, bill)
    assert await conn.fetchval("SELECT restored_at IS NOT NULL FROM return_parents") is True
    assert await conn.fetchval("SELECT parent_count FROM bills WHERE id = $1", bill) == 2
    await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", first)
    with pytest.raises(asyncpg.CheckViolationError):  # the record was used up
        await conn.execute(put_back, first, bill)
    with pytest.raises(asyncpg.CheckViolationError):
        await conn.execute("UPDATE return_tickets SET status = 'open', closed_at = NULL WHERE id = $1", ticket)


async def test_a_cancelled_ticket_has_put_every_parent_back(conn: asyncpg.Connection) -> None:
    parent = await _full_parent(conn, "M444-00081")
    bill = await _completed_bill(conn, [parent, await _full_parent(conn, "M444-00082")])
    ticket = await _ticket(conn)
    await conn.execute("INSERT INTO return_parents (ticket_id, parent_id, bill_id) VALUES ($1, $2, $3)",
                       ticket, parent, bill)
    await conn.execute("DELETE FROM bill_parents WHERE parent_id = $1", parent)
    with pytest.raises(asyncpg.CheckViolationError):  # at commit: the parent is still off its bill
        await conn.execute("UPDATE return_tickets SET status = 'cancelled', closed_at = now() WHERE id = $1", ticket)
    assert await conn.fetchval("SELECT status FROM return_tickets") == "open"


def test_a_malformed_return_op_is_recorded_as_a_bad_request(client: TestClient) -> None:
    biller = account(client, "biller", "bathinda")
    with Scanner(client, biller.token) as scanner:
        wrong_type = scanner.do("return_add", ticket=7, parent="M444-00091")
        assert (wrong_type["code"], wrong_type["data"]["reason"]) == ("BAD_REQUEST", "field 'ticket' must be a string")
        missing = scanner.do("return_open")
        assert missing["data"]["reason"] == "field 'ticket' must be a string"
        unknown = scanner.do("return_everything", ticket="R-91")
        assert unknown["data"]["reason"] == "unknown op 'return_everything'"
        assert scanner.do("return_open", ticket="R" * 41)["code"] == "INVALID_RETURN"
        assert scanner.do("return_open", ticket="R" * 101)["code"] == "BAD_REQUEST"
    assert fetch(client, "SELECT op, result FROM scans WHERE user_id = $1 ORDER BY seq", biller.user_id) == [
        ("invalid", "BAD_REQUEST"), ("invalid", "BAD_REQUEST"), ("invalid", "BAD_REQUEST"),
        ("return_open", "INVALID_RETURN"), ("invalid", "BAD_REQUEST")]
    assert fetch(client, "SELECT count(*) FROM return_tickets") == [(0,)]
