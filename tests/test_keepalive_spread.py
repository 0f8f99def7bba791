"""Keepalive pings, spread (hub/wsprotocol.py): uvicorn pings every connection 20 s after its
handshake, so the connections of a shift (or of a restarted hub) opened together would each ping,
and be answered, in the same few milliseconds, every 20 s."""

from __future__ import annotations

import asyncio

import uvicorn
from uvicorn.server import ServerState

from hub.connections import SPREAD
from hub.wsprotocol import HubWebSocketProtocol

PING_INTERVAL = 20.0


async def test_connections_opened_together_ping_at_different_moments_within_the_interval() -> None:
    config = uvicorn.Config(app=None, ws=HubWebSocketProtocol, ws_ping_interval=PING_INTERVAL)
    loop = asyncio.get_running_loop()
    delays = []
    for _ in range(200):
        protocol = HubWebSocketProtocol(config, ServerState(), {}, loop)
        protocol.schedule_ping()
        assert protocol.ping_timer is not None
        delays.append(protocol.ping_timer.when() - loop.time())
        protocol.ping_timer.cancel()
    assert all(PING_INTERVAL * (1 - SPREAD) - 0.1 <= delay <= PING_INTERVAL for delay in delays)
    assert max(delays) - min(delays) > PING_INTERVAL * SPREAD * 0.8
