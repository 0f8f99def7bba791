"""The load generator's garbage collection: no full collection while a window is timed.

A full collection stops the generator's event loop: every scan due meanwhile is sent late, and in
open loop its latency counts from when it was due, so the generator's pause counts as the hub's.
At 1,000 scans/s the generator's full collections (42-77 ms, growing with the acks it had recorded)
were the slowest one-second windows of the run (p99 52-68 ms at 4 s and at 35 s, in three runs).
While the window is timed, what the setup made is frozen and only young collections run (most of
what a scan allocates is garbage within milliseconds); the full collection waits for the window's
end.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

NEVER = 1 << 30
"""A full-collection threshold the young collections of one run never reach."""


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    before = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(before[0], before[1], NEVER)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
        gc.collect()
