"""Idle connections by the thousand, in worker processes of their own: the crowd around a load run.

Ten thousand websockets on one hub are mostly connections that do little: handhelds that said
hello and wait, dashboards that take every delta of their area. A holder opens them (scanners say
hello and wait for their welcome; dashboards take their snapshot), then reads and drops whatever
the hub sends, so the hub's buffers never fill, until it is told to stop. It decodes nothing: the
load generator's CPU is part of the budget on a shared machine, and the measured scanners and
dashboards of the run (loadtest/runner.py) are the ones that time anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import resource
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import msgpack
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from loadtest.dashboard import MAX_SNAPSHOT
from loadtest.fleet import collect_answers
from loadtest.pauses import no_full_collections
from loadtest.scanner import MAX_FRAME, OPEN_TIMEOUT, Target, open_socket

PROCESSES = 4
CONNECT_CONCURRENCY = 25
"""Handshakes in flight per worker: four workers keep a hundred at once in flight."""
ANSWER_TIMEOUT = 600.0


@dataclass(frozen=True)
class Held:
    """One idle connection: a scanner (with its device id) or a dashboard."""

    kind: Literal["scanner", "dashboard"]
    target: Target
    device: str = ""


def raise_open_files() -> int:
    """Raise this process's soft limit on open files to its hard limit (children inherit it); the limit."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Holders:
    """Connections spread over up to PROCESSES workers; `start` connects them all, `stop` closes them."""

    def __init__(self, held: list[Held]) -> None:
        shares = [held[n::PROCESSES] for n in range(min(PROCESSES, len(held)))]
        context = multiprocessing.get_context("spawn")
        self._outbox: Any = context.Queue()
        self._stops = [context.Event() for _ in shares]
        self._workers = [context.Process(target=_work, args=(share, stop, self._outbox),
                                         name=f"holders-{n}", daemon=True)
                         for n, (share, stop) in enumerate(zip(shares, self._stops))]

    async def start(self) -> tuple[int, Counter[str]]:
        """Start the workers and open every connection; how many are open, and the errors."""
        for worker in self._workers:
            worker.start()
        return await self._answers()

    async def stop(self) -> tuple[int, Counter[str]]:
        """Close every connection; how many were still open when told to stop, and every error."""
        for stop in self._stops:
            stop.set()
        answer = await self._answers()
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 30)
        return answer

    def __enter__(self) -> Holders:
        return self

    def __exit__(self, *exc: object) -> None:
        """Whatever happened: no worker outlives the run."""
        for worker in self._workers:
            if worker.is_alive():
                worker.kill()

    async def _answers(self) -> tuple[int, Counter[str]]:
        total, errors = 0, Counter[str]()
        for answer in await collect_answers(self._outbox, len(self._workers), "a holder worker", ANSWER_TIMEOUT):
            total += answer["open"]
            errors.update(answer["errors"])
        return total, errors


def _work(held: list[Held], stop: Any, outbox: Any) -> None:
    try:
        asyncio.run(_hold(held, stop, outbox))
    except BaseException as exc:
        outbox.put({"failed": f"{type(exc).__name__}: {exc}"})
        raise


async def _hold(held: list[Held], stop: Any, outbox: Any) -> None:
    errors: Counter[str] = Counter()
    limit = asyncio.Semaphore(CONNECT_CONCURRENCY)

    def on_error(kind: str) -> None:
        errors[kind] += 1

    async def one(spec: Held) -> ClientConnection | None:
        async with limit:
            return await _open(spec, on_error)

    sockets = [ws for ws in await asyncio.gather(*(one(spec) for spec in held)) if ws is not None]
    readers = [asyncio.create_task(_drop_all(ws, on_error)) for ws in sockets]
    outbox.put({"open": len(sockets), "errors": dict(errors)})
    with no_full_collections():  # a pause here makes the hub find these readers behind (4008)
        await asyncio.to_thread(stop.wait)
    still_open = sum(not reader.done() for reader in readers)
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    outbox.put({"open": still_open, "errors": dict(errors)})


async def _open(spec: Held, on_error: Any) -> ClientConnection | None:
    """Open one connection and take its first frame (a welcome, or a snapshot); None when that failed."""
    headers = {"Cookie": f"tt_session={spec.target.token}"}
    if spec.kind == "dashboard":
        return await open_socket(spec.target.ws_url("/ws/dashboard"), headers, MAX_SNAPSHOT, on_error, "DASHBOARD_")
    ws = await open_socket(spec.target.ws_url("/ws/scan"), headers, MAX_FRAME, on_error)
    if ws is None:
        return None
    try:
        await ws.send(msgpack.packb({"t": "hello", "device": spec.device, "last_seq": 0}))
        welcome = msgpack.unpackb(await asyncio.wait_for(ws.recv(), OPEN_TIMEOUT))
    except (ConnectionClosed, TimeoutError):
        welcome = None
    if not isinstance(welcome, dict) or welcome.get("t") != "welcome":
        on_error("NO_WELCOME")
        await ws.close()
        return None
    return ws


async def _drop_all(ws: ClientConnection, on_error: Any) -> None:
    """Read and drop every frame until the connection closes; a close we did not ask for is an error."""
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass
    if ws.close_code not in (1000, 1001):
        on_error(f"HELD_CLOSED_{ws.close_code}")
