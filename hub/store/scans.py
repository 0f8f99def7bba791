"""Reading the scans log (every scan, accepted or rejected): the scans list.

Scans are written by the batch writer only (`hub.store.batches`).
"""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.domain.filters import ScanFilter
from hub.store.keyset import Key, Page, Query, TimeKey, fetch_page, time_key

TIMEOUT = 10.0


def _key(row: asyncpg.Record) -> TimeKey:
    return (row["server_time"], row["id"])


async def list_scans(db: Any, flt: ScanFilter, after: Key | None, limit: int) -> Page:
    """One page of scans matching `flt`, newest first (server time, then id); `after` is the previous
    page's `next`. A user name that is no user matches no scan.

    The scans table is partitioned by month: a page reads the months its time filter and cursor
    allow, newest first, each through that month's own index."""
    query = Query()
    if flt.rejected_only:
        query.where("s.result <> 'OK'")
    if flt.user is not None:
        query.where(f"s.user_id = (SELECT id FROM users WHERE username = {query.arg(flt.user)})")
    if flt.device is not None:
        query.where(f"s.device_id = {query.arg(flt.device)}")
    if flt.area is not None:
        query.where(f"s.area = {query.arg(flt.area)}")
    query.during("s.server_time", flt.at)
    last = time_key(after)
    query.before("s.server_time", "s.id", last)
    if last is not None:  # the same bound, as PostgreSQL prunes by: no month after the cursor's is read
        query.where(f"s.server_time <= {query.arg(last[0])}")
    return await fetch_page(
        db, f"""SELECT s.id, s.server_time, s.client_time, s.device_id, s.area, s.op, s.code, s.target,
                       s.result, s.detail, u.username
                  FROM scans s LEFT JOIN users u ON u.id = s.user_id
                 WHERE {query.sql} ORDER BY s.server_time DESC, s.id DESC""", query, limit, _key, TIMEOUT)
