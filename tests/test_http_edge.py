"""The HTTP edge before any endpoint: bounded bodies, same-origin JSON writes, security headers,
the API's rate limit, and errors that are always JSON with a code (issue 8 items 9, 10, 11, 12, 15).

Memory under big bodies is measured on a real hub process in tests/test_http_process.py.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import asyncpg
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, Router
from starlette.testclient import TestClient

from hub.api.errors import LastResort
from hub.api.security import BodyLimit, SecurityHeaders
from hub.server import redact
from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.http_support import cookie, edge_client, from_address

OWN = "http://testserver"
NEW_USER = {"username": "intruder", "password": "not-a-guessable-one", "role": "admin", "area": None}


@pytest.fixture
def client(settings: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    with edge_client(settings.replace(allowed_origins=("https://wall.example",), max_body_bytes=4096,
                                      api_requests_per_minute=40)) as test_client:
        yield test_client


def admin(client: TestClient) -> str:
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    client.cookies.clear()
    return str(response.cookies["tt_session"])


# --- item 9: bodies are bounded ------------------------------------------------------------------


def test_a_body_over_the_limit_is_refused_by_its_content_length(client: TestClient) -> None:
    response = client.post("/api/login", content=b"{" + b" " * 5000 + b"}",
                           headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"] == "PAYLOAD_TOO_LARGE" and "4096" in response.json()["message"]


def test_a_streamed_body_is_cut_off_at_the_limit(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(100):
            yield b" " * 1000

    response = client.post("/api/login", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "PAYLOAD_TOO_LARGE"


async def test_the_body_limit_counts_chunks_without_content_length() -> None:
    """Pure ASGI: a chunked body with no Content-Length is refused once it passes the limit,
    before the endpoint has read (and buffered) the rest."""
    read: list[int] = []

    async def endpoint(request: Request) -> Response:
        async for chunk in request.stream():
            read.append(len(chunk))
        return Response("read it all")

    app = BodyLimit(Router(routes=[Route("/", endpoint, methods=["POST"])]), max_bytes=2500)
    messages = [{"type": "http.request", "body": b"x" * 1000, "more_body": True} for _ in range(9)]
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return messages.pop(0)

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [(b"transfer-encoding", b"chunked")],
             "query_string": b"", "root_path": "", "scheme": "http", "server": ("testserver", 80)}
    await app(scope, receive, send)  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert sum(read) <= 2000 and len(messages) == 6, "reading stopped at the chunk that passed the limit"


def test_a_body_within_the_limit_is_served(client: TestClient) -> None:
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200


# --- item 10: CSRF -------------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [
    {"origin": "http://testserver:8081"},  # another port of the same host: same-site, not same-origin
    {"origin": "https://evil.example"},
    {"origin": "null"},
    {"sec-fetch-site": "cross-site"},
    {"sec-fetch-site": "same-site"},
])
def test_a_state_change_from_another_origin_is_refused(client: TestClient, headers: dict[str, str]) -> None:
    token = admin(client)
    response = client.post("/api/users", json=NEW_USER, headers={**cookie(token), **headers})
    assert response.status_code == 403 and response.json()["error"] == "CROSS_ORIGIN"
    users = client.get("/api/users", headers=cookie(token)).json()["users"]
    assert "intruder" not in {u["username"] for u in users}


def test_login_from_another_origin_is_refused(client: TestClient) -> None:
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                           headers={"origin": "http://127.0.0.1:9999", "sec-fetch-site": "same-site"})
    assert response.status_code == 403 and "tt_session" not in response.cookies


@pytest.mark.parametrize("content_type,body", [
    ("text/plain", b'{"username": "intruder", "password": "not-a-guessable-one", "role": "admin"}'),
    ("application/x-www-form-urlencoded", b"username=intruder&password=not-a-guessable-one&role=admin"),
    ("multipart/form-data; boundary=x", b"--x--"),
    (None, b'{"username": "intruder"}'),
])
def test_a_body_that_is_not_declared_json_is_415(client: TestClient, content_type: str | None,
                                                 body: bytes) -> None:
    token = admin(client)
    headers = {**cookie(token), **({"content-type": content_type} if content_type else {})}
    response = client.post("/api/users", content=body, headers=headers)
    assert response.status_code == 415 and response.json()["error"] == "UNSUPPORTED_MEDIA_TYPE"


@pytest.mark.parametrize("headers", [
    {},  # a client that is not a browser: no Origin, no Sec-Fetch-Site
    {"origin": OWN, "sec-fetch-site": "same-origin"},
    {"origin": "https://wall.example", "sec-fetch-site": "cross-site"},  # in ALLOWED_ORIGINS
    {"sec-fetch-site": "same-origin"},
    {"sec-fetch-site": "none"},
])
def test_the_hubs_own_pages_and_other_clients_still_work(client: TestClient, headers: dict[str, str]) -> None:
    token = admin(client)
    response = client.post("/api/users", json={**NEW_USER, "username": "newadmin"},
                           headers={**cookie(token), "content-type": "application/json; charset=utf-8", **headers})
    assert response.status_code == 201, response.text
    assert client.post("/api/logout", headers={**cookie(token), **headers}).status_code == 200, \
        "a POST without a body needs no Content-Type"


def test_reads_need_no_origin_check(client: TestClient) -> None:
    token = admin(client)
    assert client.get("/api/me", headers={**cookie(token), "sec-fetch-site": "cross-site"}).status_code == 200


def test_websockets_still_open_under_the_middleware(client: TestClient) -> None:
    token = admin(client)
    with client.websocket_connect("/ws/dashboard", headers={**cookie(token), "origin": OWN}) as ws:
        assert ws.receive_bytes()


# --- item 11: the API is rate limited ------------------------------------------------------------


def test_the_api_is_rate_limited_per_address(client: TestClient) -> None:
    statuses = [client.get("/api/me", headers=from_address("192.0.2.50")).status_code for _ in range(45)]
    assert statuses[:40] == [401] * 40
    limited = client.get("/api/me", headers=from_address("192.0.2.50"))
    assert limited.status_code == 429 and limited.json()["error"] == "RATE_LIMITED"
    assert 0 < int(limited.headers["retry-after"]) <= 60
    assert client.get("/api/me", headers=from_address("192.0.2.51")).status_code == 401
    assert client.get("/index.html", headers=from_address("192.0.2.50")).status_code == 200, "pages are not"


# --- item 12: security headers -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/index.html", "/js/login.js", "/api/me", "/nowhere", "/health"])
def test_every_answer_carries_the_security_headers(client: TestClient, path: str) -> None:
    headers = client.get(path).headers
    csp = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert "strict-transport-security" not in headers, "no HSTS over plain HTTP"


def test_errors_and_refusals_carry_them_too(client: TestClient) -> None:
    too_big = client.post("/api/login", content=b" " * 5000, headers={"content-type": "application/json"})
    cross = client.post("/api/logout", headers={"origin": "https://evil.example"})
    for response in (too_big, cross):
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_over_https_answers_add_hsts_and_secure_cookies(settings: Settings, clean_db: asyncpg.Pool) -> None:
    with edge_client(settings.replace(tls_proxy=True)) as client:
        response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD},
                               headers={"origin": "https://testserver"})
        assert response.status_code == 200
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in response.headers["set-cookie"].lower()


TOKEN_SPELLINGS = ["token", "TOKEN", "%74oken", "tok%65n", "%54%4F%4B%45%4E", "token%20"]


def test_api_answers_and_token_urls_are_not_cached(client: TestClient) -> None:
    """Before, only a literal `token=` was: `?%74oken=` reaches the app as `token` all the same."""
    assert client.get("/api/me").headers["cache-control"] == "no-store"
    for name in TOKEN_SPELLINGS:
        assert client.get(f"/dashboard.html?wall=1&{name}=abc").headers["cache-control"] == "no-store", name
    assert client.get("/dashboard.html").headers.get("cache-control") != "no-store"


@pytest.mark.parametrize("name", TOKEN_SPELLINGS)
def test_the_access_log_masks_a_token_however_its_name_is_spelled(name: str) -> None:
    line = f'127.0.0.1:5 - "GET /ws/dashboard?scope=all&{name}=S3CRET-t0ken&format=json HTTP/1.1" 101'
    masked = redact(line)
    assert "S3CRET-t0ken" not in masked
    assert masked == line.replace("S3CRET-t0ken", "[redacted]")
    assert redact("/index.html?next=/scanner.html&tokens=2") == "/index.html?next=/scanner.html&tokens=2"


# --- item 15: errors are JSON with a code, never a traceback -------------------------------------


@pytest.mark.parametrize("body", [
    {"username": "admin\x00", "password": "x"},
    {"username": "admin", "password": "pass\ud800word"},
    {"username": "ad\u202emin", "password": "x"},
    {"username": "admin", "password": "x" * 2000},
    {"username\x00": "admin", "password": "x"},
])
def test_bad_text_in_the_login_fields_is_400(client: TestClient, body: dict[str, str],
                                             caplog: pytest.LogCaptureFixture) -> None:
    import json

    raw = json.dumps(body).encode()  # json.dumps writes a lone surrogate as \ud800, as a client might
    response = client.post("/api/login", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "INVALID_TEXT"
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize("path", [f"/api/users/{2**63}/revoke-sessions", f"/api/users/{10**30}/unlock",
                                  "/api/users/0/revoke-sessions", "/api/users/-1/unlock",
                                  "/api/users/1e3/unlock", f"/api/wall-tokens/{2**64}/revoke"])
def test_ids_outside_bigint_are_400(client: TestClient, path: str) -> None:
    response = client.post(path, headers=cookie(admin(client)))
    assert response.status_code == 400 and response.json()["error"] == "INVALID_ID"


@pytest.mark.parametrize("body", [
    {"label": "hall\x00", "area": None},
    {"label": "hall", "area": "luck\x00now"},
    {"label": "\ud83dhall", "area": None},
])
def test_bad_text_in_an_area_or_label_is_400(client: TestClient, body: dict[str, object]) -> None:
    import json

    response = client.post("/api/wall-tokens", content=json.dumps(body),
                           headers={**cookie(admin(client)), "content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "INVALID_TEXT"


def test_bad_text_in_a_new_user_is_400(client: TestClient) -> None:
    response = client.post("/api/users", json={**NEW_USER, "area": "jai\x00pur", "role": "dispatcher"},
                           headers=cookie(admin(client)))
    assert response.status_code == 400 and response.json()["error"] == "INVALID_TEXT"


@pytest.mark.parametrize("raw", [b"[" * 100_000, b'{"a": 1' + b"0" * 3000 + b"}", b"\xff\xfe", b"NaN"])
def test_any_malformed_json_is_400(client: TestClient, raw: bytes) -> None:
    response = client.post("/api/login", content=raw[:4000], headers={"content-type": "application/json"})
    assert response.status_code == 400 and response.json()["error"] == "BAD_REQUEST"


def test_unknown_paths_and_methods_answer_json(client: TestClient) -> None:
    missing = client.get("/api/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"] == "NOT_FOUND"
    wrong = client.put("/index.html", headers={"content-type": "application/json"})
    assert wrong.status_code == 405 and wrong.json()["error"] == "METHOD_NOT_ALLOWED"


def test_an_unexpected_exception_is_a_500_with_a_code_and_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("secret internals")

    app = SecurityHeaders(LastResort(Router(routes=[Route("/", broken)])), https=False)
    with caplog.at_level(logging.ERROR), TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/")
    assert response.status_code == 500
    assert response.json() == {"error": "INTERNAL_ERROR",
                                "message": "Something went wrong in the hub; it has been logged."}
    assert "secret internals" not in response.text and "frame-ancestors" in response.headers["content-security-policy"]
    assert "secret internals" in caplog.text, "the traceback goes to the log"
