"""A wall screen's token is a secret in its URL: it must not end up in the service worker's cache,
in the history (address bar) or in the Referer of the page's own requests, and a reload of the wall
screen must still connect with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.browsers import static_web
from tests.browser.conftest import until
from tests.browser.dashboard_support import WS_ROUTE, DashboardHub, snapshot, wait_value

pytestmark = pytest.mark.browser

SECRET = "wall-secret-Zq81"
CACHED_URLS = """async () => {
    const urls = [];
    for (const name of await caches.keys())
        for (const request of await (await caches.open(name)).keys()) urls.push(request.url);
    return urls;
}"""


def test_wall_token_stays_out_of_cache_history_and_referer(browser: Any) -> None:
    hub = DashboardHub(lambda index: snapshot(10 + index, 5))
    with static_web() as base:
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        page = context.new_page()
        referers: list[str] = []
        page.on("request", lambda request: referers.append(request.headers.get("referer") or ""))
        page.route_web_socket(WS_ROUTE, hub.handler)
        page.goto(f"{base}/index.html")  # the login page installs the service worker
        page.evaluate("navigator.serviceWorker.ready")
        page.reload()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")

        page.goto(f"{base}/dashboard.html?wall=1&token={SECRET}&scope=area:lucknow")
        wait_value(page, "#wall [data-counter=accepted]", 5, 5000)
        assert f"token={SECRET}" in hub.urls[0]
        assert page.url == f"{base}/dashboard.html?wall=1&scope=area%3Alucknow"
        assert page.evaluate("history.length") == 3  # the entries are replaced, not added

        page.reload()  # a wall screen restarted in its tab: the token is still at hand
        until(page, lambda: len(hub.sockets) == 2)
        wait_value(page, "#wall [data-counter=accepted]", 5, 5000)
        assert f"token={SECRET}" in hub.urls[1]
        assert page.url == f"{base}/dashboard.html?wall=1&scope=area%3Alucknow"

        cached = page.evaluate(CACHED_URLS)
        assert any(url.endswith("/js/dashboard.js") for url in cached), cached  # the worker did run
        assert [url for url in cached if "?" in url] == []
        assert [referer for referer in referers if SECRET in referer] == []
        context.close()
