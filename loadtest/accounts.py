"""Operator accounts for a run, and their logins.

With a database URL the run creates its own dispatchers, spread over a few dispatch areas. Their
password is hashed once with the hub's own argon2 parameters (the login endpoint verifies the hash,
so it must be real, and a hash with other parameters would be rehashed at every first login); the
accounts are inserted and audited as `tracetrack createuser` would, in one transaction.
Every account then logs in once per hub, as a handheld does: a login costs the hub one argon2
verification (about half a second of CPU), which is why scanners share accounts.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass

import asyncpg
import httpx

from hub.accounts import hash_password, user_view

AREAS = 4
"""Dispatch areas the created accounts are spread over (the first by name)."""
LOGIN_CONCURRENCY = 4
LOGIN_TIMEOUT = 60.0
COOKIE = "tt_session"


class AccountError(Exception):
    """Accounts could not be created, or a hub refused or failed a login; the message says which."""


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    area: str | None = None


async def create_accounts(pool: asyncpg.Pool, run_id: str, count: int) -> list[Account]:
    """`count` new dispatchers named `lt-<run>-<n>`, the areas taken in turn, created and audited in
    one transaction (two statements, whatever the count)."""
    areas = [row["name"] for row in await pool.fetch("SELECT name FROM areas ORDER BY name LIMIT $1", AREAS)]
    if not areas:
        raise AccountError("the database has no dispatch areas: is it a migrated TraceTrack database?")
    password = secrets.token_urlsafe(18)
    password_hash = await hash_password(password)
    accounts = [Account(f"lt-{run_id}-{n:04d}", password, areas[n % len(areas)]) for n in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            """INSERT INTO users (username, password_hash, role, area)
               SELECT username, $2, 'dispatcher', area
                 FROM unnest($1::text[], $3::text[]) AS u(username, area)
               RETURNING id, username, role, area""",
            [a.username for a in accounts], password_hash, [a.area for a in accounts],
        )
        await conn.execute(
            """INSERT INTO audit_log (action, target, after)
               SELECT 'user.create', target, after::jsonb
                 FROM unnest($1::text[], $2::text[]) AS a(target, after)""",
            [f"user:{row['id']}" for row in rows],
            [json.dumps(user_view(row["id"], row["username"], row["role"], row["area"])) for row in rows],
        )
    return accounts


async def login_all(hubs: list[str], accounts: list[Account]) -> dict[tuple[str, str], str]:
    """A session token per (hub, username), a few logins at a time."""
    limit = asyncio.Semaphore(LOGIN_CONCURRENCY)

    async def one(hub: str, account: Account) -> tuple[tuple[str, str], str]:
        # A client of its own: a cookie jar shared by concurrent logins would send one login's
        # cookie with another (cookies ignore the port), and the hub revokes the session of a
        # cookie presented at login.
        async with limit, httpx.AsyncClient(timeout=LOGIN_TIMEOUT) as client:
            return (hub, account.username), await login(client, hub, account)

    pairs = await asyncio.gather(*(one(hub, account) for hub in hubs for account in accounts))
    return dict(pairs)


async def login(client: httpx.AsyncClient, hub: str, account: Account) -> str:
    """POST /api/login; the session token of the `tt_session` cookie it sets."""
    try:
        response = await client.post(f"{hub}/api/login",
                                     json={"username": account.username, "password": account.password})
    except httpx.HTTPError as exc:
        raise AccountError(f"login of {account.username!r} at {hub} failed: {exc!r}") from None
    token = response.cookies.get(COOKIE)
    if response.status_code != 200 or not token:
        raise AccountError(f"login of {account.username!r} at {hub} answered {response.status_code}: "
                          f"{response.text[:200]}")
    return token
