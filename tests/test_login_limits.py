"""Login throttling: the guesser is slowed down, the account's owner is never locked out.

Issue 8 item 11. Before, five anonymous wrong passwords locked any account for 15 minutes. Now failed
logins are counted per address, per account and address, and per account; past a limit the answer is
429 with Retry-After, before any password is checked; an admin can lift an account's limits.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator

import asyncpg
import pytest
from starlette.testclient import TestClient

from hub import accounts, passwords
from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.http_support import cookie, edge_client, from_address

PASSWORD = "scan-all-day-42"
ATTACKER, OWNER, ELSEWHERE = "203.0.113.7", "10.1.2.3", "198.51.100.9"


@pytest.fixture
def limits(settings: Settings) -> Settings:
    return settings.replace(login_failures_per_address=8, login_failures_per_account_address=3,
                            login_failures_per_account=5)


@pytest.fixture
async def disp(clean_db: asyncpg.Pool) -> int:
    return await accounts.create_user(clean_db, username="disp", password=PASSWORD, role="dispatcher",
                                      area="lucknow")


@pytest.fixture
def client(limits: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    with edge_client(limits) as test_client:
        yield test_client


def attempt(client: TestClient, address: str, password: str, username: str = "disp") -> tuple[int, dict[str, str]]:
    response = client.post("/api/login", json={"username": username, "password": password},
                           headers=from_address(address))
    client.cookies.clear()
    return response.status_code, {"error": response.json()["error"], **response.headers} \
        if response.status_code != 200 else {}


def admin_token(client: TestClient) -> str:
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                           headers=from_address("127.0.0.1"))
    client.cookies.clear()
    return str(response.cookies["tt_session"])


async def test_wrong_passwords_slow_the_guesser_and_never_lock_the_owner_out(
        client: TestClient, disp: int, verify_calls: list[str], caplog: pytest.LogCaptureFixture) -> None:
    for _ in range(3):
        assert attempt(client, ATTACKER, "guess")[0] == 401
    for _ in range(10):
        status, answer = attempt(client, ATTACKER, "guess")
        assert status == 429 and answer["error"] == "RATE_LIMITED"
        assert 0 < int(answer["retry-after"]) <= 15 * 60
    assert len(verify_calls) == 3, "a refused attempt costs no password check"
    warnings = [r.getMessage() for r in caplog.records if r.name == "tracetrack.logins"]
    assert [w.partition("; refused for ")[0] for w in warnings] == [
        f"failed logins reached their limit (3) for pair:disp|{ATTACKER}",
        f"failed logins reached their limit (8) for address:{ATTACKER}"], "each said once, in the log"
    status, answer = attempt(client, ATTACKER, PASSWORD)
    assert status == 429, "the right password from the guesser's address waits too: no oracle"
    assert attempt(client, OWNER, PASSWORD)[0] == 200, "the owner, on their own device, is not locked out"


async def test_one_address_guessing_many_accounts_is_stopped(client: TestClient, disp: int) -> None:
    statuses = [attempt(client, ATTACKER, "guess", f"user{n}")[0] for n in range(12)]
    assert statuses == [401] * 8 + [429] * 4
    assert attempt(client, OWNER, PASSWORD)[0] == 200


async def test_a_good_password_forgives_the_owners_own_typos(client: TestClient, disp: int) -> None:
    for _ in range(2):
        assert attempt(client, OWNER, "typo-typo")[0] == 401
    assert attempt(client, OWNER, PASSWORD)[0] == 200
    assert [attempt(client, OWNER, "typo-typo")[0] for _ in range(4)] == [401, 401, 401, 429]


async def test_guessing_from_many_addresses_is_capped_and_an_admin_unlocks_it(
        client: TestClient, disp: int, clean_db: asyncpg.Pool) -> None:
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(3):
            attempt(client, address, "guess")
    assert attempt(client, "192.0.2.3", "guess")[0] == 429, "account-wide limit (5) reached"
    admin = admin_token(client)
    users = {u["username"]: u for u in client.get("/api/users", headers=cookie(admin)).json()["users"]}
    assert users["disp"]["locked"] is True and users["admin"]["locked"] is False
    assert attempt(client, OWNER, PASSWORD)[0] == 429

    response = client.post(f"/api/users/{disp}/unlock", headers=cookie(admin))
    assert response.status_code == 200 and response.json() == {"unlocked": disp}
    assert attempt(client, OWNER, PASSWORD)[0] == 200
    audit = await clean_db.fetchrow("SELECT actor_id, target, before, after FROM audit_log "
                                    "WHERE action = 'user.unlock'")
    assert audit["target"] == f"user:{disp}" and audit["before"] == {"counted_attempts": 8}
    assert audit["actor_id"] == await clean_db.fetchval("SELECT id FROM users WHERE username = 'admin'")


async def test_an_address_the_owner_logged_in_from_is_not_held_by_the_account_limit(
        client: TestClient, disp: int) -> None:
    assert attempt(client, OWNER, PASSWORD)[0] == 200  # the owner's handheld, yesterday
    for address in ("192.0.2.1", "192.0.2.2"):
        for _ in range(3):
            attempt(client, address, "guess")
    assert attempt(client, ELSEWHERE, PASSWORD)[0] == 429, "a new address waits for the account limit"
    assert attempt(client, OWNER, PASSWORD)[0] == 200, "the owner's own device does not"
    assert [attempt(client, OWNER, "guess")[0] for _ in range(4)] == [401, 401, 401, 429], \
        "and guessing from it is still limited"


async def test_unlock_is_for_admins_and_known_users(client: TestClient, disp: int) -> None:
    assert client.post(f"/api/users/{disp}/unlock").json()["error"] == "UNAUTHENTICATED"
    dispatcher = client.post("/api/login", json={"username": "disp", "password": PASSWORD}).cookies["tt_session"]
    client.cookies.clear()
    assert client.post(f"/api/users/{disp}/unlock", headers=cookie(dispatcher)).json()["error"] == "FORBIDDEN"
    admin = admin_token(client)
    missing = client.post("/api/users/987654/unlock", headers=cookie(admin))
    assert missing.status_code == 404 and missing.json()["error"] == "UNKNOWN_USER"
    huge = client.post(f"/api/users/{2**63}/unlock", headers=cookie(admin))
    assert huge.status_code == 400 and huge.json()["error"] == "INVALID_ID"


async def test_limits_are_shared_by_hub_processes_through_redis(
        limits: Settings, redis_url: str, disp: int) -> None:
    shared = limits.replace(redis_url=redis_url, redis_prefix=f"tracetrack-test-{uuid.uuid4().hex[:8]}")
    with edge_client(shared) as one, edge_client(shared) as two:
        assert attempt(one, ATTACKER, "guess")[0] == 401
        assert attempt(two, ATTACKER, "guess")[0] == 401
        assert attempt(one, ATTACKER, "guess")[0] == 401
        assert attempt(two, ATTACKER, "guess")[0] == 429
        assert attempt(one, OWNER, PASSWORD)[0] == 200


@contextlib.contextmanager
def slots_taken(client: str | None, count: int) -> Iterator[None]:
    """Hold `count` places in the password queue, as that many slow checks would."""
    with contextlib.ExitStack() as stack:
        for _ in range(count):
            stack.enter_context(passwords._slot(client))
        yield


async def test_a_full_password_queue_answers_503_at_once(client: TestClient, disp: int) -> None:
    with slots_taken(None, passwords.THREADS * passwords.QUEUE_PER_THREAD):
        started = time.monotonic()
        status, answer = attempt(client, OWNER, PASSWORD)
        assert time.monotonic() - started < 1.0, "never an unbounded wait"
    assert status == 503 and answer["error"] == "BUSY" and answer["retry-after"] == "1"
    assert attempt(client, OWNER, PASSWORD)[0] == 200, "and nothing was counted against the owner"
    assert [attempt(client, OWNER, "typo")[0] for _ in range(4)] == [401, 401, 401, 429]


async def test_one_address_gets_only_its_share_of_the_password_queue(client: TestClient, disp: int) -> None:
    with slots_taken(ATTACKER, passwords.PER_CLIENT):
        assert attempt(client, ATTACKER, "guess")[0] == 503
        assert attempt(client, OWNER, PASSWORD)[0] == 200
