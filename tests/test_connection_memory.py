"""Memory per connection is bounded (docs/protocol.md sections 6 and 14): a client that floods pings
and never reads its pongs costs the hub a bounded number of bytes and is closed with 4008. Measured
on a real hub process's RSS, with a generous margin (unbounded, 4,000 pongs of 60 KB are 240 MB).
The close itself is in tests/test_connection_limits.py, in-process, where its code can be read.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import msgpack
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.hubprocess import create_users, login

PINGS = 4000
PING = msgpack.packb({"t": "ping", "id": "x" * 60_000})
MARGIN = 60 * 2**20


@pytest.mark.parametrize("path", ["/ws/scan", "/ws/dashboard"])
async def test_a_client_flooding_pings_without_reading_is_closed_and_memory_stays_bounded(
        hub_process: Any, clean_db: asyncpg.Pool, path: str) -> None:
    await create_users(clean_db, ["flood"])
    hub = await asyncio.to_thread(lambda: hub_process().start())
    assert hub.process is not None
    token = await login(hub.url, "flood")
    ws = await connect(hub.ws_url(path), additional_headers={"Cookie": f"tt_session={token}"},
                       open_timeout=15, max_queue=1, compression=None)
    if path == "/ws/scan":
        await ws.send(msgpack.packb({"t": "hello", "device": "hh-flood", "last_seq": 0}))
    assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 15))["t"] in ("welcome", "snapshot")
    hub_memory = psutil.Process(hub.process.pid)
    before = hub_memory.memory_info().rss

    sent = 0
    peak = before
    sending: asyncio.Future[None] | None = None
    for _ in range(PINGS):
        # A send that blocks means the hub stopped reading from us; it is left to finish (cancelling
        # it would make the client drop the connection itself).
        sending = asyncio.ensure_future(ws.send(PING))
        done, _ = await asyncio.wait({sending}, timeout=1)
        if not done or sending.exception() is not None:
            break
        sent += 1
        if sent % 100 == 0:
            peak = max(peak, hub_memory.memory_info().rss)
    peak = max(peak, hub_memory.memory_info().rss)
    peak = max(peak, hub_memory.memory_info().rss)
    assert peak - before < MARGIN, f"the hub grew by {(peak - before) >> 20} MB after {sent} pings"

    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(20):
            while True:
                await ws.recv()
    # The hub closes with 4008; the close frame is queued behind the pongs the kernel already holds,
    # and the hub's kernel may reset the connection (it holds our unread pings) before we read it.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4008, closed.value
    if sending is not None:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
    assert hub.process.poll() is None


@pytest.mark.parametrize("path", ["/ws/scan", "/ws/dashboard"])
async def test_an_offer_of_compression_is_declined_so_no_connection_holds_zlib_state(
        hub_process: Any, clean_db: asyncpg.Pool, path: str) -> None:
    """docs/protocol.md section 2: browsers always offer permessage-deflate; the hub answers without it."""
    await create_users(clean_db, ["offers"])
    hub = await asyncio.to_thread(lambda: hub_process().start())
    token = await login(hub.url, "offers")
    async with connect(hub.ws_url(path), additional_headers={"Cookie": f"tt_session={token}"},
                       open_timeout=15, compression="deflate") as ws:
        assert ws.response.headers.get("Sec-WebSocket-Extensions") is None
        if path == "/ws/scan":
            await ws.send(msgpack.packb({"t": "hello", "device": "hh-offers", "last_seq": 0}))
        assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 15))["t"] in ("welcome", "snapshot")
