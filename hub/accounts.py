"""Accounts: users, passwords, logins, and revocable server-side sessions.

Passwords are checked by `hub.passwords`, off the event loop in a bounded pool. A login for an
unknown or inactive account does the same argon2 work as one with a wrong password, and all of them
fail the same way. How often anyone may guess is `hub.loginguard`'s business, not the account's:
no number of wrong passwords locks an account.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Collection
from typing import Any

import asyncpg

from hub import passwords
from hub.codes import ApiCode
from hub.domain.accountrules import Account, AccountChange, change_problem, ends_sessions
from hub.domain.credentials import password_problem
from hub.domain.rules import Actor, Role
from hub.passwords import needs_rehash, verify_password
from hub.settings import Settings
from hub.store import accounts as store
from hub.store import audit

logger = logging.getLogger("tracetrack.accounts")

USERNAME = re.compile(r"^[a-z0-9_.-]{2,40}$")
hash_password = passwords.hash_password
"""For whoever stores accounts in bulk (the seeder, the load generator): the hub's own argon2 hash."""
REFRESH_SECONDS = 60
"""A session's `last_seen_at` is written at most this often: idle expiry needs minutes, not seconds."""


class AccountError(Exception):
    """A request about an account that cannot be done; `code` is stable, the message is for people."""

    def __init__(self, code: ApiCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- users ------------------------------------------------------------------------------------


def _username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME.match(username):
        raise AccountError(ApiCode.INVALID_USERNAME,
                           "A username is 2 to 40 characters: letters, digits, '.', '_' or '-'.")
    return username


def parse_role(raw: str) -> Role:
    """A role by name, or AccountError INVALID_ROLE."""
    try:
        return Role(raw)
    except ValueError:
        raise AccountError(ApiCode.INVALID_ROLE, f"Unknown role {raw!r}: use admin, biller or dispatcher.") from None


def _check_password(password: str, username: str) -> None:
    problem = password_problem(password, username)
    if problem is not None:
        raise AccountError(ApiCode.WEAK_PASSWORD, problem)


def user_view(user_id: int, username: str, role: str, area: str | None) -> dict[str, Any]:
    """An account as shown to people and written to the audit log: never the password hash."""
    return {"id": user_id, "username": username, "role": str(role), "area": area}


async def get_user(pool: asyncpg.Pool, user_id: int) -> dict[str, Any] | None:
    row = await store.find_user(pool, user_id)
    return None if row is None else user_view(row["id"], row["username"], row["role"], row["area"])


async def list_users(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [{**user_view(r["id"], r["username"], r["role"], r["area"]), "active": r["active"],
             "sessions": r["sessions"]} for r in await store.list_users(pool)]


async def create_user(pool: asyncpg.Pool, *, username: str, password: str, role: str, area: str | None,
                      actor_id: int | None = None) -> int:
    """Create an account and audit it; dispatchers and billers need a dispatch area."""
    name = _username(username)
    _check_password(password, name)
    return await _create(pool, username=name, password=password, role=parse_role(role),
                         area=area or None, actor_id=actor_id)


async def _create(pool: asyncpg.Pool, *, username: str, password: str, role: Role, area: str | None,
                  actor_id: int | None) -> int:
    if role is not Role.ADMIN and area is None:
        raise AccountError(ApiCode.AREA_REQUIRED, f"A {role} needs a dispatch area.")
    password_hash = await hash_password(password)
    async with pool.acquire() as conn, conn.transaction():
        try:
            user_id = await store.insert_user(conn, username, password_hash, role, area)
        except asyncpg.ForeignKeyViolationError:
            raise AccountError(ApiCode.UNKNOWN_AREA, f"There is no dispatch area {area!r}.") from None
        if user_id is None:
            raise AccountError(ApiCode.USERNAME_TAKEN, f"A user named {username!r} already exists.")
        await audit.insert_audit(conn, actor_id, "user.create", f"user:{user_id}", None,
                                 user_view(user_id, username, role, area))
    return user_id


def _account(row: asyncpg.Record) -> Account:
    return Account(id=row["id"], username=row["username"], role=Role(row["role"]), area=row["area"],
                   active=row["active"])


def account_view(account: Account) -> dict[str, Any]:
    """`user_view` with whether the account is active."""
    return {**user_view(account.id, account.username, account.role, account.area), "active": account.active}


async def change_user(pool: asyncpg.Pool, user_id: int, change: AccountChange, *, actor_id: int) -> tuple[Account, int]:
    """Change a user's role, area or active state (audited); the account after, and how many of its
    sessions ended (see `ends_sessions`; the caller closes its websockets).

    The active admins are locked before the user, in one transaction, so that of two admins demoted
    at the same moment the second sees the first's demotion and is refused `LAST_ADMIN`.
    """
    async with pool.acquire() as conn, conn.transaction():
        admins = await store.lock_active_admins(conn)
        row = await store.lock_user(conn, user_id)
        if row is None:
            raise AccountError(ApiCode.UNKNOWN_USER, f"There is no user {user_id}.")
        before = _account(row)
        after = change.applied(before)
        problem = change_problem(actor_id, before, after, len(admins))
        if problem is not None:
            raise AccountError(*problem)
        if after == before:
            return after, 0
        try:
            await store.update_user(conn, user_id, after.role, after.area, after.active)
        except asyncpg.ForeignKeyViolationError:
            raise AccountError(ApiCode.UNKNOWN_AREA, f"There is no dispatch area {after.area!r}.") from None
        ended = await store.revoke_user_sessions(conn, user_id) if ends_sessions(before, after) else 0
        await audit.insert_audit(conn, actor_id, "user.change", f"user:{user_id}", account_view(before),
                                 {**account_view(after), "sessions_ended": ended})
    return after, ended


async def reset_password(pool: asyncpg.Pool, user_id: int, password: str, *, actor_id: int) -> int:
    """Set a user's password (the same rule as for a new account), ending every session of theirs
    (audited, without the password); how many were live."""
    row = await store.find_user(pool, user_id)
    if row is None:
        raise AccountError(ApiCode.UNKNOWN_USER, f"There is no user {user_id}.")
    _check_password(password, row["username"])
    password_hash = await hash_password(password)
    async with pool.acquire() as conn, conn.transaction():  # users are never deleted: it still exists
        await store.set_password_hash(conn, user_id, password_hash)
        ended = await store.revoke_user_sessions(conn, user_id)
        await audit.insert_audit(conn, actor_id, "user.reset_password", f"user:{user_id}",
                                 {"live_sessions": ended}, {"password": "reset", "live_sessions": 0})
    return ended


async def ensure_first_admin(pool: asyncpg.Pool, settings: Settings) -> str | None:
    """Create the first admin when there is no admin; return its password only if it was generated.

    ADMIN_PASSWORD obeys the same rule as any password set through the API (AccountError
    WEAK_PASSWORD otherwise). Several hub processes may start at once: the username's uniqueness
    lets exactly one create it.
    """
    if await store.admin_exists(pool):
        return None
    username = _username(settings.admin_username)
    if settings.admin_password is not None:
        _check_password(settings.admin_password, username)
    generated = secrets.token_urlsafe(12)
    try:
        await _create(pool, username=username, password=settings.admin_password or generated,
                      role=Role.ADMIN, area=None, actor_id=None)
    except AccountError as exc:
        if exc.code is not ApiCode.USERNAME_TAKEN:
            raise
        logger.warning("no active admin account, and the name %r is taken: create one with "
                       "`tracetrack createuser --role admin`", settings.admin_username)
        return None
    logger.info("created the first admin account %r", settings.admin_username)
    return None if settings.admin_password else generated


# --- logins -----------------------------------------------------------------------------------


async def authenticate(pool: asyncpg.Pool, username: str, password: str,
                       client: str | None = None) -> Actor | None:
    """The user, if the account is active and the password right; else None.

    Every failing case costs one argon2 verification, so none can be told apart by time. Raises
    `hub.passwords.Busy` (nothing checked) when too many checks are waiting, for `client` or for all.
    """
    row = await store.find_login(pool, username.strip().lower())
    if row is None:
        await verify_password(None, password, client)
        return None
    if not await verify_password(row["password_hash"], password, client):
        return None
    if needs_rehash(row["password_hash"]):
        await store.set_password_hash(pool, row["id"], await hash_password(password))
    return Actor(user_id=row["id"], username=row["username"], role=Role(row["role"]), area=row["area"])


# --- sessions ---------------------------------------------------------------------------------


def token_hash(secret: bytes, token: str) -> bytes:
    """What the sessions table keeps: a leaked table gives no usable cookie."""
    return hmac.new(secret, token.encode(), hashlib.sha256).digest()


def plausible(token: str) -> bool:
    """Whether `token` could be a session token at all (one far too long is not looked up)."""
    return 0 < len(token) <= 100


async def open_session(pool: asyncpg.Pool, secret: bytes, user_id: int, user_agent: str) -> str:
    """A new session for the user; the token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    await store.insert_session(pool, token_hash(secret, token), user_id, user_agent[:300])
    return token


async def resolve_sessions(pool: asyncpg.Pool, token_hashes: list[bytes], idle_minutes: int) -> dict[bytes, Actor]:
    """The user of each session among `token_hashes` that is not revoked, not idle too long and whose
    user is active, by token hash; one statement for them all.

    Resolving counts as activity: it keeps the sessions alive.
    """
    rows = await store.live_sessions(pool, token_hashes, token_hashes, idle_minutes, REFRESH_SECONDS)
    return {bytes(row["token_hash"]): Actor(user_id=row["id"], username=row["username"], role=Role(row["role"]),
                                            area=row["area"]) for row in rows}


async def sessions_left(pool: asyncpg.Pool, token_hashes: Collection[bytes], touching: Collection[bytes],
                        idle_minutes: int) -> dict[bytes, float]:
    """Seconds each live session among `token_hashes` has left before it expires; an ended one
    (revoked, expired, its user deactivated, or unknown) is missing. One statement for them all.

    For open websockets, whose sessions were checked when they connected: those in `touching` are
    in use (a scanner scanning, a dashboard open) and are kept alive (written at most once a minute);
    an expired or revoked session is never revived.
    """
    rows = await store.live_sessions(pool, list(token_hashes), list(touching), idle_minutes, REFRESH_SECONDS)
    return {bytes(row["token_hash"]): row["seconds_left"] for row in rows}


async def revoke_session(pool: asyncpg.Pool, secret: bytes, token: str) -> bool:
    """End one session (logout); False if it was not live."""
    return plausible(token) and await store.revoke_session(pool, token_hash(secret, token))


async def revoke_user_sessions(pool: asyncpg.Pool, user_id: int, *, actor_id: int | None = None) -> int:
    """End every session of a user, audited; how many were live."""
    async with pool.acquire() as conn, conn.transaction():
        if await store.find_user(conn, user_id) is None:
            raise AccountError(ApiCode.UNKNOWN_USER, f"There is no user {user_id}.")
        count = await store.revoke_user_sessions(conn, user_id)
        await audit.insert_audit(conn, actor_id, "user.revoke_sessions", f"user:{user_id}",
                                 {"live_sessions": count}, {"live_sessions": 0})
    return count
