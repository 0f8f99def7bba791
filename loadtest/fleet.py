"""The run's timed dashboards, in worker processes of their own.

Two hundred dashboards each decoding every delta of their scope took, in the scanners' process,
most of its one core, and the scanners fell behind their schedule, so that the run measured the
load generator instead of the hubs (the suite now times a sample of them and holds the rest:
loadtest/holders.py). Each worker follows its share of the dashboards on an event loop of its own.
The scanners' process streams every ack to the workers (`acked`) and each worker times its
dashboards' events against them (`AckToDelta`): time.monotonic() is the system's one monotonic
clock, the same in every process of the machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
from array import array
from collections import Counter
from collections.abc import Callable
from typing import Any

from loadtest.connecting import connect_all
from loadtest.dashboard import AckToDelta, Dashboard
from loadtest.pauses import no_full_collections
from loadtest.scanner import Ack, Target

PROCESSES = 2
SEND_EVERY = 0.05
"""Seconds between two sends of the acks heard meanwhile to the workers."""
ANSWER_TIMEOUT = 120.0


class Fleet:
    """Dashboards spread over up to PROCESSES workers; commands go to all and their answers are merged."""

    def __init__(self, targets: list[Target], device_prefix: str) -> None:
        shares = [targets[n::PROCESSES] for n in range(min(PROCESSES, len(targets)))]
        context = multiprocessing.get_context("spawn")  # no fork of a process that runs an event loop
        self._outbox: Any = context.Queue()
        self._inboxes: list[Any] = [context.Queue() for _ in shares]
        self._workers = [context.Process(target=_work, args=(share, device_prefix, inbox, self._outbox),
                                         name=f"dashboards-{n}", daemon=True)
                         for n, (share, inbox) in enumerate(zip(shares, self._inboxes))]
        self._acks: list[tuple[str, int, float]] = []
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> int:
        """Start the workers and connect every dashboard; how many connected."""
        for worker in self._workers:
            worker.start()
        self._sender = asyncio.create_task(self._send_acks())
        return sum(answer["connected"] for answer in await self._answers())

    def on_ack(self, ack: Ack) -> None:
        if not ack.retry:
            self._acks.append((ack.device, ack.seq, ack.at))

    async def scopes(self) -> tuple[set[str], str | None]:
        """The scopes the dashboards follow and the hubs' day, as their snapshots said."""
        self._command("scopes")
        answers = await self._answers()
        return set().union(*(a["scopes"] for a in answers)), next((a["day"] for a in answers if a["day"]), None)

    async def check(self, seq: int, truth: dict[str, dict[str, int]], timeout: float) -> dict[str, Any]:
        """Each dashboard's counters against `truth` (per scope) once it shows commit `seq`."""
        self._command("check", (seq, truth, timeout))
        answers = await self._answers()
        return {"behind": sum(a["behind"] for a in answers),
                "mismatched": [m for a in answers for m in a["mismatched"]],
                "snapshots": sum(a["snapshots"] for a in answers), "resyncs": sum(a["resyncs"] for a in answers)}

    async def stop(self, on_error: Callable[[str, int], None]) -> array[float]:
        """Close every dashboard and end the workers; the lags they timed (their errors to `on_error`)."""
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
        self._flush()
        self._command("stop")
        lags: array[float] = array("d")
        for answer in await self._answers():
            lags.frombytes(answer["lags"])
            for kind, count in answer["errors"].items():
                on_error(kind, count)
        for worker in self._workers:
            await asyncio.to_thread(worker.join, 10)
        return lags

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, *exc: object) -> None:
        """Whatever happened: no worker outlives the run."""
        for worker in self._workers:
            if worker.is_alive():
                worker.kill()

    async def _send_acks(self) -> None:
        while True:
            await asyncio.sleep(SEND_EVERY)
            self._flush()

    def _flush(self) -> None:
        if self._acks:
            self._command("acks", self._acks)
            self._acks = []

    def _command(self, kind: str, payload: Any = None) -> None:
        for inbox in self._inboxes:
            inbox.put((kind, payload))

    async def _answers(self) -> list[dict[str, Any]]:
        return await collect_answers(self._outbox, len(self._workers), "a dashboard worker")


async def collect_answers(outbox: Any, workers: int, who: str,
                          timeout: float = ANSWER_TIMEOUT) -> list[dict[str, Any]]:
    """One answer from each of `workers` worker processes; one that died or hangs fails the run."""
    answers = []
    for _ in range(workers):
        try:
            answer = await asyncio.to_thread(outbox.get, True, timeout)
        except queue.Empty:
            raise RuntimeError(f"{who} did not answer in {timeout:.0f} s") from None
        if "failed" in answer:
            raise RuntimeError(f"{who} failed: {answer['failed']}")
        answers.append(answer)
    return answers


def _work(targets: list[Target], device_prefix: str, inbox: Any, outbox: Any) -> None:
    try:
        asyncio.run(_Worker(targets, device_prefix).serve(inbox, outbox))
    except BaseException as exc:
        outbox.put({"failed": f"{type(exc).__name__}: {exc}"})
        raise


class _Worker:
    def __init__(self, targets: list[Target], device_prefix: str) -> None:
        self.errors: Counter[str] = Counter()
        self.lags = AckToDelta(device_prefix)
        self.dashboards = [Dashboard(target, self.lags, self._on_error) for target in targets]

    def _on_error(self, kind: str) -> None:
        self.errors[kind] += 1

    async def serve(self, inbox: Any, outbox: Any) -> None:
        watching: list[Dashboard] = await connect_all(self.dashboards)
        outbox.put({"connected": len(watching)})
        with no_full_collections():  # a pause here would count as the hub's lag
            followers = [asyncio.create_task(dashboard.run()) for dashboard in watching]
            while True:
                kind, payload = await asyncio.to_thread(inbox.get)
                if kind == "acks":
                    for device, seq, at in payload:
                        self.lags.acked((device, seq), at)
                elif kind == "scopes":
                    scopes = {d.scope for d in watching if d.scope == "all" or d.scope.startswith("area:")}
                    outbox.put({"scopes": scopes, "day": next((d.day for d in watching if d.day), None)})
                elif kind == "check":
                    outbox.put(await self._check(watching, *payload))
                elif kind == "stop":
                    for dashboard in watching:
                        await dashboard.stop()
                    await asyncio.gather(*followers)
                    outbox.put({"lags": self.lags.lags.tobytes(), "errors": dict(self.errors)})
                    return

    async def _check(self, watching: list[Dashboard], seq: int, truth: dict[str, dict[str, int]],
                     timeout: float) -> dict[str, Any]:
        caught_up = await asyncio.gather(*(d.reach(seq, timeout) for d in watching))
        mismatched = [{"hub": d.target.url, "scope": d.scope, "seq": d.seq, "dashboard": d.counters,
                       "database": truth[d.scope]}
                      for d in watching if d.scope in truth and d.counters != truth[d.scope]]
        return {"behind": caught_up.count(False), "mismatched": mismatched,
                "snapshots": sum(d.snapshots for d in watching), "resyncs": sum(d.resyncs for d in watching)}
