"""Slow-loris clients are dropped (HANDSHAKE_TIMEOUT): request headers sent a byte at a time or never,
and a scanner websocket that never says hello, on a real hub process (uvicorn parses the headers)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from typing import Any

import asyncpg
import httpx
import msgpack
import psutil
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from hub import accounts
from tests.hubprocess import create_users, login

SOCKETS = 30


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the hub closes the connection within `seconds` (reading whatever it sends first)."""
    sock.settimeout(seconds)
    try:
        while sock.recv(4096):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


async def test_connections_that_do_not_finish_their_headers_are_dropped(hub_process: Any,
                                                                        clean_db: asyncpg.Pool) -> None:
    await accounts.create_user(clean_db, username="loris", password="scan-all-day-long", role="dispatcher",
                               area="lucknow")
    hub = await asyncio.to_thread(lambda: hub_process(HANDSHAKE_TIMEOUT="1.5").start())
    started = time.monotonic()
    lorises = []
    for n in range(SOCKETS):
        sock = socket.create_connection(("127.0.0.1", hub.port))
        if n % 3 == 1:
            sock.sendall(b"GET /ws/scan HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n")
        elif n % 3 == 2:
            sock.sendall(b"GET /api/me HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
        lorises.append(sock)
    await asyncio.sleep(0.5)
    for sock in lorises[2::3]:
        sock.sendall(b"b")  # still trickling: it does not buy more time
    assert all(await asyncio.gather(*(asyncio.to_thread(closed_within, sock, 6) for sock in lorises)))
    assert time.monotonic() - started < 8
    for sock in lorises:
        sock.close()

    # honest clients are served as before, and a keep-alive connection makes many requests
    async with httpx.AsyncClient(base_url=hub.url, timeout=10) as http:
        response = await http.post("/api/login", json={"username": "loris", "password": "scan-all-day-long"})
        assert response.status_code == 200
        token = response.cookies["tt_session"]
        for _ in range(3):
            assert (await http.get("/health")).status_code == 200
            await asyncio.sleep(1)

    # a scanner websocket that never says hello is closed too
    ws = await connect(hub.ws_url("/ws/scan"),
                       additional_headers={"Cookie": f"tt_session={token}"}, open_timeout=10)
    error = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
    assert error["t"] == "error" and "no hello within 1.5 seconds" in error["msg"]
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002

    # the header deadline ends with the headers: a websocket lives on well past it
    ws = await connect(hub.ws_url("/ws/scan"),
                       additional_headers={"Cookie": f"tt_session={token}"}, open_timeout=10)
    await ws.send(msgpack.packb({"t": "hello", "device": "hh-patient", "last_seq": 0}))
    assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))["t"] == "welcome"
    await asyncio.sleep(3)
    await ws.send(msgpack.packb({"t": "ping", "id": 1}))
    assert msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5)) == {"t": "pong", "id": 1}
    await ws.close()


def _upgrade(port: int, token: str) -> socket.socket:
    """A raw /ws/scan connection that has said hello and reads nothing, with a tiny receive buffer."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET /ws/scan HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 f"Cookie: tt_session={token}\r\n\r\n".encode())
    assert sock.recv(12) == b"HTTP/1.1 101"
    sock.sendall(_masked(msgpack.packb({"t": "hello", "device": "hh-deaf", "last_seq": 0})))
    return sock


def _masked(payload: bytes) -> bytes:
    """One client binary frame (masked with a zero key, as RFC 6455 allows)."""
    size = len(payload)
    length = bytes([0x80 | size]) if size < 126 else bytes([0x80 | 126]) + size.to_bytes(2, "big")
    return b"\x82" + length + b"\0\0\0\0" + payload


def _hub_side_open(hub: Any, client_port: int) -> bool:
    return any(c.raddr and c.raddr.port == client_port and c.status == psutil.CONN_ESTABLISHED
               for c in psutil.Process(hub.process.pid).net_connections(kind="tcp"))


async def test_a_client_that_stops_reading_loses_its_socket_not_just_its_session(
        hub_process: Any, clean_db: asyncpg.Pool) -> None:
    """Before: the hub cut such a client (4008) but its close frame sat behind the unread data and
    uvicorn never aborts a transport, so the socket, and its buffers, stayed as long as the client liked."""
    await create_users(clean_db, ["deaf"])
    hub = await asyncio.to_thread(lambda: hub_process(UNREAD_TIMEOUT="2").start())
    sock = _upgrade(hub.port, await login(hub.url, "deaf"))
    client_port = sock.getsockname()[1]
    ping = _masked(msgpack.packb({"t": "ping", "id": "x" * 30_000}))
    sock.settimeout(0.2)
    with contextlib.suppress(OSError):
        for _ in range(400):  # 12 MB of pongs asked for: past SCANNER_QUEUE_BYTES, then nothing is read
            sock.sendall(ping)
    deadline = time.monotonic() + 40
    while _hub_side_open(hub, client_port) and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert not _hub_side_open(hub, client_port)
    sock.close()
