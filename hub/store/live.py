"""SQL behind the dashboards: a consistent snapshot of the live counters at one commit seq."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

import asyncpg

from hub.domain.rules import kg
from hub.livestate import FIELDS, IN_PROGRESS_SHOWN, MINUTES_SHOWN, RECENT_EVENTS, LiveState

TIMEOUT = 30


def parent_item(code: str, area: str, count: int, capacity: int, bill: str | None) -> dict[str, Any]:
    return {"code": code, "area": area, "count": count, "capacity": capacity,
            "complete": count == capacity, "bill": bill}


def bill_item(row: Any) -> dict[str, Any]:
    return {"code": row["code"], "area": row["area"], "count": row["parent_count"], "capacity": row["capacity"],
            "status": row["status"], "destination": row["destination"], "vehicle": row["vehicle"],
            "actual_kg": kg(row["actual_kg"]), "expected_kg": kg(row["expected_kg"])}


async def committed_seq(pool: asyncpg.Pool) -> int:
    """The seq of the last batch committed by any hub."""
    return int(await pool.fetchval("SELECT seq FROM commit_clock", timeout=TIMEOUT))


async def load_state(pool: asyncpg.Pool, tz: tzinfo, now: datetime) -> LiveState:
    """Read every counter in one repeatable-read snapshot, so all of it is as of one commit seq."""
    day = now.astimezone(tz).date()
    day_start = datetime.combine(day, datetime.min.time(), tz)
    hour_ago = now - timedelta(minutes=MINUTES_SHOWN)
    sums = ", ".join(f"sum({name})::int AS {name}" for name in FIELDS)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        seq = await conn.fetchval("SELECT seq FROM commit_clock", timeout=TIMEOUT)
        state = LiveState(seq=seq, day=day, tz=tz)
        for row in await conn.fetch(
                f"SELECT area, {sums} FROM scan_stats WHERE minute >= $1 GROUP BY area", day_start,
                timeout=TIMEOUT):
            state.areas[row["area"]] = [row[name] for name in FIELDS]
        for row in await conn.fetch(
                f"""SELECT s.device_id, s.area, coalesce(max(u.username), '') AS username, {sums}
                      FROM scan_stats s
                      LEFT JOIN devices d ON d.device_id = s.device_id
                      LEFT JOIN users u ON u.id = d.user_id
                     WHERE s.minute >= $1
                     GROUP BY s.device_id, s.area""", day_start, timeout=TIMEOUT):
            entry = state.devices.setdefault(row["device_id"], {"user": row["username"], "areas": {}})
            entry["areas"][row["area"]] = [row[name] for name in FIELDS]
        for row in await conn.fetch(
                """SELECT extract(epoch FROM minute)::bigint AS minute, area,
                          sum(accepted + rejected)::int AS scans
                     FROM scan_stats WHERE minute > $1 GROUP BY 1, 2""", hour_ago, timeout=TIMEOUT):
            state.minutes[(row["minute"], row["area"])] = row["scans"]
        for row in await conn.fetch(
                """SELECT b.code, b.area, b.child_count, b.capacity
                     FROM bags b
                    WHERE b.code IN (SELECT target FROM scans
                                      WHERE op = 'child' AND result = 'OK' AND server_time >= $1)
                      AND b.kind = 'P' AND b.child_count BETWEEN 1 AND b.capacity - 1
                    ORDER BY b.id DESC LIMIT $2""", day_start, IN_PROGRESS_SHOWN, timeout=TIMEOUT):
            state.parents[row["code"]] = parent_item(row["code"], row["area"], row["child_count"],
                                                     row["capacity"], None)
        for row in await conn.fetch(
                """SELECT l.code, l.area, l.parent_count, l.capacity, l.status, l.destination, l.vehicle,
                          coalesce(sum(b.child_count), 0) AS actual_kg, coalesce(sum(b.expected_kg), 0) AS expected_kg
                     FROM bills l
                     LEFT JOIN bill_parents bp ON bp.bill_id = l.id
                     LEFT JOIN bags b ON b.id = bp.parent_id
                    WHERE l.status = 'open'
                    GROUP BY l.id ORDER BY l.id DESC LIMIT $1""", IN_PROGRESS_SHOWN, timeout=TIMEOUT):
            state.bills[row["code"]] = bill_item(row)
        for row in reversed(await conn.fetch(
                """SELECT s.device_id, s.seq, coalesce(u.username, '') AS username, s.area, s.op, s.code,
                          s.target, s.result, s.detail, extract(epoch FROM s.server_time)::float8 AS at,
                          extract(epoch FROM s.client_time)::float8 AS client_at
                     FROM scans s LEFT JOIN users u ON u.id = s.user_id
                    ORDER BY s.id DESC LIMIT $1""", RECENT_EVENTS, timeout=TIMEOUT)):
            state.events.append({"device": row["device_id"], "seq": row["seq"], "user": row["username"],
                                 "area": row["area"], "op": row["op"], "code": row["code"],
                                 "target": row["target"], "result": row["result"], "data": row["detail"] or {},
                                 "at": row["at"], "client_at": row["client_at"]})
        for row in await conn.fetch("SELECT device_id, name FROM devices WHERE name IS NOT NULL",
                                    timeout=TIMEOUT):
            state.names[row["device_id"]] = row["name"]
    return state
