"""The audit log: every change made outside scanning, with who, when, before and after."""

from __future__ import annotations

from datetime import datetime
from typing import Any

TIMEOUT = 10.0


async def insert_audit(db: Any, actor_id: int | None, action: str, target: str,
                       before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """One audit row: who did what to which target, and the state before and after."""
    await db.execute(
        "INSERT INTO audit_log (actor_id, action, target, before, after) VALUES ($1, $2, $3, $4, $5)",
        actor_id, action, target, before, after, timeout=TIMEOUT,
    )


AuditRow = tuple[int, str, str, dict[str, Any] | None, dict[str, Any] | None]
"""(actor id, action, target, before, after) of one audited change."""


async def insert_audits(db: Any, rows: list[AuditRow], at: datetime) -> None:
    """Audit rows of one batch, set-wise, in the caller's transaction (the one of their effects)."""
    if rows:
        await db.execute(
            """INSERT INTO audit_log (at, actor_id, action, target, before, after)
               SELECT $1::timestamptz, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[],
                                                     $6::jsonb[])""",
            at, *zip(*rows), timeout=TIMEOUT,
        )
