"""The small stand-ins every open websocket holds: `Flag` for asyncio.Event, `Inbox` for uvicorn's asyncio.Queue."""

from __future__ import annotations

import asyncio
import sys

from hub.flag import Flag
from hub.wsprotocol import Inbox


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_set_wakes_every_waiter_even_if_cleared_before_they_run() -> None:
    flag = Flag()
    waiters = [asyncio.create_task(flag.wait()) for _ in range(3)]
    await _settle()
    assert not any(waiter.done() for waiter in waiters)
    flag.set()
    flag.clear()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert not flag.is_set()


async def test_a_set_flag_is_waited_for_at_once_until_cleared() -> None:
    flag = Flag(True)
    await asyncio.wait_for(flag.wait(), 1)
    flag.clear()
    waiter = asyncio.create_task(flag.wait())
    await _settle()
    assert not waiter.done()
    flag.set()
    await asyncio.wait_for(waiter, 1)


async def test_a_cancelled_waiter_leaves_the_others_waiting_and_woken() -> None:
    flag = Flag()
    cancelled, kept = asyncio.create_task(flag.wait()), asyncio.create_task(flag.wait())
    await _settle()
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert cancelled.cancelled() and not kept.done()
    flag.set()
    await asyncio.wait_for(kept, 1)


def test_a_flag_is_a_tenth_of_an_event() -> None:
    flag, event = Flag(), asyncio.Event()
    flag_bytes = sys.getsizeof(flag) + sys.getsizeof(flag._waiters)
    event_bytes = sys.getsizeof(event) + sys.getsizeof(vars(event)) + sys.getsizeof(event._waiters)
    assert flag_bytes * 5 < event_bytes


async def test_the_inbox_hands_out_messages_in_order_and_waits_when_empty() -> None:
    inbox = Inbox()
    assert inbox.empty()
    inbox.put_nowait({"type": "websocket.connect"})
    inbox.put_nowait({"type": "websocket.receive", "bytes": b"1"})
    assert not inbox.empty()
    assert await inbox.get() == {"type": "websocket.connect"}
    assert await inbox.get() == {"type": "websocket.receive", "bytes": b"1"}
    assert inbox.empty()
    getter = asyncio.create_task(inbox.get())
    await _settle()
    assert not getter.done()
    inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    assert await asyncio.wait_for(getter, 1) == {"type": "websocket.disconnect", "code": 1000}


async def test_a_get_cancelled_after_a_put_loses_nothing() -> None:
    """A dashboard's receive is cancelled at each re-check: a message put just before stays for the next get."""
    inbox = Inbox()
    getter = asyncio.create_task(inbox.get())
    await _settle()
    inbox.put_nowait({"type": "websocket.receive", "text": "x"})
    getter.cancel()
    await asyncio.gather(getter, return_exceptions=True)
    assert getter.cancelled()
    assert await asyncio.wait_for(inbox.get(), 1) == {"type": "websocket.receive", "text": "x"}
