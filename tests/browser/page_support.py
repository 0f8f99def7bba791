"""Helpers of the page tests: a phone's viewport, an operator's hands (login, a wedge scanner), and
what a reviewer checks on every screen (no script errors, nothing wider than the screen)."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from playwright.sync_api import expect

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
    process = hub.process.process
    assert process is not None
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)
