"""Thousands of connected scanners between two scans, in worker processes, for a reconnect storm.

Each is a `Scanner` that says hello and then holds its connection; when the connection drops it
reconnects as the protocol says (backoff with jitter) and says hello again, and the time from the
drop to its new welcome is kept. The workers report those times, so the run can tell how long the
hub took to take every one of them back.

The workers run at a lower CPU priority (`NICENESS`). On a machine the hub shares with them, 4,000
websocket handshakes at once (about 1.3 ms of client CPU each) took both cores for four seconds:
the hub ran at 40 % waiting for them, and the process of the scanners whose recovery is measured got
5 %. In the field every handheld has a CPU of its own; here the idle ones take what the hub and the
measured scanners leave, which is still more than the hub can take in.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import random
import time
from typing import Any

from loadtest.cli import run_event_loop
from loadtest.connecting import connect_all
from loadtest.fleet import collect_answers
from loadtest.scanner import Scanner, Target
from loadtest.workload import ChildCodes, ParentCodes, Workflow

PROCESSES = 2
HOLD_SECONDS = 3600.0
"""How long an idle scanner keeps reconnecting at most (the run stops it long before)."""
NICENESS = 10


class Idler(Scanner):
    """A scanner that sends nothing: it only stays connected, and comes back after a drop."""

    def __init__(self, device: str, target: Target) -> None:
        self.errors: dict[str, int] = {}
        super().__init__(device, target, Workflow(ParentCodes(set(), random.Random()), ChildCodes("IDLE")),
                         window=1, interval=None, on_ack=lambda ack: None, on_error=self._count)
        self.returns: list[tuple[float, float]] = []
        """(dropped at, welcomed again at) for every drop, on the machine's monotonic clock."""
        self.stopping = False

    @property
    def connected(self) -> bool:
        return self._ws is not None

    def _count(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1

    async def hold(self) -> None:
        until = time.monotonic() + HOLD_SECONDS
        while self._ws is not None:
            await self._ws.wait_closed()
            self._ws = None
            if self.stopping:
                return
            dropped = time.monotonic()
            await self._reconnect(until)
            self.returns.append((dropped, time.monotonic()))

    async def stop(self) -> None:
        self.stopping = True
        if self._ws is not None:
            await self._ws.close()


class Storm:
    """`targets`' idle scanners, spread over PROCESSES workers; `start()` connects them all."""

    def __init__(self, targets: list[Target], device_prefix: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._outbox: Any = context.Queue()
        self._inboxes: list[Any] = [context.Queue() for _ in range(PROCESSES)]
        self._workers = [context.Process(target=_work, args=(targets[n::PROCESSES], f"{device_prefix}{n}-",
                                                              inbox, self._outbox), name=f"storm-{n}", daemon=True)
                         for n, inbox in enumerate(self._inboxes)]

    async def start(self) -> int:
        """Start the workers; how many idle scanners connected."""
        for worker in self._workers:
            worker.start()
        return sum(answer["connected"] for answer in await self._answers())

    async def returns(self) -> dict[str, Any]:
        """Every (dropped, back) pair so far, and the errors the scanners met."""
        for inbox in self._inboxes:
            inbox.put("returns")
        answers = await self._answers()
        errors: dict[str, int] = {}
        for answer in answers:
            for kind, count in answer["errors"].items():
                errors[kind] = errors.get(kind, 0) + count
        return {"returns": [pair for answer in answers for pair in answer["returns"]],
                "connected": sum(answer["connected"] for answer in answers), "errors": errors}

    async def stop(self) -> None:
        for inbox in self._inboxes:
            inbox.put("stop")
        await self._answers()
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 10)

    def __enter__(self) -> Storm:
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self._workers:
            if worker.is_alive():
                worker.kill()

    async def _answers(self) -> list[dict[str, Any]]:
        return await collect_answers(self._outbox, len(self._workers), "a storm worker")


def _work(targets: list[Target], device_prefix: str, inbox: Any, outbox: Any) -> None:
    try:
        os.nice(NICENESS)
        idlers = [Idler(f"{device_prefix}{n:05d}", target) for n, target in enumerate(targets)]
        run_event_loop(_serve(idlers, inbox, outbox))
    except BaseException as exc:
        outbox.put({"failed": f"{type(exc).__name__}: {exc}"})
        raise


async def _serve(idlers: list[Idler], inbox: Any, outbox: Any) -> None:
    connected: list[Idler] = await connect_all(idlers)
    holders = [asyncio.create_task(idler.hold()) for idler in connected]
    outbox.put({"connected": len(connected)})
    while True:
        command = await asyncio.to_thread(inbox.get)
        if command == "returns":
            errors: dict[str, int] = {}
            for idler in idlers:
                for kind, count in idler.errors.items():
                    errors[kind] = errors.get(kind, 0) + count
            outbox.put({"returns": [pair for idler in connected for pair in idler.returns],
                        "connected": sum(idler.connected for idler in connected), "errors": errors})
        elif command == "stop":
            await asyncio.gather(*(idler.stop() for idler in connected))
            for holder in holders:
                holder.cancel()
            await asyncio.gather(*holders, return_exceptions=True)
            outbox.put({"stopped": True})
            return
