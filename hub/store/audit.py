"""The audit log: every change made outside scanning, with who, when, before and after."""

from __future__ import annotations

from typing import Any

TIMEOUT = 10.0


async def insert_audit(db: Any, actor_id: int | None, action: str, target: str,
                       before: dict[str, Any] | None, after: dict[str, Any] | None) -> None:
    """One audit row: who did what to which target, and the state before and after."""
    await db.execute(
        "INSERT INTO audit_log (actor_id, action, target, before, after) VALUES ($1, $2, $3, $4, $5)",
        actor_id, action, target, before, after, timeout=TIMEOUT,
    )
