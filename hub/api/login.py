"""Logging in and out: the session cookie is set here and cleared here; `me` says who it belongs to.

The cookie carries a random token; the session behind it lives in PostgreSQL (see `hub.accounts`),
so any hub process can check it and an admin can revoke it at once.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import accounts
from hub.api.access import requires
from hub.api.errors import api_error
from hub.api.params import bad_json, json_object, strings
from hub.auth import COOKIE_MAX_AGE, COOKIE_NAME
from hub.codes import ApiCode
from hub.connections import Revocation
from hub.domain.rules import Actor, Role
from hub.ratelimit import client_address

HOME = {Role.DISPATCHER: "/scanner.html", Role.BILLER: "/bills.html", Role.ADMIN: "/admin.html"}


def user_json(actor: Actor) -> dict[str, Any]:
    return accounts.user_view(actor.user_id, actor.username, actor.role, actor.area)


def rate_limited(retry_after: int) -> JSONResponse:
    return api_error(ApiCode.RATE_LIMITED, f"Too many attempts; try again in {retry_after} seconds.",
                     {"Retry-After": str(retry_after)})


async def _end_session(hub: Any, token: str) -> None:
    """Revoke the session and close its open websockets, on this hub now and on the others via the broker."""
    await accounts.revoke_session(hub.pool, hub.session_secret, token)
    hub.connections.revoke(Revocation(token_hash=accounts.token_hash(hub.session_secret, token)))


async def login(request: Request) -> Response:
    """Check the password, open a session and set its cookie; one answer for every wrong password.

    Too many failed attempts (see `hub.loginguard`) are answered 429 before any password is checked.
    ---
    summary: Log in
    tags: [session]
    security: []
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [username, password]
            properties: {username: {type: string}, password: {type: string}}
    responses:
      "200":
        description: Logged in; the tt_session cookie is set
        headers:
          Set-Cookie: {description: The session cookie, schema: {type: string}}
        content:
          application/json:
            schema:
              type: object
              properties:
                user:
                  type: object
                  properties:
                    id: {type: integer}
                    username: {type: string}
                    role: {type: string, enum: [admin, biller, dispatcher]}
                    area: {type: [string, "null"]}
                home: {type: string, description: The page for the user's role}
      "400": {$ref: "#/components/responses/Error", description: "BAD_REQUEST, INVALID_TEXT"}
      "401": {$ref: "#/components/responses/Error", description: "INVALID_LOGIN: wrong username or password"}
      "429": {$ref: "#/components/responses/Error", description: "RATE_LIMITED: too many attempts; see Retry-After"}
      "503": {$ref: "#/components/responses/Error", description: "BUSY: password checks are queued full"}
    """
    body = await json_object(request)
    if not strings(body, "username", "password"):
        return bad_json('"username" and "password" strings')
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
        await _end_session(hub, old_token)
    token = await accounts.open_session(hub.pool, hub.session_secret, actor.user_id,
                                        request.headers.get("user-agent", ""))
    response = JSONResponse({"user": user_json(actor), "home": HOME[actor.role]})
    response.set_cookie(COOKIE_NAME, token, max_age=COOKIE_MAX_AGE, httponly=True, samesite="lax",
                        secure=hub.settings.secure_cookies, path="/")
    return response


async def logout(request: Request) -> Response:
    """Revoke this session and clear the cookie; harmless without one.
    ---
    summary: Log out
    tags: [session]
    security: []
    responses:
      "200":
        description: The session and its open websockets have ended
        content: {application/json: {schema: {type: object, properties: {ok: {const: true}}}}}
    """
    token = request.cookies.get(COOKIE_NAME)
    if token:
        await _end_session(request.app.state.hub, token)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="lax",
                           secure=request.app.state.hub.settings.secure_cookies)
    return response


@requires()
async def me(request: Request, actor: Actor) -> Response:
    """Who the session belongs to.
    ---
    summary: The logged-in user
    tags: [session]
    responses:
      "200":
        description: The session's user and the page for their role
        content:
          application/json:
            schema:
              type: object
              properties:
                user:
                  type: object
                  properties:
                    id: {type: integer}
                    username: {type: string}
                    role: {type: string, enum: [admin, biller, dispatcher]}
                    area: {type: [string, "null"]}
                home: {type: string}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
    """
    return JSONResponse({"user": user_json(actor), "home": HOME[actor.role]})


routes = [
    Route("/api/login", login, methods=["POST"]),
    Route("/api/logout", logout, methods=["POST"]),
    Route("/api/me", me, methods=["GET"]),
]
