"""Headless Chromium and Node for the tests of web/: finding them, serving web/, running its modules.

The browser is Debian's `chromium` driven by Playwright's Python package (never a downloaded
browser). Where /usr/bin/chromium is missing and we run as root, it is installed with apt-get;
only where that is truly impossible do the browser tests skip, with the reason.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hub.api.security import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]
WEB_DIR = ROOT / "web"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required",
]


class Unavailable(Exception):
    """A runtime the tests need cannot be found or installed; the message says why."""


_chromium: str | Unavailable | None = None
SKIPPED: list[str] = []  # reasons of loud skips, repeated in the terminal summary


def chromium_path() -> str:
    """/usr/bin/chromium, installing Debian's package first when it is missing and we are root.

    Decided once per test run: a failed installation is not tried again for every test.
    """
    global _chromium
    if _chromium is None:
        try:
            _chromium = _find_or_install_chromium()
        except Unavailable as exc:
            _chromium = exc
    if isinstance(_chromium, Unavailable):
        raise _chromium
    return _chromium


def skip_loudly(what: str, exc: Unavailable) -> None:
    """Skip the current test, saying loudly why (also in the run's summary)."""
    import pytest

    reason = f"{what} SKIPPED: {exc}"
    if reason not in SKIPPED:
        SKIPPED.append(reason)
    pytest.skip(reason)


def _find_or_install_chromium() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        raise Unavailable(f"the Playwright Python package is not importable ({exc}); "
                          "install the test extras: pip install -e '.[test]'") from None
    if CHROMIUM.exists():
        return str(CHROMIUM)
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        raise Unavailable(f"{CHROMIUM} is missing and the tests do not run as root, so they cannot "
                          "install it: run `sudo apt-get install -y chromium`")
    if shutil.which("apt-get") is None:
        raise Unavailable(f"{CHROMIUM} is missing and there is no apt-get to install Debian's chromium")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium"]
    result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env, timeout=600)
        result = subprocess.run(install, capture_output=True, text=True, env=env, timeout=900)
    if not CHROMIUM.exists():
        tail = (result.stdout + result.stderr).strip().splitlines()[-5:]
        raise Unavailable(f"`apt-get install -y chromium` did not provide {CHROMIUM}: " + " | ".join(tail))
    return str(CHROMIUM)


def launch_options() -> dict[str, Any]:
    return {"executable_path": chromium_path(), "args": CHROMIUM_ARGS, "headless": True}


def node_path() -> str:
    found = shutil.which("node") or shutil.which("nodejs")
    if found is None:
        raise Unavailable("no `node` on PATH")
    return found




class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css"}

    def __init__(self, *args: Any, extra: dict[str, bytes], **kwargs: Any) -> None:
        self.extra = extra
        super().__init__(*args, **kwargs)

    def end_headers(self) -> None:
        # web/ served without a hub gets the hub's own policy, so that every page test runs under it.
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        super().end_headers()

    def do_GET(self) -> None:
        body = self.extra.get(self.path)
        if body is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def static_web(extra: dict[str, bytes] | None = None) -> Iterator[str]:
    """web/ over HTTP on a free port, without a hub: for tests of modules and of faked hubs.

    `extra` maps paths to JSON bodies served besides web/ (test data too big to pass to the
    browser through Playwright's protocol quickly).
    """
    handler = functools.partial(_QuietHandler, directory=str(WEB_DIR), extra=extra or {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="static-web", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def run_in_node(module: str, snippet: str, arg: Any) -> Any:
    """Import web/`module` in Node and return `await (snippet)(module, arg)` (JSON in, JSON out).

    The module is copied as .mjs so Node loads it as the ES module it is.
    """
    node = node_path()
    with tempfile.TemporaryDirectory(prefix="tt-node-") as tmp:
        shutil.copy(WEB_DIR / module, Path(tmp) / "module.mjs")
        harness = Path(tmp) / "harness.mjs"
        harness.write_text(
            'import * as mod from "./module.mjs";\n'
            'import { readFileSync, writeFileSync } from "node:fs";\n'
            'const arg = JSON.parse(readFileSync(0, "utf8"));\n'
            f"const out = await ({snippet})(mod, arg);\n"
            'writeFileSync(1, JSON.stringify(out));\n'
        )
        result = subprocess.run([node, str(harness)], input=json.dumps(arg), capture_output=True,
                                text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(f"node failed ({result.returncode}):\n{result.stderr}")
    return json.loads(result.stdout)


def run_in_chromium(browser: Any, module: str, snippet: str, arg: Any) -> Any:
    """Import web/`module` in a fresh context of `browser` and return `await (snippet)(module, arg)`."""
    with static_web({"/__test_arg.json": json.dumps(arg).encode()}) as base:
        context = browser.new_context()
        try:
            page = context.new_page()
            page.goto(f"{base}/{module}")  # any document of the origin will do
            return page.evaluate(
                "async ([url, argUrl]) => { const mod = await import(url);"
                " const arg = await (await fetch(argUrl)).json();"
                f" return await ({snippet})(mod, arg); }}",
                [f"{base}/{module}", f"{base}/__test_arg.json"],
            )
        finally:
            context.close()


def run_module(runtime: str, module: str, snippet: str, arg: Any, browser: Any = None) -> Any:
    """`browser`: the Chromium to run in, for runtime "chromium"; None (a test outside tests/browser,
    where the package's Chromium is gone): one of its own for this call."""
    if runtime == "node":
        return run_in_node(module, snippet, arg)
    if runtime != "chromium":
        raise ValueError(runtime)
    if browser is not None:
        return run_in_chromium(browser, module, snippet, arg)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        own = p.chromium.launch(**launch_options())
        try:
            return run_in_chromium(own, module, snippet, arg)
        finally:
            own.close()
