"""Users and sessions against the real PostgreSQL: login, lockout, idle expiry, revocation, roles."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from hub import accounts, auth
from hub.cli import main
from hub.domain.rules import Role
from hub.lookups import SharedLookups
from hub.settings import Settings, SettingsError
from tests.conftest import ADMIN_PASSWORD
from tests.sessions_support import resolve_session, session_left

PASSWORD = "scan-all-day-42"
SECRET = b"test-session-secret"


def login(client: TestClient, username: str, password: str) -> Any:
    """Log in without keeping the cookie in the client, so each test holds several users' tokens."""
    response = client.post("/api/login", json={"username": username, "password": password})
    client.cookies.clear()
    return response


def token_of(client: TestClient, username: str, password: str = PASSWORD) -> str:
    response = login(client, username, password)
    assert response.status_code == 200, response.text
    return response.cookies[auth.COOKIE_NAME]


def as_(token: str) -> dict[str, str]:
    return {"Cookie": f"{auth.COOKIE_NAME}={token}"}


@pytest.fixture
async def users(clean_db: asyncpg.Pool) -> dict[str, int]:
    """A dispatcher and a biller in lucknow, created through the same path as the CLI."""
    return {
        "dispatcher": await accounts.create_user(clean_db, username="Disp", password=PASSWORD,
                                                 role="dispatcher", area="lucknow"),
        "biller": await accounts.create_user(clean_db, username="bill", password=PASSWORD,
                                             role="biller", area="lucknow"),
    }


@pytest.fixture
async def admins_inactive(clean_db: asyncpg.Pool) -> AsyncIterator[asyncpg.Pool]:
    """No active admin, as on a first start; the usual admin comes back afterwards."""
    await clean_db.execute("UPDATE users SET active = false WHERE role = 'admin'")
    yield clean_db
    await clean_db.execute("DELETE FROM audit_log")
    await clean_db.execute("DELETE FROM users WHERE username <> 'admin'")
    await clean_db.execute("UPDATE users SET active = true WHERE username = 'admin'")


async def user_row(pool: asyncpg.Pool, username: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM users WHERE username = $1", username)
    assert row is not None
    return row


# --- login ------------------------------------------------------------------------------------


def test_login_sets_a_session_cookie_and_me_answers(client: TestClient) -> None:
    response = client.post("/api/login", json={"username": "Admin ", "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["user"]["username"] == "admin" and body["user"]["role"] == "admin"
    assert body["home"] == "/admin.html"
    set_cookie = response.headers["set-cookie"].lower()
    assert "httponly" in set_cookie and "samesite=lax" in set_cookie
    me = client.get("/api/me")
    assert me.status_code == 200
    assert me.json()["user"] == body["user"]


async def test_each_role_gets_its_home_page(client: TestClient, users: dict[str, int]) -> None:
    assert login(client, "disp", PASSWORD).json()["home"] == "/scanner.html"
    biller = login(client, "bill", PASSWORD).json()
    assert biller["home"] == "/bills.html"
    assert biller["user"] == {"id": users["biller"], "username": "bill", "role": "biller", "area": "lucknow"}


def test_me_without_a_session_is_401(client: TestClient) -> None:
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json()["error"] == "UNAUTHENTICATED"
    forged = client.get("/api/me", headers=as_("not-a-real-token"))
    assert forged.status_code == 401


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'{"username": "admin"}', b'{"username": 1, "password": "x"}'])
def test_malformed_login_is_400_with_a_message(client: TestClient, body: bytes) -> None:
    response = client.post("/api/login", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"] == "BAD_REQUEST"
    assert response.json()["message"]


async def test_wrong_password_and_unknown_user_answer_alike_after_equal_work(
        client: TestClient, users: dict[str, int], verify_calls: list[str], clean_db: asyncpg.Pool) -> None:
    wrong = login(client, "disp", "not-the-password")
    assert len(verify_calls) == 1
    unknown = login(client, "nobody", "not-the-password")
    assert len(verify_calls) == 2
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"error": "INVALID_LOGIN", "message": "Wrong username or password."}
    assert auth.COOKIE_NAME not in wrong.cookies and auth.COOKIE_NAME not in unknown.cookies
    # The unknown user was checked against a real argon2 hash with the same parameters.
    disp = await user_row(clean_db, "disp")
    assert verify_calls[1].startswith("$argon2id$")
    assert verify_calls[1].split("$")[2:4] == disp["password_hash"].split("$")[2:4]



async def test_an_outdated_hash_is_upgraded_at_login(client: TestClient, users: dict[str, int],
                                                     clean_db: asyncpg.Pool) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    await clean_db.execute("UPDATE users SET password_hash = $1 WHERE username = 'disp'", weak)
    token_of(client, "disp")
    upgraded = (await user_row(clean_db, "disp"))["password_hash"]
    assert upgraded != weak and not PasswordHasher().check_needs_rehash(upgraded)
    token_of(client, "disp")


async def test_an_inactive_user_cannot_log_in_and_loses_its_sessions(
        client: TestClient, users: dict[str, int], clean_db: asyncpg.Pool) -> None:
    token = token_of(client, "disp")
    await clean_db.execute("UPDATE users SET active = false WHERE username = 'disp'")
    assert client.get("/api/me", headers=as_(token)).status_code == 401
    assert login(client, "disp", PASSWORD).json()["error"] == "INVALID_LOGIN"


# --- sessions ---------------------------------------------------------------------------------


async def test_session_expires_after_the_idle_timeout(client: TestClient, settings: Settings,
                                                      users: dict[str, int], clean_db: asyncpg.Pool) -> None:
    token = token_of(client, "disp")
    idle = settings.session_idle_minutes
    await clean_db.execute("UPDATE sessions SET last_seen_at = now() - make_interval(mins => $1 - 1)", idle)
    assert client.get("/api/me", headers=as_(token)).status_code == 200
    # That request was activity: the session is fresh again.
    fresh = await clean_db.fetchval("SELECT now() - last_seen_at < interval '1 minute' FROM sessions")
    assert fresh
    await clean_db.execute("UPDATE sessions SET last_seen_at = now() - make_interval(mins => $1 + 1)", idle)
    assert client.get("/api/me", headers=as_(token)).status_code == 401


async def test_requests_write_last_seen_at_at_most_once_a_minute(
        clean_db: asyncpg.Pool, users: dict[str, int]) -> None:
    token = await accounts.open_session(clean_db, SECRET, users["dispatcher"], "test")
    seen = await clean_db.fetchval("SELECT last_seen_at FROM sessions")
    assert await resolve_session(clean_db, SECRET, token, 30) is not None
    assert await session_left(clean_db, SECRET, token, 30, touch=True) is not None
    assert await clean_db.fetchval("SELECT last_seen_at FROM sessions") == seen


async def test_scanning_keeps_a_session_alive(clean_db: asyncpg.Pool, users: dict[str, int]) -> None:
    """An operator who scans all shift is never logged out: each touch moves the idle clock."""
    idle = 30
    token = await accounts.open_session(clean_db, SECRET, users["dispatcher"], "scanner")
    for _ in range(3):  # three idle periods' worth of scanning, with no page request in between
        await clean_db.execute("UPDATE sessions SET last_seen_at = now() - make_interval(mins => $1 - 1)", idle)
        assert await session_left(clean_db, SECRET, token, idle, touch=True) is not None
        assert await clean_db.fetchval("SELECT now() - last_seen_at < interval '1 minute' FROM sessions")
    actor = await resolve_session(clean_db, SECRET, token, idle)
    assert actor is not None
    assert (actor.user_id, actor.username, actor.role, actor.area) == (
        users["dispatcher"], "disp", Role.DISPATCHER, "lucknow")


@pytest.mark.parametrize("kind", ["http", "websocket"])
async def test_current_user_reads_the_cookie_of_requests_and_websockets(
        clean_db: asyncpg.Pool, settings: Settings, users: dict[str, int], kind: str) -> None:
    app = Starlette()
    lookups = SharedLookups(lambda hashes: accounts.resolve_sessions(clean_db, hashes, settings.session_idle_minutes))
    app.state.hub = SimpleNamespace(pool=clean_db, settings=settings, session_secret=SECRET, session_lookups=lookups)
    token = await accounts.open_session(clean_db, SECRET, users["biller"], "test")

    def connection(cookie: str) -> HTTPConnection:
        scope = {"type": kind, "app": app, "path": "/", "headers": [(b"cookie", cookie.encode())]}
        return Request(scope) if kind == "http" else WebSocket(scope, receive=None, send=None)  # type: ignore[arg-type]

    actor = await auth.current_user(connection(f"{auth.COOKIE_NAME}={token}"))
    assert actor is not None and actor.user_id == users["biller"] and actor.role is Role.BILLER
    assert await auth.current_user(connection("other=1")) is None
    await accounts.revoke_user_sessions(clean_db, users["biller"])
    assert await auth.current_user(connection(f"{auth.COOKIE_NAME}={token}")) is None


async def test_session_tokens_are_stored_only_as_hashes(clean_db: asyncpg.Pool, users: dict[str, int]) -> None:
    token = await accounts.open_session(clean_db, SECRET, users["dispatcher"], "test")
    stored = await clean_db.fetchval("SELECT token_hash FROM sessions")
    assert token.encode() not in stored and len(stored) == 32
    assert await resolve_session(clean_db, b"another-secret", token, 30) is None


async def test_logout_revokes_the_session(client: TestClient, users: dict[str, int],
                                          clean_db: asyncpg.Pool) -> None:
    token = token_of(client, "disp")
    response = client.post("/api/logout", headers=as_(token))
    assert response.status_code == 200
    assert 'tt_session=""' in response.headers["set-cookie"] or "max-age=0" in response.headers["set-cookie"].lower()
    assert client.get("/api/me", headers=as_(token)).status_code == 401
    assert await clean_db.fetchval("SELECT revoked_at IS NOT NULL FROM sessions")
    assert await session_left(clean_db, SECRET, token, 30, touch=True) is None


async def test_admin_revokes_every_session_of_a_user(client: TestClient, users: dict[str, int],
                                                     clean_db: asyncpg.Pool) -> None:
    handheld, desk = token_of(client, "disp"), token_of(client, "disp")
    other = token_of(client, "bill")
    admin = token_of(client, "admin", ADMIN_PASSWORD)
    response = client.post(f"/api/users/{users['dispatcher']}/revoke-sessions", headers=as_(admin))
    assert response.status_code == 200 and response.json() == {"revoked": 2}
    assert client.get("/api/me", headers=as_(handheld)).status_code == 401
    assert client.get("/api/me", headers=as_(desk)).status_code == 401
    assert client.get("/api/me", headers=as_(other)).status_code == 200
    audit = await clean_db.fetchrow("SELECT * FROM audit_log WHERE action = 'user.revoke_sessions'")
    admin_id = await clean_db.fetchval("SELECT id FROM users WHERE username = 'admin'")
    assert audit["actor_id"] == admin_id and audit["target"] == f"user:{users['dispatcher']}"
    assert audit["before"] == {"live_sessions": 2}
    missing = client.post("/api/users/999999/revoke-sessions", headers=as_(admin))
    assert missing.status_code == 404 and missing.json()["error"] == "UNKNOWN_USER"


# --- roles and user administration ------------------------------------------------------------

NEW_USER = {"username": "Jaipur.One", "password": PASSWORD, "role": "dispatcher", "area": "jaipur"}


@pytest.mark.parametrize("method,path", [("POST", "/api/users"), ("POST", "/api/users/1/revoke-sessions")])
async def test_admin_endpoints_need_a_session_and_the_admin_role(
        client: TestClient, users: dict[str, int], method: str, path: str) -> None:
    anonymous = client.request(method, path, json=NEW_USER)
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "UNAUTHENTICATED"
    for username in ("disp", "bill"):
        denied = client.request(method, path, json=NEW_USER, headers=as_(token_of(client, username)))
        assert denied.status_code == 403
        assert denied.json() == {"error": "FORBIDDEN", "message": "Your role does not allow this."}


async def test_admin_creates_a_user_who_can_log_in(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = token_of(client, "admin", ADMIN_PASSWORD)
    response = client.post("/api/users", json=NEW_USER, headers=as_(admin))
    assert response.status_code == 201
    created = response.json()["user"]
    assert created == {"id": created["id"], "username": "jaipur.one", "role": "dispatcher", "area": "jaipur"}
    assert login(client, "JAIPUR.ONE", PASSWORD).json()["user"] == created
    audit = await clean_db.fetchrow("SELECT * FROM audit_log WHERE action = 'user.create'")
    assert audit["actor_id"] == await clean_db.fetchval("SELECT id FROM users WHERE username = 'admin'")
    assert audit["before"] is None and audit["after"] == created
    assert "password" not in str(audit["after"])


@pytest.mark.parametrize("change,status,code", [
    ({"area": None}, 400, "AREA_REQUIRED"),
    ({"area": "atlantis"}, 400, "UNKNOWN_AREA"),
    ({"role": "supervisor"}, 400, "INVALID_ROLE"),
    ({"username": "x"}, 400, "INVALID_USERNAME"),
    ({"password": "short"}, 400, "WEAK_PASSWORD"),
    ({"username": "admin", "role": "admin"}, 409, "USERNAME_TAKEN"),
])
def test_bad_new_users_are_refused_with_a_reason(client: TestClient, change: dict[str, Any], status: int,
                                                 code: str) -> None:
    admin = token_of(client, "admin", ADMIN_PASSWORD)
    response = client.post("/api/users", json={**NEW_USER, **change}, headers=as_(admin))
    assert response.status_code == status
    assert response.json()["error"] == code and response.json()["message"]


def test_createuser_cli_errors_are_one_clean_line(database_url: str, clean_db: asyncpg.Pool) -> None:
    runner = CliRunner()
    env = {"DATABASE_URL": database_url}
    result = runner.invoke(main, ["createuser", "ravi", "--role", "dispatcher", "--password", PASSWORD], env=env)
    assert result.exit_code == 1
    assert result.output.strip() == "Error: A dispatcher needs a dispatch area."
    result = runner.invoke(main, ["createuser", "ravi", "--role", "biller", "--area", "nowhere",
                                  "--password", PASSWORD], env=env)
    assert result.exit_code == 1 and result.output.strip() == "Error: There is no dispatch area 'nowhere'."
    result = runner.invoke(main, ["createuser", "Ravi", "--role", "dispatcher", "--area", "indore",
                                  "--password", PASSWORD], env=env)
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["createuser", "ravi", "--role", "dispatcher", "--area", "indore",
                                  "--password", PASSWORD], env=env)
    assert result.exit_code == 1 and result.output.strip() == "Error: A user named 'ravi' already exists."


# --- the first admin and the session secret ---------------------------------------------------


async def test_first_admin_gets_a_generated_password_shown_once(admins_inactive: asyncpg.Pool,
                                                                settings: Settings) -> None:
    first = settings.replace(admin_username="boss", admin_password=None)
    password = await accounts.ensure_first_admin(admins_inactive, first)
    assert password is not None and len(password) >= 16
    assert await accounts.ensure_first_admin(admins_inactive, first) is None
    actor = await accounts.authenticate(admins_inactive, "boss", password)
    assert actor is not None and actor.role is Role.ADMIN and actor.area is None
    audit = await admins_inactive.fetchrow("SELECT actor_id, after FROM audit_log WHERE action = 'user.create'")
    assert audit["actor_id"] is None and audit["after"]["username"] == "boss"


async def test_first_admin_takes_the_password_from_the_environment(admins_inactive: asyncpg.Pool,
                                                                   settings: Settings) -> None:
    first = settings.replace(admin_username="Chief", admin_password="from-the-environment")
    assert await accounts.ensure_first_admin(admins_inactive, first) is None
    assert await accounts.authenticate(admins_inactive, "chief", "from-the-environment") is not None
    assert await admins_inactive.fetchval("SELECT count(*) FROM users WHERE role = 'admin' AND active") == 1


async def test_no_first_admin_when_one_exists(clean_db: asyncpg.Pool, settings: Settings) -> None:
    assert await accounts.ensure_first_admin(clean_db, settings.replace(admin_username="other")) is None
    assert await clean_db.fetchval("SELECT count(*) FROM users WHERE role = 'admin'") == 1


def test_generated_session_secret_is_kept_private_and_stable(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "data")
    secret = auth.secret_bytes(settings)
    assert len(secret) >= 32
    assert auth.secret_bytes(settings) == secret
    path = tmp_path / "data" / auth.SECRET_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path / "data") == [auth.SECRET_FILE]
    assert auth.secret_bytes(settings.replace(session_secret="configured")) == b"configured"
    with pytest.raises(SettingsError):
        auth.secret_bytes(settings.replace(environment="production"))
