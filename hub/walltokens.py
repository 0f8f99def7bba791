"""Wall-screen tokens: what a presented token opens (the dashboard websocket asks).

Admins issue and revoke them through `hub.api.walltokens`.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from hub.accounts import token_hash
from hub.store import walltokens as store


def view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "label": row["label"], "area": row["area"]}


async def resolve(pool: Any, secret: bytes, token: str) -> dict[str, Any] | None:
    """The live token for a presented token string, or None."""
    if not 0 < len(token) <= 100:
        return None
    rows = await store.live_by_hashes(pool, [token_hash(secret, token)])
    return view(rows[0]) if rows else None


async def live(pool: Any, token_hashes: Collection[bytes]) -> set[bytes]:
    """Which of the tokens (by hash) are still live: one statement for them all (the re-checks of
    open wall screens)."""
    return {bytes(row["token_hash"]) for row in await store.live_by_hashes(pool, list(token_hashes))}
