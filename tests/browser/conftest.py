"""Fixtures of the browser tests: Debian's Chromium under Playwright, a real hub, users, SQL.

The tests are plain sync functions (Playwright's sync API, which refuses to run inside a running
asyncio loop, and marks its own loop as running between its calls); they request no async fixture.
Playwright, one Chromium and one hub process serve the whole tests/browser package (starting them
for each test was most of its time), and are gone before the rest of the suite runs, so no asyncio
loop of Playwright's is alive then. Each test still gets a browser of no contexts (a context is a
fresh profile: cookies, storage, cache of its own), and a test that stops, freezes or restarts a
hub has a hub of its own (`own_hub`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import msgpack
import pytest

from hub.codes import Code
from tests.browser.browsers import (
    SCREENSHOTS,
    SKIPPED,
    Unavailable,
    chromium_path,
    launch_options,
    skip_loudly,
    static_web,
)
from tests.conftest import ADMIN_PASSWORD, hub_env
from tests.hubprocess import HubProcess

USER_PASSWORD = "scan-all-day-long"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """A skipped browser test must not go unnoticed: repeat why at the end of the run."""
    if SKIPPED:
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", red=True, bold=True)
        for reason in SKIPPED:
            terminalreporter.write_line(reason, red=True, bold=True)


@pytest.fixture(scope="package")
def chromium() -> str:
    """The Chromium executable (installed with apt-get when missing and possible), else a loud skip."""
    try:
        return chromium_path()
    except Unavailable as exc:
        skip_loudly("browser test", exc)
        raise  # not reached: skip raises


@pytest.fixture(scope="package")
def playwright(chromium: str, database_url: str) -> Iterator[Any]:
    """`database_url` first: the session's services are set up with asyncio.run, which Playwright's
    loop (marked running between its calls) would refuse."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def chromium_process(playwright: Any) -> Iterator[Any]:
    """One Chromium for the package: its start was a second of every test."""
    browser = playwright.chromium.launch(**launch_options())
    yield browser
    browser.close()


@pytest.fixture
def browser(chromium_process: Any) -> Iterator[Any]:
    """The package's Chromium, with no context open; what the test leaves open is closed after it."""
    yield chromium_process
    for context in chromium_process.contexts:
        context.close()


@pytest.fixture
def screenshots() -> Path:
    """test-artifacts/screenshots/: the pages as a reviewer should look at them."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


def sql(database_url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a thread of its own (no asyncio loop may run beside Playwright's)."""
    async def run() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(database_url)
        try:
            return await conn.fetch(query, *args)
        finally:
            await conn.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(run())).result(60)


@dataclass
class LiveHub:
    """A real hub subprocess on the test database, with the helpers the page tests need.

    `shared`: the package's hub, which other tests use too: it may not be stopped or frozen.
    """

    process: HubProcess
    hub_class: type[HubProcess]
    database_url: str
    shared: bool = False

    @property
    def url(self) -> str:
        return self.process.url

    @property
    def port(self) -> int:
        return self.process.port

    def stop(self) -> None:
        assert not self.shared, "the shared hub serves other tests too: stop a hub of the test's own"
        self.process.terminate()

    def restart(self) -> None:
        """Start a new hub process on the same port (clients reconnect to where they were)."""
        assert not self.shared, "the shared hub is not stopped, so not restarted"
        self.process = self.hub_class(port=self.port).start()  # type: ignore[call-arg]

    def os_process(self) -> Any:
        """The hub's process, to signal (only a hub of the test's own)."""
        assert not self.shared, "the shared hub serves other tests too: freeze a hub of the test's own"
        assert self.process.process is not None
        return self.process.process

    def login(self, username: str, password: str) -> str:
        response = httpx.post(f"{self.url}/api/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.cookies["tt_session"]

    def make_user(self, role: str, area: str = "lucknow") -> tuple[str, str]:
        """Create a user through the admin API; returns (username, password)."""
        admin = self.login("admin", ADMIN_PASSWORD)
        username = f"{role[:4]}-{uuid.uuid4().hex[:8]}"
        response = httpx.post(f"{self.url}/api/users", cookies={"tt_session": admin},
                              json={"username": username, "password": USER_PASSWORD, "role": role,
                                    "area": None if role == "admin" else area})
        assert response.status_code == 201, response.text
        return username, USER_PASSWORD

    def sql(self, query: str, *args: Any) -> list[asyncpg.Record]:
        return sql(self.database_url, query, *args)

    def unused_parent(self, prefix: str = "SB", digits: int = 5) -> str:
        """A parent code no bag has yet."""
        while True:
            code = f"{prefix}{uuid.uuid4().int % 10**digits:0{digits}d}"
            if not self.sql("SELECT 1 FROM bags WHERE code = $1", code):
                return code

    def links(self, parent: str) -> list[str]:
        rows = self.sql("SELECT c.code FROM links l JOIN bags p ON p.id = l.parent_id "
                        "JOIN bags c ON c.id = l.child_id WHERE p.code = $1 ORDER BY c.code", parent)
        return [row["code"] for row in rows]


@pytest.fixture(scope="package")
def live_hub(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveHub]:
    """One hub process for the package's page tests. They share it as they share the database:
    each makes users, bags and bills of its own (unique names), and none counts on an empty hub."""
    process = HubProcess(tmp_path_factory.mktemp("shared-hub"), hub_env(database_url)).start()
    yield LiveHub(process, HubProcess, database_url, shared=True)
    process.stop()


@pytest.fixture
def own_hub(hub_process: type[HubProcess], database_url: str) -> LiveHub:
    """A hub process of the test's own: for a test that stops, freezes or restarts it."""
    return LiveHub(hub_process().start(), hub_process, database_url)


# ---- a faked hub: the pages without a hub process, every answer under the test's control --------

WS_SCAN = re.compile(r".*/ws/scan$")
WELCOME = {"t": "welcome", "applied_seq": 0, "max_inflight": 16, "server_time": 0,
           "formats": [{"name": "standard", "pattern": "^SB[0-9]{5}$", "capacity": 30},
                       {"name": "mini", "pattern": "^M444-[0-9]{5}$", "capacity": 15}]}


class FakeHub:
    """Answers /ws/scan as docs/protocol.md says: welcome after hello, pong to ping, then `answer(op)`
    for each op (None: no ack now; the test may send it later through `sockets[-1].send`)."""

    def __init__(self, answer: Callable[[dict[str, Any]], dict[str, Any] | None], **welcome: Any) -> None:
        self.answer = answer
        self.welcome = welcome
        self.hellos: list[dict[str, Any]] = []
        self.ops: list[dict[str, Any]] = []
        self.sockets: list[Any] = []

    def handler(self, ws: Any) -> None:
        self.sockets.append(ws)
        ws.on_message(lambda message: self._message(ws, message))

    def send(self, message: dict[str, Any]) -> None:
        self.sockets[-1].send(msgpack.packb(message))

    def _message(self, ws: Any, message: str | bytes) -> None:
        frame = msgpack.unpackb(message) if isinstance(message, bytes) else json.loads(message)
        if frame["t"] == "hello":
            self.hellos.append(frame)
            ws.send(msgpack.packb({**WELCOME, "device": frame["device"],
                                   "user": {"username": "tester", "role": "biller", "area": "lucknow"},
                                   **self.welcome}))
        elif frame["t"] == "ping":
            ws.send(msgpack.packb({"t": "pong", "id": frame.get("id")}))
        elif frame["t"] == "op":
            self.ops.append(frame)
            reply = self.answer(frame)
            if reply is not None:
                ws.send(msgpack.packb(reply))


def ack(seq: int, code: Code, data: dict[str, Any]) -> dict[str, Any]:
    return {"t": "ack", "seq": seq, "ok": code is Code.OK, "code": code.value, "msg": code.message,
            "retry": code.retry, "replay": False, "data": data}


def until(page: Any, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait for a condition on the test's side, letting the page and Playwright's handlers run."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(30)


@pytest.fixture
def fake_site(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page of web/ served without a hub: /api/me and /ws/scan are faked. The pages must
    raise no uncaught error and break no rule of the Content-Security-Policy."""
    from playwright.sync_api import expect

    from tests.browser.page_support import watch_errors

    with static_web() as base:
        contexts: list[Any] = []
        errors: list[list[str]] = []  # one list per page, filled as the page runs

        def open_page(path: str, hub: FakeHub, role: str = "biller") -> Any:
            context = browser.new_context(service_workers="block", viewport={"width": 412, "height": 915})
            contexts.append(context)
            page = context.new_page()
            errors.append(watch_errors(page))
            me = {"user": {"id": 1, "username": "tester", "role": role, "area": "lucknow"}, "home": "/bills.html"}
            page.route("**/api/me", lambda route: route.fulfill(json=me))
            page.route_web_socket(WS_SCAN, hub.handler)
            page.goto(f"{base}{path}")
            expect(page.locator("body")).to_have_attribute("data-ready", "true")
            expect(page.locator("#conn")).to_have_attribute("data-state", "online")
            return page

        yield open_page
        for context in contexts:
            context.close()
    assert [error for page_errors in errors for error in page_errors] == []
