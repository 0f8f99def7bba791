"""Wall-screen tokens: what a presented token opens (the dashboard websocket asks).

Admins issue and revoke them through `hub.api.walltokens`.
"""

from __future__ import annotations

from typing import Any

from hub.accounts import token_hash
from hub.store import walltokens as store


def view(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "label": row["label"], "area": row["area"]}


async def resolve(pool: Any, secret: bytes, token: str) -> dict[str, Any] | None:
    """The live token for a presented token string, or None."""
    if not 0 < len(token) <= 100:
        return None
    row = await store.live_by_hash(pool, token_hash(secret, token))
    return view(row) if row is not None else None
