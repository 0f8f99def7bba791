"""Reading bags: one bag with its parent, children, bill and history; the bags list.

Changes to bags go through the batch writer, never through here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg

from hub.domain.filters import BagFilter, BagKind, BagStatus
from hub.domain.timeline import NOT_A_BAG_OPS, PARENT_TARGET_OPS
from hub.store.keyset import CodeKey, Key, Page, Query, TimeKey, code_key, fetch_page, prefix_end, time_key

TIMEOUT = 10.0
HISTORY_LIMIT = 500

_COLUMNS = """
    SELECT b.id, b.code, b.kind, b.format, b.capacity, b.child_count, b.area, b.expected_kg,
           b.created_at, b.completed_at, p.code AS parent, p.child_count AS parent_child_count,
           p.capacity AS parent_capacity, l.code AS bill, l.status AS bill_status, u.username AS created_by"""
_JOINS = """
      LEFT JOIN users u ON u.id = b.created_by
      LEFT JOIN links k ON k.child_id = b.id
      LEFT JOIN bags p ON p.id = k.parent_id
      LEFT JOIN bill_parents bp ON bp.parent_id = b.id
      LEFT JOIN bills l ON l.id = bp.bill_id"""
_BAG = f"{_COLUMNS} FROM bags b {_JOINS}"

_IN_PARENT = "EXISTS (SELECT 1 FROM links x WHERE x.child_id = b.id)"
_STATUS = {
    BagStatus.EMPTY: "b.completed_at IS NULL AND b.child_count = 0",  # over the open parents' indexes
    BagStatus.FILLING: "b.completed_at IS NULL AND b.child_count > 0",
    BagStatus.COMPLETE: "b.completed_at IS NOT NULL AND NOT b.on_bill",
    BagStatus.ON_BILL: "b.on_bill",
    BagStatus.LOOSE: f"NOT {_IN_PARENT}",
    BagStatus.IN_PARENT: _IN_PARENT,
}
"""Each status as SQL over `b`; constants, not parameters, so that the partial indexes of the
0006 migration match (the kind is added as a constant too). No index names child_count (see the
0013 migration): an empty parent is found among the open ones."""


async def find(db: Any, code: str) -> asyncpg.Record | None:
    """A bag with its parent (a child's) or bill (a parent's), and its creator's name; None if unknown."""
    row: asyncpg.Record | None = await db.fetchrow(f"{_BAG} WHERE b.code = $1", code, timeout=TIMEOUT)
    return row


async def children(db: Any, parent_id: int) -> list[asyncpg.Record]:
    """A parent's children, in the order they went in."""
    rows: list[asyncpg.Record] = await db.fetch(
        """SELECT c.code, k.linked_at, u.username AS linked_by
             FROM links k JOIN bags c ON c.id = k.child_id LEFT JOIN users u ON u.id = k.linked_by
            WHERE k.parent_id = $1 ORDER BY k.linked_at, c.code""", parent_id, timeout=TIMEOUT)
    return rows


async def history(db: Any, code: str, area: str | None) -> list[asyncpg.Record]:
    """The scans about a bag (and those naming it as the parent), newest first, at most
    HISTORY_LIMIT + 1 (one more tells the caller it was cut). With `area`, only scans counted in that
    area: a rejected scan counts in its operator's area, so another area's attempts stay unseen."""
    query = Query()
    bag = query.arg(code)
    not_bag_ops, parent_ops = query.arg(sorted(NOT_A_BAG_OPS)), query.arg(sorted(PARENT_TARGET_OPS))
    in_area = f"AND area = {query.arg(area)}" if area is not None else ""
    # Two lookups, one per index (scans_code, scans_target), merged, then sorted: asked for in time
    # order with a limit, either was planned as a walk of the whole scans table in time order. A
    # bag's history has no time bound, so each lookup probes every month's index; the rows come
    # whole from the lookups (joined back to scans by id, they were planned as a hash join over
    # every row of every month).
    columns = "id, server_time, op, code, target, result, device_id, detail, user_id"
    rows: list[asyncpg.Record] = await db.fetch(
        f"""WITH hits AS (
                SELECT {columns} FROM scans WHERE code = {bag} AND NOT op = ANY({not_bag_ops}) {in_area}
                UNION
                SELECT {columns} FROM scans
                 WHERE target = {bag} AND target <> '' AND op = ANY({parent_ops}) {in_area})
            SELECT h.id, h.server_time, h.op, h.code, h.target, h.result, h.device_id, h.detail, u.username
              FROM hits h LEFT JOIN users u ON u.id = h.user_id
             ORDER BY h.server_time DESC, h.id DESC LIMIT {HISTORY_LIMIT + 1}""", *query.args, timeout=TIMEOUT)
    return rows


def _time_key(row: asyncpg.Record) -> TimeKey:
    return (row["created_at"], row["id"])


def _code_key(row: asyncpg.Record) -> CodeKey:
    return (row["code"],)


async def list_bags(db: Any, flt: BagFilter, after: Key | None, limit: int) -> Page:
    """One page of bags matching `flt`: newest first, or in code order when `flt.prefix` is set.

    `after` is the `next` of the previous page (a code key with a prefix, a time key without).
    """
    query = Query()
    key: Callable[[asyncpg.Record], Key]
    kind = flt.status.kind if flt.status is not None else flt.kind
    if kind is not None:
        query.where(f"b.kind = '{BagKind(kind).letter}'")
    if flt.status is not None:
        query.where(_STATUS[flt.status])
    if flt.area is not None:
        query.where(f"b.area = {query.arg(flt.area)}")
    query.during("b.created_at", flt.created)
    if flt.prefix is not None:
        query.where(f'b.code COLLATE "C" >= {query.arg(flt.prefix)}')
        end = prefix_end(flt.prefix)
        if end is not None:
            query.where(f'b.code COLLATE "C" < {query.arg(end)}')
        last = code_key(after)
        if last is not None:
            query.where(f'b.code COLLATE "C" > {query.arg(last[0])}')
        order, key = 'b.code COLLATE "C"', _code_key
    else:
        query.before("b.created_at", "b.id", time_key(after))
        order, key = "b.created_at DESC, b.id DESC", _time_key
    # The page is chosen from bags alone, then joined: so the plan is the index range and its limit,
    # whatever the joins' estimates (a prefix range of 10,000 codes was planned as join-then-sort).
    page = f"SELECT * FROM bags b WHERE {query.sql} ORDER BY {order} LIMIT {int(limit) + 1}"
    return await fetch_page(db, f"{_COLUMNS} FROM ({page}) b {_JOINS} ORDER BY {order}", query, limit, key, TIMEOUT)
