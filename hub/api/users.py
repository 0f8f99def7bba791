"""User admin: create accounts, list them, change a role, area or active state, reset a password, log
a user out everywhere, lift a user's login limits.

Whatever ends a user's sessions (deactivation, a new role or area, a new password, "log out
everywhere") also closes that user's open websockets, on this hub now and on the others through the
broker (`hub.connections.Revocation`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hub import accounts
from hub.api.access import requires
from hub.api.errors import ApiError, api_error
from hub.api.params import bad_json, json_object, path_id, strings
from hub.codes import ApiCode
from hub.connections import Revocation
from hub.domain.accountrules import AccountChange
from hub.domain.rules import Actor, Role
from hub.store import audit


@requires(Role.ADMIN)
async def create_user(request: Request, actor: Actor) -> Response:
    """Admin: create an account (audited with the admin as actor).
    ---
    summary: Create a user
    tags: [users]
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            required: [username, password, role]
            properties:
              username: {type: string, pattern: "^[a-z0-9_.-]{2,40}$"}
              password: {type: string}
              role: {type: string, enum: [admin, biller, dispatcher]}
              area: {type: [string, "null"], description: Required for billers and dispatchers}
    responses:
      "201":
        description: Created
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
                    role: {type: string}
                    area: {type: [string, "null"]}
      "400":
        $ref: "#/components/responses/Error"
        description: "BAD_REQUEST, INVALID_TEXT, INVALID_USERNAME, INVALID_ROLE, WEAK_PASSWORD, AREA_REQUIRED,
          UNKNOWN_AREA"
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "409": {$ref: "#/components/responses/Error", description: USERNAME_TAKEN}
    """
    body = await json_object(request)
    if not strings(body, "username", "password", "role") or not (
            body.get("area") is None or isinstance(body["area"], str)):
        return bad_json('"username", "password" and "role" strings and an "area" string or null')
    try:
        user_id = await accounts.create_user(request.app.state.hub.pool, username=body["username"],
                                             password=body["password"], role=body["role"],
                                             area=body.get("area"), actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return api_error(exc.code, exc.message)
    return JSONResponse({"user": await accounts.get_user(request.app.state.hub.pool, user_id)}, status_code=201)


@requires(Role.ADMIN)
async def list_users(request: Request, actor: Actor) -> Response:
    """Admin: every account, for the admin page; `locked` while its account-wide login limit holds.
    ---
    summary: List users
    tags: [users]
    responses:
      "200":
        description: Every account, by username
        content:
          application/json:
            schema:
              type: object
              properties:
                users:
                  type: array
                  items:
                    type: object
                    properties:
                      id: {type: integer}
                      username: {type: string}
                      role: {type: string, enum: [admin, biller, dispatcher]}
                      area: {type: [string, "null"]}
                      active: {type: boolean}
                      sessions: {type: integer, description: Live sessions}
                      locked: {type: boolean, description: The account-wide login limit holds}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
    """
    hub = request.app.state.hub
    users = await accounts.list_users(hub.pool)
    locked = await asyncio.gather(*(hub.login_guard.locked(user["username"]) for user in users))
    return JSONResponse({"users": [{**user, "locked": lock} for user, lock in zip(users, locked)]})


CHANGES = frozenset({"role", "area", "active"})


def _change(body: dict[str, Any]) -> AccountChange:
    """The body of a PATCH as a change, or ApiError BAD_REQUEST / INVALID_ROLE."""
    if not body or not set(body) <= CHANGES or not (
            isinstance(body.get("role", ""), str) and isinstance(body.get("area", ""), str | None)
            and isinstance(body.get("active", True), bool)):
        raise ApiError(ApiCode.BAD_REQUEST, 'Send a JSON object with one or more of "role" (a string), '
                                            '"area" (a string or null) and "active" (true or false).')
    try:
        role = None if "role" not in body else accounts.parse_role(body["role"])
    except accounts.AccountError as exc:
        raise ApiError(exc.code, exc.message) from None
    return AccountChange(role=role, area=body.get("area") or None, set_area="area" in body,
                         active=body.get("active"))


@requires(Role.ADMIN)
async def change_user(request: Request, actor: Actor) -> Response:
    """Admin: change a user's role, dispatch area or active state (audited).
    ---
    summary: Change a user
    description: A new role or area, or a deactivation, ends the user's sessions and closes their open
      websockets on every hub (they log in again with the new rights). Refused for the last active
      admin and for one's own role or deactivation.
    tags: [users]
    parameters:
      - {name: user_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    requestBody:
      required: true
      content:
        application/json:
          schema:
            type: object
            minProperties: 1
            additionalProperties: false
            properties:
              role: {type: string, enum: [admin, biller, dispatcher]}
              area: {type: [string, "null"]}
              active: {type: boolean}
    responses:
      "200":
        description: The user after the change
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
                    active: {type: boolean}
                sessions_ended: {type: integer}
      "400":
        $ref: "#/components/responses/Error"
        description: "BAD_REQUEST, INVALID_TEXT, INVALID_ID, INVALID_ROLE, AREA_REQUIRED, UNKNOWN_AREA"
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN, OWN_ACCOUNT"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_USER}
      "409": {$ref: "#/components/responses/Error", description: "LAST_ADMIN: the last active admin stays one"}
    """
    hub = request.app.state.hub
    user_id = path_id(request, "user_id")
    change = _change(await json_object(request))
    try:
        after, ended = await accounts.change_user(hub.pool, user_id, change, actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return api_error(exc.code, exc.message)
    if ended or not after.active:
        hub.connections.revoke(Revocation(user_id=user_id))
    return JSONResponse({"user": accounts.account_view(after), "sessions_ended": ended})


@requires(Role.ADMIN)
async def reset_password(request: Request, actor: Actor) -> Response:
    """Admin: give a user a new password (audited); every session of theirs ends.
    ---
    summary: Reset a user's password
    description: The same rules as for a new account's password. Every session of the user ends and
      their open websockets close on every hub.
    tags: [users]
    parameters:
      - {name: user_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    requestBody:
      required: true
      content:
        application/json:
          schema: {type: object, required: [password], properties: {password: {type: string}}}
    responses:
      "200":
        description: The password is set
        content: {application/json: {schema: {type: object, properties: {sessions_ended: {type: integer}}}}}
      "400": {$ref: "#/components/responses/Error", description: "BAD_REQUEST, INVALID_TEXT, INVALID_ID, WEAK_PASSWORD"}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_USER}
      "503": {$ref: "#/components/responses/Error", description: "BUSY: password hashing is queued full"}
    """
    hub = request.app.state.hub
    user_id = path_id(request, "user_id")
    body = await json_object(request)
    if not strings(body, "password"):
        return bad_json('a "password" string')
    try:
        ended = await accounts.reset_password(hub.pool, user_id, body["password"], actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return api_error(exc.code, exc.message)
    hub.connections.revoke(Revocation(user_id=user_id))
    return JSONResponse({"sessions_ended": ended})


@requires(Role.ADMIN)
async def revoke_user_sessions(request: Request, actor: Actor) -> Response:
    """Admin: log a user out everywhere (audited).
    ---
    summary: Log a user out everywhere
    tags: [users]
    parameters:
      - {name: user_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      "200":
        description: Every session of the user, and its open websockets on every hub, have ended
        content: {application/json: {schema: {type: object, properties: {revoked: {type: integer}}}}}
      "400": {$ref: "#/components/responses/Error", description: INVALID_ID}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_USER}
    """
    user_id = path_id(request, "user_id")
    try:
        count = await accounts.revoke_user_sessions(request.app.state.hub.pool, user_id, actor_id=actor.user_id)
    except accounts.AccountError as exc:
        return api_error(exc.code, exc.message)
    request.app.state.hub.connections.revoke(Revocation(user_id=user_id))
    return JSONResponse({"revoked": count})


@requires(Role.ADMIN)
async def unlock_user(request: Request, actor: Actor) -> Response:
    """Admin: lift every login limit on a user's account, whoever caused it (audited).
    ---
    summary: Unlock a user's logins
    tags: [users]
    parameters:
      - {name: user_id, in: path, required: true, schema: {type: integer, minimum: 1}}
    responses:
      "200":
        description: The user's login limits are reset
        content: {application/json: {schema: {type: object, properties: {unlocked: {type: integer}}}}}
      "400": {$ref: "#/components/responses/Error", description: INVALID_ID}
      "401": {$ref: "#/components/responses/Error", description: UNAUTHENTICATED}
      "403": {$ref: "#/components/responses/Error", description: "FORBIDDEN: not an admin"}
      "404": {$ref: "#/components/responses/Error", description: UNKNOWN_USER}
    """
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
    Route("/api/users", create_user, methods=["POST"]),
    Route("/api/users", list_users, methods=["GET"]),
    Route("/api/users/{user_id}", change_user, methods=["PATCH"]),
    Route("/api/users/{user_id}/password", reset_password, methods=["POST"]),
    Route("/api/users/{user_id}/revoke-sessions", revoke_user_sessions, methods=["POST"]),
    Route("/api/users/{user_id}/unlock", unlock_user, methods=["POST"]),
]
