"""The hub's garbage-collection policy: few and short pauses on the scan path.

A collection stops the event loop, so every scan and dashboard of the process waits for it, and a
full one walks every object the process holds (its connections' above all):

- What startup made (modules, routes, configuration) lives as long as the hub: frozen, no
  collection walks it again.
- Young collections come every `YOUNG` allocations instead of CPython's 700. Most of what a scan
  allocates dies by reference count within milliseconds; collected that often, much of it was
  found still alive and promoted, and the promotions are what bring on full collections.
- Every collection is timed into `tracetrack_gc_pause_seconds` (recorded each second and at each
  scrape).

The policy is the process's: hubs opened in one process (tests) share it, and the last to close
undoes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator

from hub import metrics

YOUNG = 20_000
THRESHOLDS = (YOUNG, 20, 20)
RECORD_INTERVAL = 1.0


class _Policy:
    def __init__(self) -> None:
        self.pauses = metrics.GcPauses()
        self.holders = 0
        self.before = gc.get_threshold()

    def enter(self) -> None:
        if self.holders == 0:
            self.before = gc.get_threshold()
            gc.collect()
            gc.freeze()
            gc.set_threshold(*THRESHOLDS)
            gc.callbacks.append(self.pauses)
        self.holders += 1

    def leave(self) -> None:
        self.holders -= 1
        if self.holders == 0:
            gc.callbacks.remove(self.pauses)
            gc.set_threshold(*self.before)
            gc.unfreeze()
        self.pauses.record()


_policy = _Policy()


def record_pauses() -> None:
    """Put the collections timed so far into the metric (a scrape calls this first)."""
    _policy.pauses.record()


async def _record_every_second() -> None:
    while True:
        await asyncio.sleep(RECORD_INTERVAL)
        record_pauses()


@contextlib.asynccontextmanager
async def collection_policy() -> AsyncIterator[None]:
    """Apply the policy while the hub runs."""
    _policy.enter()
    recorder = asyncio.create_task(_record_every_second(), name="gc-pauses")
    try:
        yield
    finally:
        recorder.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await recorder
        _policy.leave()
