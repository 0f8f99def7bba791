"""Authentication at the HTTP edge: the session cookie, login and logout, role checks, user admin.

The cookie carries a random token; the session behind it lives in PostgreSQL (see `hub.accounts`),
so any hub process can check it and an admin can revoke it at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import accounts
from hub.codes import ApiCode
from hub.connections import Revocation
from hub.domain.rules import Actor, Role
from hub.errors import api_error
from hub.params import json_object, path_id
from hub.ratelimit import client_address
from hub.settings import Settings, SettingsError
from hub.store import audit

logger = logging.getLogger("tracetrack.auth")

COOKIE_NAME = "tt_session"
COOKIE_MAX_AGE = 7 * 24 * 3600
"""The cookie outlives a browser restart (a handheld rebooted mid-shift keeps scanning); the session
itself still ends after SESSION_IDLE_MINUTES without activity, or when revoked."""
SECRET_FILE = "session_secret"
HOME = {Role.DISPATCHER: "/scanner.html", Role.BILLER: "/bills.html", Role.ADMIN: "/admin.html"}

Handler = Callable[[Request, Actor], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def secret_bytes(settings: Settings) -> bytes:
    """The key of the session token hashes: SESSION_SECRET, or in development one kept in the data dir.

    The generated secret is written once, readable by the owner only, and shared by every process
    that uses the same data directory.
    """
    if settings.session_secret:
        return settings.session_secret.encode()
    if settings.production:
        raise SettingsError("SESSION_SECRET must be set when TRACETRACK_ENV=production")
    path = settings.data_dir / SECRET_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{SECRET_FILE}.{secrets.token_hex(4)}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_hex(32))
        try:
            with contextlib.suppress(FileExistsError):  # another process wrote it first: use theirs
                os.link(draft, path)  # atomic: nobody ever reads a half-written secret
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


async def ensure_first_admin(pool: asyncpg.Pool, settings: Settings) -> str | None:
    """`accounts.ensure_first_admin`, logging a generated password so a bare app start shows it too."""
    password = await accounts.ensure_first_admin(pool, settings)
    if password is not None:
        logger.warning("created the first admin account %r with the generated password %r; "
                       "it is shown only this once", settings.admin_username, password)
    return password


async def current_user(conn: HTTPConnection) -> Actor | None:
    """The user of the request's or websocket's session cookie, or None. Counts as activity."""
    token = conn.cookies.get(COOKIE_NAME)
    if not token:
        return None
    hub = conn.app.state.hub
    return await accounts.resolve_session(hub.pool, hub.session_secret, token,
                                          hub.settings.session_idle_minutes)


def requires(*roles: Role) -> Callable[[Handler], Endpoint]:
    """Make `handler(request, actor)` an endpoint for logged-in users with one of `roles` (any if none).

    No live session: 401 UNAUTHENTICATED. Another role: 403 FORBIDDEN.
    """
    def decorate(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            actor = await current_user(request)
            if actor is None:
                return api_error(ApiCode.UNAUTHENTICATED)
            if roles and actor.role not in roles:
                return api_error(ApiCode.FORBIDDEN)
            return await handler(request, actor)
        return endpoint
    return decorate


def user_json(actor: Actor) -> dict[str, Any]:
    return accounts.user_view(actor.user_id, actor.username, actor.role, actor.area)


def _bad_json(expected: str) -> JSONResponse:
    return api_error(ApiCode.BAD_REQUEST, f"Send a JSON object with {expected}.")


def _strings(body: dict[str, Any], *names: str) -> bool:
    return all(isinstance(body.get(name), str) for name in names)


def rate_limited(retry_after: int) -> JSONResponse:
    return api_error(ApiCode.RATE_LIMITED, f"Too many attempts; try again in {retry_after} seconds.",
                     {"Retry-After": str(retry_after)})


async def login(request: Request) -> Response:
    """Check the password, open a session and set its cookie; one answer for every wrong password.

    Too many failed attempts (see `hub.loginguard`) are answered 429 before any password is checked.
    """
    body = await json_object(request)
    if not _strings(body, "username", "password"):
        return _bad_json('"username" and "password" strings')
    hub = request.app.state.hub
    username, address = body["username"].strip().lower(), client_address(request.scope)
    wait = await hub.login_guard.admit(username, address)
    if wait is not None:
        return rate_limited(wait)
    try:
        actor = await accounts.authenticate(hub.pool, username, body["password"], address)
    except BaseException:
        await hub.login_guard.not_checked(username, address)
        raise
    if actor is None:
        return api_error(ApiCode.INVALID_LOGIN)
    await hub.login_guard.succeeded(username, address)
    old_token = request.cookies.get(COOKIE_NAME)
    if old_token:
        await accounts.revoke_session(hub.pool, hub.session_secret, old_token)
    token = await accounts.open_session(hub.pool, hub.session_secret, actor.user_id,
                                        request.headers.get("user-agent", ""))
    response = JSONResponse({"user": user_json(actor), "home": HOME[actor.role]})
    response.set_cookie(COOKIE_NAME, token, max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax",
                        secure=hub.settings.secure_cookies, path="/")
    return response


async def logout(request: Request) -> Response:
    """Revoke this session and clear the cookie; harmless without one."""
    token = request.cookies.get(COOKIE_NAME)
    if token:
        hub = request.app.state.hub
        await accounts.revoke_session(hub.pool, hub.session_secret, token)
        hub.connections.revoke(Revocation(token_hash=accounts.token_hash(hub.session_secret, token)))
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax",
                           secure=request.app.state.hub.settings.secure_cookies)
    return response


@requires()
async def me(request: Request, actor: Actor) -> Response:
    return JSONResponse({"user": user_json(actor), "home": HOME[actor.role]})


@requires(Role.ADMIN)
async def create_user(request: Request, actor: Actor) -> Response:
    """Admin: create an account (audited with the admin as actor)."""
    body = await json_object(request)
    if not _strings(body, "username", "password", "role") or not (
            body.get("area") is None or isinstance(body["area"], str)):
        return _bad_json('"username", "password" and "role" strings and an "area" string or null')
    try:
        user_id = await accounts.create_user(request.app.state.hub.pool, username=body["username"],
                                             password=body["password"], role=body["role"],
                                             area=body.get("area"), actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return api_error(exc.code, exc.message)
    return JSONResponse({"user": await accounts.get_user(request.app.state.hub.pool, user_id)}, status_code=201)


@requires(Role.ADMIN)
async def list_users(request: Request, actor: Actor) -> Response:
    """Admin: every account, for the admin page; `locked` while its account-wide login limit holds."""
    hub = request.app.state.hub
    users = await accounts.list_users(hub.pool)
    locked = await asyncio.gather(*(hub.login_guard.locked(user["username"]) for user in users))
    return JSONResponse({"users": [{**user, "locked": lock} for user, lock in zip(users, locked)]})


@requires(Role.ADMIN)
async def revoke_user_sessions(request: Request, actor: Actor) -> Response:
    """Admin: log a user out everywhere (audited)."""
    user_id = path_id(request, "user_id")
    try:
        count = await accounts.revoke_user_sessions(request.app.state.hub.pool, user_id, actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return api_error(exc.code, exc.message)
    request.app.state.hub.connections.revoke(Revocation(user_id=user_id))
    return JSONResponse({"revoked": count})


@requires(Role.ADMIN)
async def unlock_user(request: Request, actor: Actor) -> Response:
    """Admin: lift every login limit on a user's account, whoever caused it (audited)."""
    hub = request.app.state.hub
    user_id = path_id(request, "user_id")
    user = await accounts.get_user(hub.pool, user_id)
    if user is None:
        return api_error(ApiCode.UNKNOWN_USER, f"There is no user {user_id}.")
    failures = await hub.login_guard.failures(user["username"])
    await hub.login_guard.unlock(user["username"])
    await audit.insert_audit(hub.pool, actor.user_id, "user.unlock", f"user:{user_id}",
                             {"counted_attempts": failures}, {"counted_attempts": 0})
    return JSONResponse({"unlocked": user_id})


routes = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users/{user_id}/revoke-sessions", revoke_user_sessions, methods=["POST"]),
    Route("/api/users/{user_id}/unlock", unlock_user, methods=["POST"]),
]
