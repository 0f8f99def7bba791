"""SQL of return tickets: what a batch locks and writes (inside the writer's transaction), and the
reads behind `GET /api/returns`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from hub.domain.filters import ReturnFilter
from hub.domain.rules import Bag, Ticket
from hub.store.batches import ConcurrentChange
from hub.store.keyset import Key, Page, Query, TimeKey, fetch_page, time_key

TIMEOUT = 30
READ_TIMEOUT = 10.0


# --- the batch ---------------------------------------------------------------------------------


async def lock_tickets(conn: asyncpg.Connection, codes: set[str]) -> dict[str, Ticket]:
    """Lock the named tickets' rows in id order and load them with their parents and those bills."""
    if not codes:
        return {}
    rows = await conn.fetch(
        "SELECT id, code, area, status FROM return_tickets WHERE code = ANY($1::text[]) ORDER BY id FOR UPDATE",
        list(codes), timeout=TIMEOUT,
    )
    tickets = {r["id"]: Ticket(code=r["code"], area=r["area"], id=r["id"], status=r["status"]) for r in rows}
    if tickets:
        for r in await conn.fetch(
                """SELECT rp.ticket_id, b.code AS parent, l.code AS bill
                     FROM return_parents rp
                     JOIN bags b ON b.id = rp.parent_id
                     JOIN bills l ON l.id = rp.bill_id
                    WHERE rp.ticket_id = ANY($1::bigint[])
                    ORDER BY rp.returned_at, b.code""", list(tickets), timeout=TIMEOUT):
            tickets[r["ticket_id"]].parents[r["parent"]] = r["bill"]
    return {ticket.code: ticket for ticket in tickets.values()}


async def open_returns(conn: asyncpg.Connection, bags: list[Bag]) -> dict[str, str]:
    """For those of `bags` (locked) that are on an open ticket: parent code -> ticket code."""
    ids = [bag.id for bag in bags if bag.kind == "P" and bag.bill is None and bag.id is not None]
    if not ids:
        return {}
    rows = await conn.fetch(
        """SELECT b.code AS parent, t.code AS ticket
             FROM return_parents rp
             JOIN return_tickets t ON t.id = rp.ticket_id
             JOIN bags b ON b.id = rp.parent_id
            WHERE rp.parent_id = ANY($1::bigint[]) AND t.status = 'open'""", ids, timeout=TIMEOUT)
    return {r["parent"]: r["ticket"] for r in rows}


async def insert_tickets(conn: asyncpg.Connection, tickets: list[Ticket], created_by: list[int | None],
                         now: datetime) -> None:
    """Insert new tickets and give them their ids; one another process created first aborts the batch."""
    if not tickets:
        return
    rows = await conn.fetch(
        """INSERT INTO return_tickets (code, area, created_by, created_at)
           SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[], $4::timestamptz[])
           ON CONFLICT (code) DO NOTHING
           RETURNING id, code""",
        [t.code for t in tickets], [t.area for t in tickets], created_by, [now] * len(tickets), timeout=TIMEOUT,
    )
    if len(rows) != len(tickets):
        raise ConcurrentChange("a return ticket was created by another hub at the same moment")
    ids = {r["code"]: r["id"] for r in rows}
    for ticket in tickets:
        ticket.id = ids[ticket.code]


Returned = tuple[int, int, int, int | None, datetime]
"""(ticket id, parent id, bill id it came off, who, when) of one parent returned."""


async def insert_returned(conn: asyncpg.Connection, rows: list[Returned]) -> None:
    """Record returned parents; written before the parents leave their bills (the schema checks both)."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO return_parents (ticket_id, parent_id, bill_id, returned_by, returned_at)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::timestamptz[])""",
        *zip(*rows), timeout=TIMEOUT,
    )


async def close_tickets(conn: asyncpg.Connection, closed: list[tuple[int, str, int | None]], now: datetime) -> None:
    """(ticket id, new status, who) for tickets finalised or cancelled; before any put-back is written."""
    if not closed:
        return
    await conn.execute(
        """UPDATE return_tickets t SET status = u.status, closed_by = u.who, closed_at = $4::timestamptz
             FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS u(id, status, who)
            WHERE t.id = u.id""",
        *zip(*closed), now, timeout=TIMEOUT,
    )


# --- reads -------------------------------------------------------------------------------------

_TICKET = """SELECT t.id, t.code, t.area, t.status, t.created_at, t.closed_at,
                    cu.username AS created_by, xu.username AS closed_by,
                    (SELECT count(*) FROM return_parents rp WHERE rp.ticket_id = t.id)::int AS parent_count
               FROM return_tickets t
               LEFT JOIN users cu ON cu.id = t.created_by
               LEFT JOIN users xu ON xu.id = t.closed_by"""


def _key(row: asyncpg.Record) -> TimeKey:
    return (row["created_at"], row["id"])


async def list_returns(db: Any, flt: ReturnFilter, after: Key | None, limit: int) -> Page:
    """One page of tickets matching `flt`, newest first; `after` is the previous page's `next`."""
    query = Query()
    if flt.area is not None:
        query.where(f"t.area = {query.arg(flt.area)}")
    if flt.status is not None:
        query.where(f"t.status = {query.arg(flt.status.value)}")
    query.before("t.created_at", "t.id", time_key(after))
    return await fetch_page(db, f"{_TICKET} WHERE {query.sql} ORDER BY t.created_at DESC, t.id DESC",
                            query, limit, _key, READ_TIMEOUT)


async def find(db: Any, code: str) -> tuple[asyncpg.Record, list[asyncpg.Record]] | None:
    """A ticket and its parents (with the bill each came off), oldest return first; None if there is none."""
    row = await db.fetchrow(f"{_TICKET} WHERE t.code = $1", code, timeout=READ_TIMEOUT)
    if row is None:
        return None
    parents = await db.fetch(
        """SELECT b.code, b.child_count, b.expected_kg, rp.returned_at, rp.restored_at,
                  u.username AS returned_by, l.code AS bill, l.status AS bill_status,
                  l.parent_count AS bill_count, l.capacity AS bill_capacity
             FROM return_parents rp
             JOIN bags b ON b.id = rp.parent_id
             JOIN bills l ON l.id = rp.bill_id
             LEFT JOIN users u ON u.id = rp.returned_by
            WHERE rp.ticket_id = $1
            ORDER BY rp.returned_at, b.code""", row["id"], timeout=READ_TIMEOUT)
    return row, list(parents)
