"""The audit log: every change made outside scanning, with who, when, before and after."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.domain.filters import AuditFilter
from hub.store.keyset import Key, Page, Query, TimeKey, fetch_page, time_key

TIMEOUT = 10.0


async def insert_audit(db: Any, actor_id: int | None, action: str, target: str,
                       before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """One audit row: who did what to which target, and the state before and after."""
    await db.execute(
        "INSERT INTO audit_log (actor_id, action, target, before, after) VALUES ($1, $2, $3, $4, $5)",
        actor_id, action, target, before, after, timeout=TIMEOUT,
    )


def _key(row: asyncpg.Record) -> TimeKey:
    return (row["at"], row["id"])


async def list_entries(db: Any, flt: AuditFilter, after: Key | None, limit: int) -> Page:
    """One page of audit entries matching `flt`, newest first; `after` is the previous page's `next`.
    An actor name that is no user matches no entry."""
    query = Query()
    if flt.action is not None:
        query.where(f"a.action = {query.arg(flt.action)}")
    if flt.actor is not None:
        query.where(f"a.actor_id = (SELECT id FROM users WHERE username = {query.arg(flt.actor)})")
    if flt.target is not None:
        query.where(f"a.target = {query.arg(flt.target)}")
    query.during("a.at", flt.at)
    query.before("a.at", "a.id", time_key(after))
    return await fetch_page(
        db, f"""SELECT a.id, a.at, a.action, a.target, a.before, a.after, u.username
                  FROM audit_log a LEFT JOIN users u ON u.id = a.actor_id
                 WHERE {query.sql} ORDER BY a.at DESC, a.id DESC""", query, limit, _key, TIMEOUT)


AuditRow = tuple[int, str, str, dict[str, Any] | None, dict[str, Any] | None]
"""(actor id, action, target, before, after) of one audited change."""
