"""Helpers of the page tests: a phone's viewport, an operator's hands (login, a wedge scanner), and
what a reviewer checks on every screen (no script errors, nothing wider than the screen)."""

from __future__ import annotations

import contextlib
import signal
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgpack
from playwright.sync_api import expect
from websockets.sync.client import connect

if TYPE_CHECKING:
    from tests.browser.conftest import LiveHub

PHONE = {"width": 412, "height": 915}  # a common Android phone
NARROW = {"width": 360, "height": 740}  # the narrowest handheld in use


def watch_errors(page: Any) -> list[str]:
    """Uncaught errors of the page's scripts, and whatever the Content-Security-Policy refused."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text)
            if "Content Security Policy" in message.text else None)
    return errors


def log_in(page: Any, username: str, password: str) -> None:
    page.fill("#username", username)
    page.fill("#password", password)
    page.press("#password", "Enter")


def wedge(page: Any, code: str) -> None:
    """What a keyboard-wedge scanner does: type the code into whatever has the focus, press Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def quiet(page: Any) -> None:
    """Wait for the colour flash to fade, so a screenshot shows the page itself."""
    expect(page.locator("#flash.go")).to_have_count(0)


def overflow(page: Any) -> list[str]:
    """Empty when the screen needs no sideways scrolling; else the page's width and each element
    whose right edge passes the viewport (to find the culprit)."""
    return page.evaluate("""() => {
        const width = window.innerWidth, out = [];
        if (document.documentElement.scrollWidth <= width) return out;
        out.push(`page ${document.documentElement.scrollWidth}px`);
        for (const node of document.body.querySelectorAll("*")) {
            const box = node.getBoundingClientRect();
            if (box.width && box.right > width + 0.5 && node.offsetParent !== null)
                out.push(`${node.tagName.toLowerCase()}#${node.id}.${node.className} right ${Math.round(box.right)}px`);
        }
        return out;
    }""")


@contextlib.contextmanager
def frozen(hub: LiveHub) -> Iterator[None]:
    """The hub process stopped dead (SIGSTOP): its sockets stay open but nothing answers, as when
    the Wi-Fi drops without a word. It runs on again (SIGCONT) when the block ends."""
    process = hub.os_process()
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def scan_ops(hub: LiveHub, token: str, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Send `ops` over a websocket of our own (a scanner device of the user whose session `token`
    is), each numbered in turn; their acks."""
    url = hub.url.replace("http://", "ws://") + "/ws/scan"
    with connect(url, additional_headers={"Cookie": f"tt_session={token}"}) as ws:
        ws.send(msgpack.packb({"t": "hello", "device": f"prep-{uuid.uuid4().hex[:8]}", "last_seq": 0}))
        assert msgpack.unpackb(ws.recv(10))["t"] == "welcome"
        for seq, op in enumerate(ops, 1):
            ws.send(msgpack.packb({"t": "op", "seq": seq, **op}))
        return [msgpack.unpackb(ws.recv(10)) for _ in ops]


def fill_parents(hub: LiveHub, token: str, parents: dict[str, int]) -> None:
    """Scan each parent and that many children over a websocket of our own (a dispatcher's scanner)."""
    ops: list[dict[str, Any]] = []
    for parent, count in parents.items():
        ops.append({"op": "parent", "code": parent})
        ops += [{"op": "child", "code": f"K{uuid.uuid4().hex[:10].upper()}", "parent": parent} for _ in range(count)]
    acks = scan_ops(hub, token, ops)
    assert all(a["code"] == "OK" for a in acks), [a for a in acks if a["code"] != "OK"]
