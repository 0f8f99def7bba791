"""A wall screen that stops reading must not slow scanning, and is coalesced, then closed with 4008.

The stuck dashboard is a raw TCP socket with a tiny receive buffer that does the websocket handshake
by hand and then reads nothing. The hub's queue for it (DASHBOARD_QUEUE_BYTES=65536 here: room for a
few deltas of a fast scanner) only comes into play once the socket itself is full, and the kernel
takes a lot first: the hub's send buffer grows up to net.ipv4.tcp_wmem's maximum (4 MiB on Linux by
default), hundreds of deltas. So the
stuck client first asks for snapshots, many (it still reads nothing), and the hub's own snapshots
fill its buffers; from then on the hub's sends to it block. Scanning is measured twice on the same
hub, without and with the stuck screen; a healthy dashboard beside it must get every delta, in
order, never a coalescing snapshot.
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import msgpack
import pytest

from hub.codes import Close
from tests.dashboard_support import Account, make_account
from tests.hubprocess import HubProcess
from tests.remote_support import RemoteDashboard, RemoteScanner, commit_seq

pytestmark = pytest.mark.slow

OPS = 2000
WINDOW = 16
SNAPSHOTS_ASKED = 1500  # some 15 MB of snapshots: more than the kernel buffers
SEND_TIMEOUT = 10.0  # hub.dashboard.SEND_TIMEOUT, in the hub process (its CLOSE_TIMEOUT is 5 s)


# --- a dashboard that never reads ----------------------------------------------------------------


@dataclass
class StuckDashboard:
    """A websocket opened by hand on a socket with a tiny receive buffer, then left unread."""

    hub: HubProcess
    account: Account
    sock: socket.socket = field(init=False)
    buffered: bytes = b""

    def open(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
        self.sock.settimeout(10)
        self.sock.connect(("127.0.0.1", self.hub.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws/dashboard HTTP/1.1\r\nHost: 127.0.0.1:{self.hub.port}\r\n"
                           f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nCookie: tt_session={self.account.token}\r\n\r\n").encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(1)  # byte by byte: not a byte past the handshake is read
            assert chunk, "the hub closed during the handshake"
            response += chunk
        assert response.startswith(b"HTTP/1.1 101"), response

    def ask_for_snapshots(self, count: int) -> None:
        """Send `count` resync requests (masked frames, as a client must); read nothing."""
        frame = _client_frame(msgpack.packb({"t": "resync"}))
        self.sock.sendall(frame * count)

    def read_all(self, timeout: float) -> tuple[list[dict[str, Any]], int | None]:
        """Now read: every message the hub had queued, and the close code if a close came."""
        self.sock.settimeout(timeout)
        messages: list[dict[str, Any]] = []
        data = b""
        while True:
            frame = _parse(data)
            if frame is None:
                try:
                    chunk = self.sock.recv(65536)
                except TimeoutError:
                    return messages, None
                if not chunk:
                    return messages, None
                data += chunk
                continue
            opcode, payload, data = frame
            if opcode == 0x8:
                return messages, struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
            if opcode in (0x1, 0x2):
                messages.append(msgpack.unpackb(payload))

    def close(self) -> None:
        self.sock.close()


def _client_frame(payload: bytes) -> bytes:
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x82, 0x80 | len(payload)]) + mask + masked


def _parse(data: bytes) -> tuple[int, bytes, bytes] | None:
    """One unmasked server frame off the front of `data`: (opcode, payload, rest), or None."""
    if len(data) < 2:
        return None
    opcode, length, offset = data[0] & 0x0F, data[1] & 0x7F, 2
    if length == 126:
        if len(data) < 4:
            return None
        length, offset = struct.unpack("!H", data[2:4])[0], 4
    elif length == 127:
        if len(data) < 10:
            return None
        length, offset = struct.unpack("!Q", data[2:10])[0], 10
    if len(data) < offset + length:
        return None
    return opcode, data[offset:offset + length], data[offset + length:]


# --- scanning, measured --------------------------------------------------------------------------


def workload(start: int, count: int) -> list[dict[str, Any]]:
    """Mini parents of 15, each filled completely: `count` operations from parent number `start`."""
    ops: list[dict[str, Any]] = []
    n = start
    while len(ops) < count:
        parent = f"M444-{n:05d}"
        ops.append({"op": "parent", "code": parent})
        ops += [{"op": "child", "code": f"SL{n:05d}{k:02d}", "parent": parent} for k in range(15)]
        n += 1
    return ops[:count]


@dataclass
class Run:
    seconds: float
    latencies: list[float]

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    def __str__(self) -> str:
        return (f"{len(self.latencies)} ops in {self.seconds:.2f} s, ack latency median "
                f"{self.percentile(0.5) * 1000:.1f} ms, p99 {self.percentile(0.99) * 1000:.1f} ms, "
                f"max {max(self.latencies) * 1000:.1f} ms")


async def scan(scanner: RemoteScanner, ops: list[dict[str, Any]]) -> Run:
    first = len(scanner.acks)
    started = time.monotonic()
    await asyncio.wait_for(scanner.pipeline(ops, WINDOW), 120)
    acks = scanner.acks[first:]
    assert [a.reply["code"] for a in acks] == ["OK"] * len(ops)
    return Run(time.monotonic() - started, [a.latency for a in acks])


def consecutive(dash: RemoteDashboard) -> bool:
    """One snapshot, then deltas each starting right after the one before."""
    sent = [m for _, m in dash.messages if m["t"] in ("snapshot", "delta")]
    return all(m["t"] == "delta" and m["from"] == before["seq"] + 1 for before, m in zip(sent, sent[1:]))


async def test_a_dashboard_that_never_reads_does_not_slow_scanning(
        hub_process: type[HubProcess], clean_db: asyncpg.Pool) -> None:
    pool = clean_db
    # One scanner sends 4,000 operations as fast as the hub takes them: above a device's default rate.
    (hub,) = [hub_process(TIMEZONE="UTC", DASHBOARD_QUEUE_BYTES="65536", DEVICE_OPS_PER_SECOND="100000")]
    await asyncio.to_thread(hub.start)
    admin = await make_account(pool, "admin")
    dispatcher = await make_account(pool, "dispatcher", "akola")

    async with RemoteDashboard(hub, "", admin) as healthy, RemoteScanner(hub, dispatcher) as scanner:
        await healthy.until(lambda: healthy.view.seq is not None, 10, "snapshot")
        baseline = await scan(scanner, workload(1, OPS))
        baseline_seq = await commit_seq(pool)

        stuck = StuckDashboard(hub, admin)
        await asyncio.to_thread(stuck.open)
        try:
            await asyncio.to_thread(stuck.ask_for_snapshots, SNAPSHOTS_ASKED)
            stuck_since = time.monotonic()
            await asyncio.sleep(0.5)
            with_stuck = await scan(scanner, workload(1000, OPS))
            print(f"\nwithout a stuck dashboard: {baseline}\nwith a stuck dashboard:    {with_stuck}")
            # Generous bounds (the machine may be busy): the stuck screen must not make scanning wait.
            assert with_stuck.seconds < baseline.seconds * 4 + 5
            assert with_stuck.percentile(0.99) < 3.0 and max(with_stuck.latencies) < 5.0

            # The healthy dashboard beside it got every delta, in order, and no coalescing snapshot.
            seq = await commit_seq(pool)
            await healthy.until(lambda: healthy.view.seq == seq, 10, f"seq {seq}")
            assert healthy.view.snapshots == 1 and healthy.view.gaps == 0 and consecutive(healthy)
            assert healthy.view.counters["accepted"] == 2 * OPS
            assert healthy.view.counters["parents_completed"] == 2 * (OPS // 16)

            # Nothing read for SEND_TIMEOUT seconds: the hub has given up on the stuck screen. When it
            # reads at last, it finds what the kernel held, then a coalescing snapshot, then 4008.
            # (Not later than CLOSE_TIMEOUT after that, or the hub has dropped it without a close.)
            await asyncio.sleep(max(0.0, stuck_since + SEND_TIMEOUT + 2.5 - time.monotonic()))
            messages, code = await asyncio.to_thread(stuck.read_all, 5)
        finally:
            stuck.close()
        kinds = [(m["t"], m["seq"]) for m in messages if m["t"] in ("snapshot", "delta")]
        before = max(n for n, (_, seq) in enumerate(kinds) if seq <= baseline_seq) + 1
        during = kinds[before:]
        print(f"the stuck dashboard, read at last: {before} snapshots of seq {baseline_seq} (what the kernel "
              f"held), then {[k for k, _ in during].count('delta')} deltas and "
              f"{[k for k, _ in during].count('snapshot')} snapshots for the {seq - baseline_seq} batches "
              f"scanned meanwhile, then close {code}")
        assert all(kind == "snapshot" for kind, _ in kinds[:before])
        # Of the batches scanned while it was stuck it got nothing, or one coalescing snapshot: the
        # backlog was dropped, not kept (DashboardConnection.coalesced counts that, in-process).
        # Closed with 4008, unless (on a slow machine) its send had not been blocked that long yet.
        assert [kind for kind, _ in during] in ([], ["snapshot"])
        assert code == Close.SLOW_CONSUMER or (code is None and during), code
        assert [s for _, s in kinds] == sorted(s for _, s in kinds)

        # The hub is none the worse: scanning and the healthy dashboard go on.
        more = await scan(scanner, workload(3000, 100))
        seq = await commit_seq(pool)
        await healthy.until(lambda: healthy.view.seq == seq, 10, f"seq {seq}")
        assert healthy.view.snapshots == 1 and consecutive(healthy) and more.percentile(0.99) < 3.0
