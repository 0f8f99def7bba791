"""The login page's `?next=`: back to a page of this site only, whatever the value holds.

Browsers' URL parsers drop tabs, CR and LF and read `\\` as `/`, so a check on the raw text
(`starts with one /`) let `/%09/other-host/` through to another host. Each hostile value goes
through web/js/session.js `sameOriginUrl` in Node and in Chromium, then through the login page
itself (an operator already logged in is sent on at once): every one lands on the role's start page.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import pytest

from tests.browser.browsers import (
    Unavailable,
    chromium_path,
    node_path,
    run_module,
    skip_loudly,
    static_web,
)

pytestmark = pytest.mark.browser

ORIGIN = "http://hub.example:8000"
HOSTILE = [
    "/\t/other-host/", "/\r/other-host/", "/\n/other-host/", "/\r\n/other-host/", "/\t\t/other-host/",
    "//other-host/", "///other-host/", "/\\other-host/", "\\\\other-host/", "/\\/other-host/",
    "/.//other-host/", "/..//other-host/", "/./..//other-host/", "/\x00/other-host/", "/\x1f/other-host/",
    "/\x7f/other-host/", " //other-host/", "\t//other-host/", "https://other-host/", "http:other-host",
    "javascript:alert(1)", "data:text/html,hi", "other-host", "", "scanner.html",
]
SAME_SITE = ["/scanner.html", "/dashboard.html?scope=area:lucknow", "/bills.html#top", "/a%20b/../scanner.html"]


def runtimes() -> list[str]:
    found = []
    for name, probe in (("node", node_path), ("chromium", chromium_path)):
        try:
            probe()
            found.append(name)
        except Unavailable:
            pass
    return found


@pytest.mark.parametrize("runtime", ["node", "chromium"])
def test_next_is_a_page_of_this_site_only(runtime: str, request: pytest.FixtureRequest) -> None:
    if runtime not in runtimes():
        skip_loudly(f"sameOriginUrl in {runtime}", Unavailable(f"no {runtime}"))
    browser = request.getfixturevalue("browser") if runtime == "chromium" else None
    out = run_module(runtime, "js/session.js",
                     "(m, arg) => arg.values.map((v) => m.sameOriginUrl(v, arg.origin))",
                     {"values": HOSTILE + SAME_SITE, "origin": ORIGIN}, browser)
    landed = dict(zip(HOSTILE, out[:len(HOSTILE)], strict=True))
    assert {value: url for value, url in landed.items() if url is not None and not url.startswith(f"{ORIGIN}/")} == {}
    assert [value for value, url in landed.items() if url is not None] == [  # paths of this site, if odd ones
        "/.//other-host/", "/..//other-host/", "/./..//other-host/"]
    assert out[len(HOSTILE):] == [f"{ORIGIN}/scanner.html", f"{ORIGIN}/dashboard.html?scope=area:lucknow",
                                  f"{ORIGIN}/bills.html#top", f"{ORIGIN}/scanner.html"]


def test_login_page_never_sends_to_another_host(browser: Any) -> None:
    me = {"user": {"id": 1, "username": "tester", "role": "biller", "area": "lucknow"}, "home": "/bills.html"}
    with static_web({"/api/me": json.dumps(me).encode()}) as base:
        context = browser.new_context(service_workers="block")
        foreign: list[str] = []
        context.route(lambda url: not url.startswith(base),
                      lambda route: (foreign.append(route.request.url), route.abort()))
        page = context.new_page()
        for value in HOSTILE:
            page.goto(f"{base}/?next={quote(value, safe='')}")
            page.wait_for_url(lambda url: "next=" not in url)
            assert page.url.startswith(f"{base}/"), (value, page.url)
        page.goto(f"{base}/?next={quote('/scanner.html?x=1', safe='')}")
        page.wait_for_url(f"{base}/scanner.html?x=1")
        context.close()
    assert foreign == []
