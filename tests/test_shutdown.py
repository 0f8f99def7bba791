"""SIGTERM: the hub stops accepting, commits and acks what it accepted, then closes with 1012."""

from __future__ import annotations

import asyncio
import signal

import asyncpg
import httpx
import msgpack
import websockets

from tests.conftest import ADMIN_PASSWORD
from tests.hubprocess import create_users, login

OPS = 200


async def _login(base: str, username: str, password: str) -> str:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post("/api/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return response.cookies["tt_session"]


async def test_sigterm_acks_accepted_operations_then_closes_1012(
        hub_process: type, clean_db: asyncpg.Pool) -> None:
    hub = hub_process().start()
    admin = await _login(hub.url, "admin", ADMIN_PASSWORD)
    async with httpx.AsyncClient(base_url=hub.url, headers={"cookie": f"tt_session={admin}"}) as http:
        created = await http.post("/api/users", json={"username": "shutdown-op", "password": "long-password-1",
                                                      "role": "dispatcher", "area": "jaipur"})
        assert created.status_code == 201, created.text
    token = await _login(hub.url, "shutdown-op", "long-password-1")

    ws_url = hub.url.replace("http", "ws") + "/ws/scan"
    async with websockets.connect(ws_url, additional_headers={"cookie": f"tt_session={token}"}) as ws:
        await ws.send(msgpack.packb({"t": "hello", "device": "shutdown-dev", "last_seq": 0}))
        assert msgpack.unpackb(await ws.recv())["t"] == "welcome"
        for seq in range(1, OPS + 1):
            if seq % 31 == 1:
                op = {"op": "parent", "code": f"SB{70000 + seq:05d}"}
            else:
                op = {"op": "child", "code": f"SD{seq:06d}", "parent": f"SB{70000 + seq - (seq - 1) % 31:05d}"}
            await ws.send(msgpack.packb({"t": "op", "seq": seq, **op}))
        await asyncio.sleep(0.02)
        assert hub.process is not None
        hub.process.send_signal(signal.SIGTERM)
        acks = []
        try:
            while True:
                acks.append(msgpack.unpackb(await asyncio.wait_for(ws.recv(), 20)))
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1012
    assert hub.process.wait(30) == 0
    hub.process = None

    # Operations still unread when the signal came are neither applied nor acked (the client resends
    # them); every operation the hub applied was acked before the close.
    assert acks and all(ack["t"] == "ack" and ack["code"] == "OK" and not ack["retry"] for ack in acks), acks
    assert [ack["seq"] for ack in acks] == list(range(1, len(acks) + 1))
    stored = await clean_db.fetchval("SELECT count(*) FROM scans WHERE device_id = 'shutdown-dev'")
    assert stored == len(acks)


async def test_sigterm_fails_readiness_at_once_and_serves_through_the_notice(
        hub_process: type, clean_db: asyncpg.Pool) -> None:
    """DRAIN_NOTICE_SECONDS: /ready answers 503 "draining" as soon as the signal comes, while the hub
    still accepts websockets and acks scans (a load balancer moves new connections elsewhere meanwhile);
    then it closes them with 1012 and exits."""
    hub = hub_process(DRAIN_NOTICE_SECONDS="4").start()
    await create_users(clean_db, ["notice-op"])
    token = await login(hub.url, "notice-op")
    assert httpx.get(f"{hub.url}/ready").json()["status"] == "ok"
    assert hub.process is not None
    hub.process.send_signal(signal.SIGTERM)
    deadline = asyncio.get_running_loop().time() + 2
    while (ready := httpx.get(f"{hub.url}/ready")).status_code == 200:
        assert asyncio.get_running_loop().time() < deadline, "still ready 2 s after SIGTERM"
        await asyncio.sleep(0.05)
    assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
    assert httpx.get(f"{hub.url}/health").status_code == 200

    async with websockets.connect(hub.ws_url("/ws/scan"), additional_headers={"cookie": f"tt_session={token}"}) as ws:
        await ws.send(msgpack.packb({"t": "hello", "device": "notice-dev", "last_seq": 0}))
        assert msgpack.unpackb(await ws.recv())["t"] == "welcome"
        await ws.send(msgpack.packb({"t": "op", "seq": 1, "op": "parent", "code": "SB71001"}))
        ack = msgpack.unpackb(await asyncio.wait_for(ws.recv(), 5))
        assert (ack["t"], ack["seq"], ack["code"]) == ("ack", 1, "OK"), ack
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 1012
    assert hub.process.wait(30) == 0
    hub.process = None
