"""Accounts: users, passwords, logins with lockout, and revocable server-side sessions.

Passwords are hashed with argon2 in a small thread pool, so a login never stalls the event loop
that serves the scanners. A login for an unknown, inactive or locked account does the same argon2
work as one with a wrong password, and all of them fail the same way.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.domain.rules import Actor, Role
from hub.settings import Settings
from hub.store import accounts as store
from hub.store import audit

logger = logging.getLogger("tracetrack.accounts")

USERNAME = re.compile(r"^[a-z0-9_.-]{2,40}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
REFRESH_SECONDS = 60
"""A session's `last_seen_at` is written at most this often: idle expiry needs minutes, not seconds."""

hasher = PasswordHasher()
# argon2 takes tens of milliseconds of CPU and 64 MiB each; a pool the size of the machine bounds both.
_hash_pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="argon2")


class AccountError(Exception):
    """A request about an account that cannot be done; `code` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- passwords --------------------------------------------------------------------------------


async def hash_password(password: str) -> str:
    return await asyncio.get_running_loop().run_in_executor(_hash_pool, hasher.hash, password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the real parameters, to verify against for unknown users."""
    return hasher.hash(secrets.token_urlsafe(16))


def _verify_for_nobody(password: str) -> bool:
    return _verify(_dummy_hash(), password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password off the event loop; with no hash (no such user), do the same work and fail."""
    loop = asyncio.get_running_loop()
    if password_hash is None:
        await loop.run_in_executor(_hash_pool, _verify_for_nobody, password)
        return False
    return await loop.run_in_executor(_hash_pool, _verify, password_hash, password)


# --- users ------------------------------------------------------------------------------------


def _username(raw: str) -> str:
    username = raw.strip().lower()
    if not USERNAME.match(username):
        raise AccountError("INVALID_USERNAME",
                           "A username is 2 to 40 characters: letters, digits, '.', '_' or '-'.")
    return username


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise AccountError("INVALID_ROLE", f"Unknown role {raw!r}: use admin, biller or dispatcher.") from None


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AccountError("WEAK_PASSWORD",
                           f"A password is {MIN_PASSWORD} to {MAX_PASSWORD} characters long.")


def user_view(user_id: int, username: str, role: str, area: str | None) -> dict[str, Any]:
    """An account as shown to people and written to the audit log: never the password hash."""
    return {"id": user_id, "username": username, "role": str(role), "area": area}


async def get_user(pool: asyncpg.Pool, user_id: int) -> dict[str, Any] | None:
    row = await store.find_user(pool, user_id)
    return None if row is None else user_view(row["id"], row["username"], row["role"], row["area"])


async def list_users(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [{**user_view(r["id"], r["username"], r["role"], r["area"]), "active": r["active"],
             "locked": r["locked"], "sessions": r["sessions"]} for r in await store.list_users(pool)]


async def create_user(pool: asyncpg.Pool, *, username: str, password: str, role: str, area: str | None,
                      actor_id: int | None = None) -> int:
    """Create an account and audit it; dispatchers and billers need a dispatch area."""
    _check_password(password)
    return await _create(pool, username=_username(username), password=password, role=_role(role),
                         area=area or None, actor_id=actor_id)


async def _create(pool: asyncpg.Pool, *, username: str, password: str, role: Role, area: str | None,
                  actor_id: int | None) -> int:
    if role is not Role.ADMIN and area is None:
        raise AccountError("AREA_REQUIRED", f"A {role} needs a dispatch area.")
    password_hash = await hash_password(password)
    async with pool.acquire() as conn, conn.transaction():
        try:
            user_id = await store.insert_user(conn, username, password_hash, role, area)
        except asyncpg.ForeignKeyViolationError:
            raise AccountError("UNKNOWN_AREA", f"There is no dispatch area {area!r}.") from None
        if user_id is None:
            raise AccountError("USERNAME_TAKEN", f"A user named {username!r} already exists.")
        await audit.insert_audit(conn, actor_id, "user.create", f"user:{user_id}", None,
                                 user_view(user_id, username, role, area))
    return user_id


async def ensure_first_admin(pool: asyncpg.Pool, settings: Settings) -> str | None:
    """Create the first admin when there is no admin; return its password only if it was generated.

    ADMIN_PASSWORD is taken as it is: the operator chose it, and production refuses well-known
    ones at start-up. Several hub processes may start at once: the username's uniqueness lets
    exactly one create it.
    """
    if await store.admin_exists(pool):
        return None
    generated = secrets.token_urlsafe(12)
    try:
        await _create(pool, username=_username(settings.admin_username),
                      password=settings.admin_password or generated,
                      role=Role.ADMIN, area=None, actor_id=None)
    except AccountError as exc:
        if exc.code != "USERNAME_TAKEN":
            raise
        logger.warning("no active admin account, and the name %r is taken: create one with "
                       "`tracetrack createuser --role admin`", settings.admin_username)
        return None
    logger.info("created the first admin account %r", settings.admin_username)
    return None if settings.admin_password else generated


# --- logins -----------------------------------------------------------------------------------


async def authenticate(pool: asyncpg.Pool, settings: Settings, username: str, password: str) -> Actor | None:
    """The user, if the password is right and the account active and not locked; else None.

    Every failing case costs one argon2 verification, so none can be told apart by time.
    """
    row = await store.find_login(pool, username.strip().lower())
    if row is None:
        await verify_password(None, password)
        return None
    if not await verify_password(row["password_hash"], password):
        if await store.record_failure(pool, row["id"], settings.login_max_failures,
                                      settings.login_lockout_minutes):
            await audit.insert_audit(pool, None, "user.locked", f"user:{row['id']}", None,
                                     {"locked_minutes": settings.login_lockout_minutes})
            logger.warning("account %r locked after %d failed logins", row["username"],
                           settings.login_max_failures)
        return None
    if not await store.record_success(pool, row["id"]):  # inactive or locked
        return None
    if hasher.check_needs_rehash(row["password_hash"]):
        await store.set_password_hash(pool, row["id"], await hash_password(password))
    return Actor(user_id=row["id"], username=row["username"], role=Role(row["role"]), area=row["area"])


# --- sessions ---------------------------------------------------------------------------------


def token_hash(secret: bytes, token: str) -> bytes:
    """What the sessions table keeps: a leaked table gives no usable cookie."""
    return hmac.new(secret, token.encode(), hashlib.sha256).digest()


def _plausible(token: str) -> bool:
    return 0 < len(token) <= 100


async def open_session(pool: asyncpg.Pool, secret: bytes, user_id: int, user_agent: str) -> str:
    """A new session for the user; the token goes into the cookie and nowhere else."""
    token = secrets.token_urlsafe(32)
    await store.insert_session(pool, token_hash(secret, token), user_id, user_agent[:300])
    return token


async def resolve_session(pool: asyncpg.Pool, secret: bytes, token: str, idle_minutes: int) -> Actor | None:
    """The session's user, if it is not revoked, not idle too long and the user is active.

    Resolving counts as activity: it keeps the session alive.
    """
    if not _plausible(token):
        return None
    row = await store.live_session_user(pool, token_hash(secret, token), idle_minutes, REFRESH_SECONDS)
    if row is None:
        return None
    return Actor(user_id=row["id"], username=row["username"], role=Role(row["role"]), area=row["area"])


async def session_left(pool: asyncpg.Pool, secret: bytes, token: str, idle_minutes: int,
                       touch: bool) -> float | None:
    """Seconds an open websocket's session has left before it expires; None when it has ended.

    For a socket whose session was checked when it connected: a scanner that is scanning passes
    `touch` to keep the session alive (written at most once a minute); an expired or revoked
    session is never revived.
    """
    if not _plausible(token):
        return None
    return await store.session_left(pool, token_hash(secret, token), idle_minutes, REFRESH_SECONDS, touch)


async def revoke_session(pool: asyncpg.Pool, secret: bytes, token: str) -> bool:
    """End one session (logout); False if it was not live."""
    return _plausible(token) and await store.revoke_session(pool, token_hash(secret, token))


async def revoke_user_sessions(pool: asyncpg.Pool, user_id: int, *, actor_id: int | None = None) -> int:
    """End every session of a user, audited; how many were live."""
    async with pool.acquire() as conn, conn.transaction():
        if await store.find_user(conn, user_id) is None:
            raise AccountError("UNKNOWN_USER", f"There is no user {user_id}.")
        count = await store.revoke_user_sessions(conn, user_id)
        await audit.insert_audit(conn, actor_id, "user.revoke_sessions", f"user:{user_id}",
                                 {"live_sessions": count}, {"live_sessions": 0})
    return count
