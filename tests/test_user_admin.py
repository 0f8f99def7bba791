"""User admin over the HTTP API, against the real PostgreSQL: change a role, area or active state,
reset a password; only admins; never one's own role or deactivation; never no active admin, even
under concurrent demotions; what ends a user's sessions closes their websockets; every change audited.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from hub import accounts
from hub.codes import ApiCode
from hub.domain.accountrules import Account, AccountChange, change_problem
from hub.domain.rules import Role
from tests.admin_support import Admin, audit_rows, user_id
from tests.sessions_support import Sockets, closed_with
from tests.support import login, make_user

NEW_PASSWORD = "pallets-of-rice-at-dawn"


def _me(client: TestClient, token: str) -> int:
    status = client.get("/api/me", headers={"cookie": f"tt_session={token}"}).status_code
    client.cookies.clear()
    return status


async def test_a_new_role_and_area_end_the_users_sessions_and_websockets(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    admin = Admin(client)
    token = make_user(client, "dispatcher", "raipur")
    target = user_id(client, token)
    scanner = sockets.scanner(token, "hh-promoted")
    dashboard = sockets.dashboard(token)
    assert dashboard.receive()["t"] == "snapshot"

    response = admin.request("PATCH", f"/api/users/{target}", {"role": "biller", "area": "hisar"})
    assert response.status_code == 200, response.text
    assert response.json()["user"] | {"username": ""} == {"id": target, "username": "", "role": "biller",
                                                          "area": "hisar", "active": True}
    assert response.json()["sessions_ended"] == 1
    closed_with(scanner, 4001)
    closed_with(dashboard, 4001)
    assert _me(client, token) == 401
    (row,) = await audit_rows(clean_db, "user.change")
    assert row["actor_id"] == admin.id and row["target"] == f"user:{target}"
    assert (row["before"]["role"], row["before"]["area"]) == ("dispatcher", "raipur")
    assert (row["after"]["role"], row["after"]["area"], row["after"]["sessions_ended"]) == ("biller", "hisar", 1)


async def test_deactivation_ends_everything_and_reactivation_revives_no_old_session(
        client: TestClient, sockets: Sockets, clean_db: asyncpg.Pool) -> None:
    admin = Admin(client)
    token = make_user(client, "dispatcher", "akola")
    target = user_id(client, token)
    username = (await clean_db.fetchrow("SELECT username FROM users WHERE id = $1", target))["username"]
    scanner = sockets.scanner(token, "hh-deactivated")

    off = admin.request("PATCH", f"/api/users/{target}", {"active": False})
    assert off.status_code == 200 and off.json()["user"]["active"] is False
    closed_with(scanner, 4001)
    assert _me(client, token) == 401
    refused = client.post("/api/login", json={"username": username, "password": "scan-all-day-long"})
    assert refused.status_code == 401 and refused.json()["error"] == "INVALID_LOGIN"

    on = admin.request("PATCH", f"/api/users/{target}", {"active": True})
    assert on.status_code == 200 and on.json() == {"user": {**off.json()["user"], "active": True},
                                                   "sessions_ended": 0}
    assert _me(client, token) == 401, "the old session stays ended"
    assert _me(client, login(client, username, "scan-all-day-long")) == 200
    rows = await audit_rows(clean_db, "user.change")
    assert [(r["before"]["active"], r["after"]["active"]) for r in rows] == [(True, False), (False, True)]


def test_only_admins_change_users_or_passwords(client: TestClient) -> None:
    admin = Admin(client)
    target = user_id(client, make_user(client, "dispatcher", "jaipur"))
    for role in ("dispatcher", "biller"):
        token = make_user(client, role, "jaipur")
        for method, path, body in (("PATCH", f"/api/users/{target}", {"active": False}),
                                   ("POST", f"/api/users/{target}/password", {"password": NEW_PASSWORD})):
            refused = admin.request(method, path, body, token=token)
            assert refused.status_code == 403 and refused.json()["error"] == "FORBIDDEN", (role, path)
    anonymous = client.patch(f"/api/users/{target}", json={"active": False})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "UNAUTHENTICATED"
    users = {u["id"]: u for u in admin.request("GET", "/api/users").json()["users"]}
    assert users[target]["active"] is True


def test_an_admin_keeps_their_own_role_and_account(client: TestClient) -> None:
    admin = Admin(client)
    for body in ({"role": "dispatcher", "area": "indore"}, {"active": False}, {"role": "biller"}):
        refused = admin.request("PATCH", f"/api/users/{admin.id}", body)
        assert refused.status_code == 403 and refused.json()["error"] == "OWN_ACCOUNT", body
    own_area = admin.request("PATCH", f"/api/users/{admin.id}", {"area": "indore"})
    assert own_area.status_code == 200 and own_area.json()["sessions_ended"] == 0
    assert _me(client, admin.token) == 200, "an admin's area grants nothing: the session goes on"
    back = admin.request("PATCH", f"/api/users/{admin.id}", {"area": None})  # later tests expect no area
    assert back.status_code == 200 and back.json()["user"]["area"] is None


BAD_CHANGES = [
    ({}, 400, "BAD_REQUEST"),
    ({"role": "boss"}, 400, "INVALID_ROLE"),
    ({"active": "no"}, 400, "BAD_REQUEST"),
    ({"role": 1}, 400, "BAD_REQUEST"),
    ({"name": "x"}, 400, "BAD_REQUEST"),
    ({"area": "atlantis"}, 400, "UNKNOWN_AREA"),
    ({"area": None}, 400, "AREA_REQUIRED"),
    ({"role": "admin", "area": "nowhere"}, 400, "UNKNOWN_AREA"),
]


async def test_a_bad_change_is_refused_and_changes_nothing(client: TestClient, clean_db: asyncpg.Pool) -> None:
    admin = Admin(client)
    token = make_user(client, "dispatcher", "ranchi")
    target = user_id(client, token)
    before = await clean_db.fetchrow("SELECT role, area, active FROM users WHERE id = $1", target)
    for body, status, code in BAD_CHANGES:
        refused = admin.request("PATCH", f"/api/users/{target}", body)
        assert (refused.status_code, refused.json()["error"]) == (status, code), (body, refused.text)
        assert await clean_db.fetchrow("SELECT role, area, active FROM users WHERE id = $1", target) == before
    assert _me(client, token) == 200
    assert await audit_rows(clean_db, "user.change") == []


def test_unknown_users_and_ids(client: TestClient) -> None:
    admin = Admin(client)
    for method, suffix, body in (("PATCH", "", {"active": False}), ("POST", "/password", {"password": NEW_PASSWORD})):
        missing = admin.request(method, f"/api/users/999999{suffix}", body)
        assert missing.status_code == 404 and missing.json()["error"] == "UNKNOWN_USER"
        bad = admin.request(method, f"/api/users/x1{suffix}", body)
        assert bad.status_code == 400 and bad.json()["error"] == "INVALID_ID"


async def test_a_password_reset_ends_the_users_sessions(client: TestClient, sockets: Sockets,
                                                        clean_db: asyncpg.Pool) -> None:
    admin = Admin(client)
    token = make_user(client, "biller", "bathinda")
    target = user_id(client, token)
    username = (await clean_db.fetchrow("SELECT username FROM users WHERE id = $1", target))["username"]
    scanner = sockets.scanner(token, "hh-reset")
    for weak in ("short", username, "password1"):
        refused = admin.request("POST", f"/api/users/{target}/password", {"password": weak})
        assert refused.status_code == 400 and refused.json()["error"] == "WEAK_PASSWORD", weak
    assert admin.request("POST", f"/api/users/{target}/password", {}).json()["error"] == "BAD_REQUEST"
    assert _me(client, token) == 200, "a refused reset changes nothing"

    reset = admin.request("POST", f"/api/users/{target}/password", {"password": NEW_PASSWORD})
    assert reset.status_code == 200 and reset.json() == {"sessions_ended": 1}
    closed_with(scanner, 4001)
    assert _me(client, token) == 401
    old = client.post("/api/login", json={"username": username, "password": "scan-all-day-long"})
    assert old.status_code == 401
    assert _me(client, login(client, username, NEW_PASSWORD)) == 200
    (row,) = await audit_rows(clean_db, "user.reset_password")
    assert row["actor_id"] == admin.id and row["after"] == {"password": "reset", "live_sessions": 0}
    assert NEW_PASSWORD not in str(row) and "argon2" not in str(row)


@pytest.fixture
async def two_admins(client: TestClient, clean_db: asyncpg.Pool) -> AsyncIterator[tuple[int, int]]:
    """The first admin and a second one; afterwards both are active admins again (other tests log in
    as the first)."""
    first = Admin(client).id
    second = await accounts.create_user(clean_db, username="second-admin", password=NEW_PASSWORD, role="admin",
                                        area=None, actor_id=first)
    yield first, second
    await clean_db.execute("UPDATE users SET role = 'admin', area = NULL, active = true WHERE id = ANY($1::bigint[])",
                           [first, second])


async def test_two_admins_demoting_each_other_at_once_leave_one_admin(two_admins: tuple[int, int],
                                                                      clean_db: asyncpg.Pool) -> None:
    first, second = two_admins
    demote = AccountChange(role=Role.DISPATCHER, area="lucknow", set_area=True)
    for round_ in range(8):
        outcomes = await asyncio.gather(accounts.change_user(clean_db, second, demote, actor_id=first),
                                        accounts.change_user(clean_db, first, demote, actor_id=second),
                                        return_exceptions=True)
        refused = [o for o in outcomes if isinstance(o, accounts.AccountError)]
        assert len(refused) == 1 and refused[0].code is ApiCode.LAST_ADMIN, (round_, outcomes)
        assert await clean_db.fetchval("SELECT count(*) FROM users WHERE role = 'admin' AND active") == 1
        await clean_db.execute("UPDATE users SET role = 'admin', area = NULL WHERE id = ANY($1::bigint[])",
                               [first, second])


async def test_two_admins_deactivating_each_other_at_once_leave_one_active(two_admins: tuple[int, int],
                                                                           clean_db: asyncpg.Pool) -> None:
    first, second = two_admins
    off = AccountChange(active=False)
    outcomes = await asyncio.gather(accounts.change_user(clean_db, second, off, actor_id=first),
                                    accounts.change_user(clean_db, first, off, actor_id=second),
                                    return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, accounts.AccountError)]
    assert len(refused) == 1 and refused[0].code is ApiCode.LAST_ADMIN, outcomes
    assert await clean_db.fetchval("SELECT count(*) FROM users WHERE role = 'admin' AND active") == 1


async def test_the_last_active_admin_is_never_demoted(client: TestClient, clean_db: asyncpg.Pool) -> None:
    """Whoever asks (here a dispatcher's id, as if its rights changed while the request ran)."""
    admin = Admin(client)
    dispatcher = user_id(client, make_user(client, "dispatcher", "hisar"))
    for change in (AccountChange(active=False), AccountChange(role=Role.BILLER, area="hisar", set_area=True)):
        with pytest.raises(accounts.AccountError) as refused:
            await accounts.change_user(clean_db, admin.id, change, actor_id=dispatcher)
        assert refused.value.code is ApiCode.LAST_ADMIN
    assert await clean_db.fetchval("SELECT role FROM users WHERE id = $1", admin.id) == "admin"


ACCOUNTS = st.lists(st.tuples(st.sampled_from(list(Role)), st.booleans()), min_size=1, max_size=5)
CHANGES = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4),
                             st.sampled_from([None, *Role]), st.sampled_from([None, True, False])), max_size=30)


@given(ACCOUNTS, CHANGES)
def test_no_sequence_of_changes_leaves_no_active_admin(
        start: list[tuple[Role, bool]], changes: list[tuple[int, int, Role | None, bool | None]]) -> None:
    """The rule alone: whatever admins ask, in any order, an active admin remains (if one was there),
    and no one changes their own role or deactivates themself."""
    accounts_ = [Account(i, f"u{i}", role, "lucknow", active) for i, (role, active) in enumerate(start)]
    had_admin = any(a.active_admin for a in accounts_)
    for actor, target, role, active in changes:
        if not (actor < len(accounts_) and target < len(accounts_) and accounts_[actor].active_admin):
            continue
        before = accounts_[target]
        after = AccountChange(role=role, active=active).applied(before)
        admins = sum(a.active_admin for a in accounts_)
        if change_problem(actor, before, after, admins) is None:
            assert actor != target or (after.role is before.role and after.active)
            accounts_[target] = after
    assert any(a.active_admin for a in accounts_) == had_admin
