"""The hub's garbage-collection policy: few and short pauses on the scan path.

A collection stops the event loop, so every scan and dashboard of the process waits for it, and a
full one walks every object the process holds (its connections' above all):

- What startup made (modules, routes, configuration) lives as long as the hub: frozen, no
  collection walks it again.
- Young collections come every `YOUNG` allocations instead of CPython's 700. Most of what a scan
  allocates dies by reference count within milliseconds; collected that often, much of it was
  found still alive and promoted, and the promotions are what bring on full collections.
- Every collection is timed into `tracetrack_gc_pause_seconds`.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

from hub import metrics

YOUNG = 20_000
THRESHOLDS = (YOUNG, 20, 20)


@contextlib.contextmanager
def collection_policy() -> Iterator[None]:
    """Apply the policy for the hub's lifetime; the process's own afterwards."""
    before = gc.get_threshold()
    pauses = metrics.GcPauses()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    gc.callbacks.append(pauses)
    try:
        yield
    finally:
        gc.callbacks.remove(pauses)
        gc.set_threshold(*before)
        gc.unfreeze()
