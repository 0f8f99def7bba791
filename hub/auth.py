"""Authentication at the HTTP edge: the session cookie, login and logout, role checks, user admin.

The cookie carries a random token; the session behind it lives in PostgreSQL (see `hub.accounts`),
so any hub process can check it and an admin can revoke it at once.
"""

from __future__ import annotations

import contextlib
import functools
import json
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
from hub.connections import Revocation
from hub.domain.rules import Actor, Role
from hub.settings import Settings, SettingsError

logger = logging.getLogger("tracetrack.auth")

COOKIE_NAME = "tt_session"
COOKIE_MAX_AGE = 7 * 24 * 3600
"""The cookie outlives a browser restart (a handheld rebooted mid-shift keeps scanning); the session
itself still ends after SESSION_IDLE_MINUTES without activity, or when revoked."""
SECRET_FILE = "session_secret"
HOME = {Role.DISPATCHER: "/scanner.html", Role.BILLER: "/bills.html", Role.ADMIN: "/admin.html"}
INVALID_LOGIN = "Wrong username or password."

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


def error(status: int, code: str, message: str) -> JSONResponse:
    """An error as every API endpoint answers it: a stable code and a sentence for people."""
    return JSONResponse({"error": code, "message": message}, status_code=status)


def requires(*roles: Role) -> Callable[[Handler], Endpoint]:
    """Make `handler(request, actor)` an endpoint for logged-in users with one of `roles` (any if none).

    No live session: 401 UNAUTHENTICATED. Another role: 403 FORBIDDEN.
    """
    def decorate(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            actor = await current_user(request)
            if actor is None:
                return error(401, "UNAUTHENTICATED", "You are not logged in, or your session has ended.")
            if roles and actor.role not in roles:
                return error(403, "FORBIDDEN", "Your role does not allow this.")
            return await handler(request, actor)
        return endpoint
    return decorate


def user_json(actor: Actor) -> dict[str, Any]:
    return accounts.user_view(actor.user_id, actor.username, actor.role, actor.area)


async def _json_object(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _bad_json(expected: str) -> JSONResponse:
    return error(400, "BAD_REQUEST", f"Send a JSON object with {expected}.")


def _strings(body: dict[str, Any], *names: str) -> bool:
    return all(isinstance(body.get(name), str) for name in names)


async def login(request: Request) -> Response:
    """Check the password, open a session and set its cookie; one answer for every failure."""
    body = await _json_object(request)
    if body is None or not _strings(body, "username", "password"):
        return _bad_json('"username" and "password" strings')
    hub = request.app.state.hub
    actor = await accounts.authenticate(hub.pool, hub.settings, body["username"], body["password"])
    if actor is None:
        return error(401, "INVALID_LOGIN", INVALID_LOGIN)
    old_token = request.cookies.get(COOKIE_NAME)
    if old_token:
        await accounts.revoke_session(hub.pool, hub.session_secret, old_token)
    token = await accounts.open_session(hub.pool, hub.session_secret, actor.user_id,
                                        request.headers.get("user-agent", ""))
    response = JSONResponse({"user": user_json(actor), "home": HOME[actor.role]})
    response.set_cookie(COOKIE_NAME, token, max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax",
                        secure=hub.settings.cookie_secure, path="/")
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
                           secure=request.app.state.hub.settings.cookie_secure)
    return response


@requires()
async def me(request: Request, actor: Actor) -> Response:
    return JSONResponse({"user": user_json(actor), "home": HOME[actor.role]})


@requires(Role.ADMIN)
async def create_user(request: Request, actor: Actor) -> Response:
    """Admin: create an account (audited with the admin as actor)."""
    body = await _json_object(request)
    if body is None or not _strings(body, "username", "password", "role") or not (
            body.get("area") is None or isinstance(body["area"], str)):
        return _bad_json('"username", "password" and "role" strings and an "area" string or null')
    try:
        user_id = await accounts.create_user(request.app.state.hub.pool, username=body["username"],
                                             password=body["password"], role=body["role"],
                                             area=body.get("area"), actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return error(409 if exc.code == "USERNAME_TAKEN" else 400, exc.code, exc.message)
    return JSONResponse({"user": await accounts.get_user(request.app.state.hub.pool, user_id)}, status_code=201)


@requires(Role.ADMIN)
async def list_users(request: Request, actor: Actor) -> Response:
    """Admin: every account, for the admin page."""
    return JSONResponse({"users": await accounts.list_users(request.app.state.hub.pool)})


@requires(Role.ADMIN)
async def revoke_user_sessions(request: Request, actor: Actor) -> Response:
    """Admin: log a user out everywhere (audited)."""
    try:
        count = await accounts.revoke_user_sessions(request.app.state.hub.pool, request.path_params["user_id"],
                                                    actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return error(404, exc.code, exc.message)
    request.app.state.hub.connections.revoke(Revocation(user_id=request.path_params["user_id"]))
    return JSONResponse({"revoked": count})


routes = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users/{user_id:int}/revoke-sessions", revoke_user_sessions, methods=["POST"]),
]
