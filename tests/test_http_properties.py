"""Every API endpoint, fed hypothesis-drawn bodies and path values, and every GET list (and export) fed
hostile query parameters: never a 500 (issue 8 item 15).

Bodies are any JSON (integers past 64 bits, floats, NaN, deep nesting, NUL, lone surrogates, bidi
overrides, long strings), or the expected object with such values in its fields, or raw bytes. Each
answer must be a JSON error with a code, or a success; never a 500 and never a traceback in the log.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import asyncpg
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from hub.app import create_app
from hub.settings import Settings
from tests.conftest import ADMIN_PASSWORD
from tests.http_support import cookie, edge_client

ROUTES = [(route.path, method) for route in create_app(Settings(database_url="postgresql://unused/unused")).routes
          if isinstance(route, Route) and route.path.startswith("/api/")
          for method in sorted(route.methods or ()) if method != "HEAD"]
FIELDS = ["username", "password", "role", "area", "label", "expires_days", "code", "parent", "destination",
          "vehicle", "active", "name"]

text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=60) | st.sampled_from(
    ["\x00", "\ud800", "a\udfffb", "\u202eevil", "\u200b", "x" * 2000, "admin", "lucknow", "dispatcher", ""])
scalars = (st.none() | st.booleans() | st.integers() | st.integers(min_value=2**63 - 2, max_value=2**70)
           | st.floats(allow_nan=True, allow_infinity=True) | text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(text, inner, max_size=4), max_leaves=12)
objects = st.fixed_dictionaries({}, optional={name: values for name in FIELDS})
bodies = (objects.map(lambda body: json.dumps(body).encode()) | values.map(lambda body: json.dumps(body).encode())
          | st.binary(max_size=200) | st.just(b"[" * 5_000))
path_values = (text | st.integers().map(str) | st.integers(min_value=2**63 - 3, max_value=2**80).map(str)
               | st.sampled_from(["1", "0", "-1", "1e3", "٣", "¹"]))

LISTS = [path for path, method in ROUTES if method == "GET" and "{" not in path
         and path in ("/api/bags", "/api/bills", "/api/scans", "/api/audit", "/api/returns")]
LIST_PARAMS = ["from", "to", "after", "prefix", "q", "limit", "area", "status", "kind", "result", "user", "device",
               "action", "actor", "target"]
ORDERS = ["bags", "bag-codes", "bills", "scans", "audit", "returns"]
EDGE_TIMES = ["0001-01-01T00:00:00+05:30", "9999-12-31T23:59:59-05:00", "0001-01-01", "9999-12-31",
              "0001-01-01T00:00", "9999-12-31T23:59:59+14:00", "2026-12-01T08:30:00+05:30", "2026-13-01"]


def _cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


cursors = (st.tuples(st.sampled_from(ORDERS), text).map(lambda v: _cursor(list(v)))
           | st.tuples(st.sampled_from(ORDERS), st.sampled_from(EDGE_TIMES) | text, st.integers()).map(
               lambda v: _cursor(list(v))) | text)
query_values = (text | st.sampled_from(EDGE_TIMES) | st.integers().map(str) | cursors
                | st.datetimes().map(lambda at: at.isoformat()))
queries = st.dictionaries(st.sampled_from(LIST_PARAMS), query_values, max_size=4)


@pytest.fixture
def client(settings: Settings, clean_db: asyncpg.Pool) -> Iterator[TestClient]:
    limits = settings.replace(api_requests_per_minute=1_000_000, login_failures_per_address=1_000_000,
                              login_failures_per_account_address=1_000_000, login_failures_per_account=1_000_000)
    with edge_client(limits) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_no_body_or_path_value_makes_an_endpoint_fail(client: TestClient, path: str, method: str,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    admin = response.cookies["tt_session"]
    client.cookies.clear()

    @hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies, path_value=path_values, logged_in=st.booleans())
    def check(body: bytes, path_value: str, logged_in: bool) -> None:
        value = quote(path_value.encode("utf-8", "surrogatepass"), safe="") or "x"
        url = re.sub(r"\{[a-z_]+\}", lambda _: value, path)
        headers = {"content-type": "application/json", **(cookie(admin) if logged_in else {})}
        answer = client.request(method, url, content=body if method != "GET" else None, headers=headers)
        client.cookies.clear()
        assert answer.status_code < 500, (answer.status_code, answer.text)
        if answer.status_code >= 400:
            payload: Any = answer.json()
            assert isinstance(payload.get("error"), str) and payload.get("message")

    with caplog.at_level(logging.ERROR):
        check()
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("path", LISTS + ["/api/exports/bags.csv", "/api/exports/scans.csv", "/api/exports/bills.csv"])
def test_no_query_parameter_makes_a_list_fail(client: TestClient, path: str, caplog: pytest.LogCaptureFixture) -> None:
    response = client.post("/api/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    admin = response.cookies["tt_session"]
    client.cookies.clear()

    @hypothesis_settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
    @given(params=queries)
    def check(params: dict[str, str]) -> None:
        query = "&".join(f"{name}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
                         for name, value in params.items())
        answer = client.get(f"{path}?{query}", headers=cookie(admin))
        client.cookies.clear()
        assert answer.status_code < 500, (params, answer.status_code, answer.text[:300])
        if answer.status_code >= 400:
            payload: Any = answer.json()
            assert isinstance(payload.get("error"), str) and payload.get("message")

    with caplog.at_level(logging.ERROR):
        check()
    assert "Traceback" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.ERROR]
