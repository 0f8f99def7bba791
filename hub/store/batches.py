"""SQL of one group-commit batch: lock what the batch touches, load it, write the net effect.

Everything here runs inside the writer's transaction; statements are per batch (unnest / COPY),
never per scan.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg

from hub.domain.rules import Bag, Bill, LastAction
from hub.store.audit import AuditRow

TIMEOUT = 30


class ConcurrentChange(Exception):
    """Another hub process created a bag or bill this batch also created: redo the batch."""


_LOCK_DEVICES = """SELECT device_id, last_seq FROM devices WHERE device_id = ANY($1::text[])
                     ORDER BY device_id FOR UPDATE"""


async def lock_devices(conn: asyncpg.Connection, devices: list[str]) -> dict[str, int]:
    """Lock the devices' rows (serialising two hubs that see one device) and return their last seq.

    This lock is what applies a (device, seq) once (the scans table, partitioned by month, has no
    global unique key: see migration 0014), so a device without a row yet (one that never said
    hello) gets one here first: two transactions inserting it at once wait for each other, and the
    second then locks the first's committed row."""
    rows = await conn.fetch(_LOCK_DEVICES, devices, timeout=TIMEOUT)
    last = {row["device_id"]: row["last_seq"] for row in rows}
    missing = [device for device in devices if device not in last]
    if missing:
        await conn.execute("INSERT INTO devices (device_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING",
                           missing, timeout=TIMEOUT)
        last.update((row["device_id"], row["last_seq"])
                    for row in await conn.fetch(_LOCK_DEVICES, missing, timeout=TIMEOUT))
    return last


async def recorded_results(
    conn: asyncpg.Connection, keys: list[tuple[str, int]]
) -> dict[tuple[str, int], tuple[str, dict[str, Any]]]:
    """The stored (result, detail) of scans already applied, by (device, seq)."""
    if not keys:
        return {}
    rows = await conn.fetch(
        """SELECT s.device_id, s.seq, s.result, s.detail
             FROM scans s
             JOIN unnest($1::text[], $2::bigint[]) AS k(device_id, seq)
               ON s.device_id = k.device_id AND s.seq = k.seq""",
        [device for device, _ in keys], [seq for _, seq in keys], timeout=TIMEOUT,
    )
    return {(r["device_id"], r["seq"]): (r["result"], r["detail"] or {}) for r in rows}


_LOCK_BAGS = """
    SELECT b.id, b.code, b.kind, b.area, b.format, b.capacity, b.expected_kg, b.child_count,
           b.completed_at, l.linked_at, p.code AS parent_code, bl.code AS bill_code
      FROM bags b
      LEFT JOIN links l ON l.child_id = b.id
      LEFT JOIN bags p ON p.id = l.parent_id
      LEFT JOIN bill_parents bp ON bp.parent_id = b.id
      LEFT JOIN bills bl ON bl.id = bp.bill_id
     WHERE {where}
     ORDER BY b.id
       FOR UPDATE OF b"""


async def _lock(conn: asyncpg.Connection, where: str, codes: set[str]) -> dict[str, Bag]:
    if not codes:
        return {}
    rows = await conn.fetch(_LOCK_BAGS.format(where=where), list(codes), timeout=TIMEOUT)
    return {
        r["code"]: Bag(
            code=r["code"], kind=r["kind"], area=r["area"], id=r["id"], format=r["format"],
            capacity=r["capacity"] or 0, expected_kg=r["expected_kg"] or Decimal(0),
            child_count=r["child_count"], parent=r["parent_code"], bill=r["bill_code"],
            linked_at=r["linked_at"], completed_at=r["completed_at"],
        )
        for r in rows
    }


async def lock_bags(conn: asyncpg.Connection, codes: set[str]) -> dict[str, Bag]:
    """Lock the named bags' rows in id order and load them with their parent and bill codes."""
    return await _lock(conn, "b.code = ANY($1::text[])", codes)


async def lock_children(conn: asyncpg.Connection, parents: set[str]) -> dict[str, Bag]:
    """Lock and load every child of the named parents (whose rows the caller holds locked, so that
    no link to them can come or go meanwhile)."""
    return await _lock(conn, "p.code = ANY($1::text[])", parents)


async def lock_bills(conn: asyncpg.Connection, codes: set[str]) -> dict[str, Bill]:
    """Lock the named bills' rows in id order and load them with their weights."""
    if not codes:
        return {}
    rows = await conn.fetch(
        """SELECT l.id, l.code, l.capacity, l.parent_count, l.area, l.status, l.destination, l.vehicle,
                  coalesce(w.actual_kg, 0) AS actual_kg, coalesce(w.expected_kg, 0) AS expected_kg
             FROM bills l
             LEFT JOIN LATERAL (
                   SELECT sum(b.child_count) AS actual_kg, sum(b.expected_kg) AS expected_kg
                     FROM bill_parents bp JOIN bags b ON b.id = bp.parent_id
                    WHERE bp.bill_id = l.id) w ON true
            WHERE l.code = ANY($1::text[])
            ORDER BY l.id
              FOR UPDATE OF l""",
        list(codes), timeout=TIMEOUT,
    )
    return {
        r["code"]: Bill(
            code=r["code"], capacity=r["capacity"], area=r["area"], id=r["id"],
            parent_count=r["parent_count"], status=r["status"], destination=r["destination"],
            vehicle=r["vehicle"], actual_kg=r["actual_kg"], expected_kg=r["expected_kg"],
        )
        for r in rows
    }


async def last_actions(conn: asyncpg.Connection, user_ids: list[int]) -> dict[int, LastAction]:
    """Per user, their latest link or bill addition still in effect."""
    if not user_ids:
        return {}
    rows = await conn.fetch(
        """SELECT DISTINCT ON (user_id) user_id, kind, code, at FROM (
               SELECT l.linked_by AS user_id, 'link' AS kind, c.code, l.linked_at AS at
                 FROM unnest($1::bigint[]) AS u(id)
                 CROSS JOIN LATERAL (SELECT * FROM links WHERE linked_by = u.id
                                      ORDER BY linked_at DESC LIMIT 1) l
                 JOIN bags c ON c.id = l.child_id
               UNION ALL
               SELECT p.added_by, 'bill_add', b.code, p.added_at
                 FROM unnest($1::bigint[]) AS u(id)
                 CROSS JOIN LATERAL (SELECT * FROM bill_parents WHERE added_by = u.id
                                      ORDER BY added_at DESC LIMIT 1) p
                 JOIN bags b ON b.id = p.parent_id
           ) a
           ORDER BY user_id, at DESC""",
        user_ids, timeout=TIMEOUT,
    )
    return {r["user_id"]: LastAction(r["kind"], r["code"], r["at"]) for r in rows}


async def existing_areas(conn: asyncpg.Connection, names: list[str]) -> set[str]:
    """Which of `names` are dispatch areas."""
    if not names:
        return set()
    rows = await conn.fetch("SELECT name FROM areas WHERE name = ANY($1::text[])", names, timeout=TIMEOUT)
    return {row["name"] for row in rows}


Made = tuple[int, int, int | None, datetime]
"""(bag id, parent or bill id, who, when) of a link or a bill membership."""

NewLink = tuple[str, int | None, str, int | None, int | None, datetime]
"""(child code, child id, parent code, parent id, who, when) of a link; an id is None when the bag
is one this batch creates."""


async def insert_bills(conn: asyncpg.Connection, bills: list[Bill], created_by: list[int | None],
                       now: datetime) -> None:
    if not bills:
        return
    rows = await conn.fetch(
        """INSERT INTO bills (code, capacity, area, destination, vehicle, created_by, created_at)
           SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
                                $6::bigint[], $7::timestamptz[])
           ON CONFLICT (code) DO NOTHING
           RETURNING id, code""",
        [b.code for b in bills], [b.capacity for b in bills], [b.area for b in bills],
        [b.destination for b in bills], [b.vehicle for b in bills], created_by, [now] * len(bills),
        timeout=TIMEOUT,
    )
    if len(rows) != len(bills):
        raise ConcurrentChange("a bill was created by another hub at the same moment")
    ids = {r["code"]: r["id"] for r in rows}
    for bill in bills:
        bill.id = ids[bill.code]


async def delete_bill_parents(conn: asyncpg.Connection, parent_ids: list[int]) -> None:
    if parent_ids:
        await conn.execute("DELETE FROM bill_parents WHERE parent_id = ANY($1::bigint[])", parent_ids,
                           timeout=TIMEOUT)


async def set_bill_status(conn: asyncpg.Connection, bills: list[Bill], now: datetime) -> None:
    if not bills:
        return
    await conn.execute(
        """UPDATE bills l
              SET status = u.status,
                  completed_at = CASE WHEN u.status = 'completed' THEN $3::timestamptz END
             FROM unnest($1::bigint[], $2::text[]) AS u(id, status)
            WHERE l.id = u.id""",
        [b.id for b in bills], [b.status for b in bills], now, timeout=TIMEOUT,
    )


async def delete_bags(conn: asyncpg.Connection, ids: list[int]) -> None:
    """Delete bags that hold nothing and are in nothing (their scan rows stay: history is kept)."""
    if ids:
        await conn.execute("DELETE FROM bags WHERE id = ANY($1::bigint[])", ids, timeout=TIMEOUT)


async def set_areas(conn: asyncpg.Connection, areas: list[tuple[int, str]]) -> None:
    """(bag id, dispatch area) of bags moved to another area."""
    if areas:
        await conn.execute(
            """UPDATE bags b SET area = u.area
                 FROM unnest($1::bigint[], $2::text[]) AS u(id, area) WHERE b.id = u.id""",
            *zip(*areas), timeout=TIMEOUT,
        )


async def set_bill_text(conn: asyncpg.Connection, bills: list[Bill]) -> None:
    """Store the destination and vehicle of edited bills."""
    if bills:
        await conn.execute(
            """UPDATE bills l SET destination = u.destination, vehicle = u.vehicle
                 FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(id, destination, vehicle)
                WHERE l.id = u.id""",
            [b.id for b in bills], [b.destination for b in bills], [b.vehicle for b in bills],
            timeout=TIMEOUT,
        )


async def delete_links(conn: asyncpg.Connection, child_ids: list[int]) -> None:
    if child_ids:
        await conn.execute("DELETE FROM links WHERE child_id = ANY($1::bigint[])", child_ids,
                           timeout=TIMEOUT)


async def insert_bill_parents(conn: asyncpg.Connection, rows: list[Made]) -> None:
    """(parent_id, bill_id, added_by, added_at) rows."""
    if not rows:
        return
    await conn.execute(
        """INSERT INTO bill_parents (parent_id, bill_id, added_by, added_at)
           SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::timestamptz[])""",
        *zip(*rows), timeout=TIMEOUT,
    )


SCAN_COLUMNS = ("device_id", "seq", "user_id", "area", "op", "code", "target", "result", "detail",
                "client_time", "server_time")


async def record_scans(conn: asyncpg.Connection, records: list[tuple[Any, ...]]) -> None:
    """COPY the batch's scan rows (columns as SCAN_COLUMNS)."""
    if records:
        await conn.copy_records_to_table("scans", records=records, columns=SCAN_COLUMNS, timeout=TIMEOUT)


_ADVANCE_DEVICES = """
    INSERT INTO devices (device_id, last_seq, user_id, updated_at)
    SELECT d, s, u, ${at}::timestamptz FROM {rows} AS x(d, s, u)
    ON CONFLICT (device_id) DO UPDATE
       SET last_seq = greatest(devices.last_seq, excluded.last_seq),
           user_id = excluded.user_id, updated_at = excluded.updated_at"""


async def advance_devices(conn: asyncpg.Connection, last: dict[str, tuple[int, int | None]],
                          now: datetime) -> None:
    """Store each device's last applied seq (and its user), in the caller's transaction."""
    if last:
        devices = list(last)
        await conn.execute(_ADVANCE_DEVICES.format(at=1, rows="unnest($2::text[], $3::bigint[], $4::bigint[])"), now,
                           devices, [last[d][0] for d in devices], [last[d][1] for d in devices], timeout=TIMEOUT)


STAT_FIELDS = ("accepted", "rejected", "children_linked", "parents_completed", "bills_completed")

Stats = dict[tuple[datetime, str, str], list[int]]
"""Counts to add to the per-minute counters, keyed by (minute, area, device), as STAT_FIELDS.

A batch counts in its own minute, except what a correction takes back or moves to another area:
that counts in the minute the link or completion was counted in first."""

_ADD_STATS = """
    INSERT INTO scan_stats (minute, area, device_id, accepted, rejected, children_linked,
                            parents_completed, bills_completed)
    SELECT * FROM {rows}
    ON CONFLICT (minute, area, device_id) DO UPDATE
       SET accepted = scan_stats.accepted + excluded.accepted,
           rejected = scan_stats.rejected + excluded.rejected,
           children_linked = scan_stats.children_linked + excluded.children_linked,
           parents_completed = scan_stats.parents_completed + excluded.parents_completed,
           bills_completed = scan_stats.bills_completed + excluded.bills_completed"""


async def add_stats(conn: asyncpg.Connection, stats: Stats) -> None:
    """Add counts to the per-minute counters, in the caller's transaction."""
    if stats:
        keys = list(stats)
        await conn.execute(
            _ADD_STATS.format(rows="unnest($1::timestamptz[], $2::text[], $3::text[], $4::int[], $5::int[], "
                                   "$6::int[], $7::int[], $8::int[])"),
            [minute for minute, _, _ in keys], [area for _, area, _ in keys], [device for _, _, device in keys],
            *([stats[key][i] for key in keys] for i in range(len(STAT_FIELDS))), timeout=TIMEOUT)


_WRITE_BATCH = f"""
    WITH new_bags AS (
        INSERT INTO bags (code, kind, area, format, capacity, expected_kg, created_by, created_at)
        SELECT *, $1::timestamptz FROM unnest($2::batch_bag[])
        ON CONFLICT (code) DO NOTHING
        RETURNING id, code
    ), new_links AS (
        INSERT INTO links (child_id, parent_id, linked_by, linked_at)
        SELECT coalesce(l.child_id, c.id), coalesce(l.parent_id, p.id), l.linked_by, l.linked_at
          FROM unnest($3::batch_link[]) AS l
          LEFT JOIN new_bags c ON c.code = l.child_code
          LEFT JOIN new_bags p ON p.code = l.parent_code
         WHERE coalesce(l.child_id, c.id) IS NOT NULL AND coalesce(l.parent_id, p.id) IS NOT NULL
    ), scan_rows AS (
        INSERT INTO scans ({", ".join(SCAN_COLUMNS)})
        SELECT *, $1::timestamptz FROM unnest($4::batch_scan[])
    ), device_rows AS ({_ADVANCE_DEVICES.format(at=1, rows="unnest($5::batch_device[])")}
    ), stat_rows AS ({_ADD_STATS.format(rows="unnest($6::batch_stat[])")}
    ), audit_rows AS (
        INSERT INTO audit_log (at, actor_id, action, target, before, after)
        SELECT $1::timestamptz, * FROM unnest($7::bigint[], $8::text[], $9::text[], $10::jsonb[], $11::jsonb[])
    ), clock AS (
        UPDATE commit_clock SET seq = seq + 1 WHERE $12::boolean RETURNING seq
    )
    SELECT id, code, NULL::bigint AS seq FROM new_bags
    UNION ALL
    SELECT NULL, NULL, seq FROM clock"""


async def write_batch(conn: asyncpg.Connection, bags: list[Bag], created_by: list[int | None], links: list[NewLink],
                      scans: list[tuple[Any, ...]], last: dict[str, tuple[int, int | None]], stats: Stats,
                      audits: list[AuditRow], now: datetime, *, sequence: bool) -> int:
    """The new bags (given their ids here) and links, which may join them, and what every batch
    writes besides its effects: its scan rows (SCAN_COLUMNS bar server_time, which is `now`), each
    device's last applied seq and user, the per-minute counters, and the audit rows of its
    corrections. One statement, one round trip; the counter and area triggers run once, at its end.
    Each table's rows go as one array of records (the batch_* types), not an array per column.

    With `sequence`, the same statement takes the batch's place in commit order (see
    `next_commit_seq`) and returns it; else 0. It takes it after inserting the new bags, the one
    write that may wait for another transaction (one creating the same bag), so that no batch holds
    the commit clock while it waits for another batch's row.

    A bag another process created first is not inserted, and neither is a link to it: the batch is
    then aborted (ConcurrentChange) and redone.
    """
    rows = await conn.fetch(
        _WRITE_BATCH, now,
        [(b.code, b.kind, b.area, b.format, b.capacity if b.kind == "P" else None,
          b.expected_kg if b.kind == "P" else None, creator) for b, creator in zip(bags, created_by)],
        links, scans, [(device, seq, user) for device, (seq, user) in last.items()],
        [(*key, *counts) for key, counts in stats.items()],
        *([list(column) for column in zip(*audits)] if audits else [[] for _ in range(5)]), sequence,
        timeout=TIMEOUT,
    )
    ids = {r["code"]: r["id"] for r in rows if r["code"] is not None}
    if len(ids) != len(bags):
        raise ConcurrentChange("a bag was created by another hub at the same moment")
    for bag in bags:
        bag.id = ids[bag.code]
    return next((int(r["seq"]) for r in rows if r["seq"] is not None), 0)


async def applied_seq(pool: asyncpg.Pool, device: str) -> int:
    """The last seq applied for a device (0 for a device never seen)."""
    value = await pool.fetchval("SELECT last_seq FROM devices WHERE device_id = $1", device, timeout=TIMEOUT)
    return int(value or 0)


async def next_commit_seq(conn: asyncpg.Connection) -> int:
    """Take the batch's place in commit order; the row stays locked until the batch commits."""
    return int(await conn.fetchval("UPDATE commit_clock SET seq = seq + 1 RETURNING seq", timeout=TIMEOUT))


async def wait_for_locks(conn: asyncpg.Connection) -> None:
    """Let the transaction wait for row locks as long as they are held (whatever the connection's
    own `lock_timeout`)."""
    await conn.execute("SET LOCAL lock_timeout = 0", timeout=TIMEOUT)
