"""Every Prometheus metric of the hub, defined once, and what a scrape of them answers.

Under `serve --workers N` each worker keeps its values in files of the directory named by
PROMETHEUS_MULTIPROC_DIR (the supervisor makes a fresh one and sets it before it starts them), and
a scrape of any worker reads all of them: counters and histograms add up, gauges are summed over the
live workers. A single hub process keeps them in memory, in prometheus-client's default registry.
"""

from __future__ import annotations

import os
import time
from collections import deque

import asyncpg
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

SCANS = Counter("tracetrack_scans", "Operations the batch writer answered, by result code.", ["result"])
BATCH_SIZE = Histogram("tracetrack_batch_size", "Operations in each batch the writer took.",
                       buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
COMMIT_SECONDS = Histogram("tracetrack_commit_seconds", "Seconds to apply and commit one batch, retries included.",
                           buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
CONNECTED = Gauge("tracetrack_connected", "Open websockets, by kind (scanner or dashboard).", ["kind"],
                  multiprocess_mode="livesum")
BAG_CACHE = Counter("tracetrack_bag_cache_lookups", "Bag cache lookups, by result (hit or miss).", ["result"])
POOL_SIZE = Gauge("tracetrack_db_pool_size", "PostgreSQL connections open in the pools.",
                  multiprocess_mode="livesum")
POOL_IN_USE = Gauge("tracetrack_db_pool_in_use", "PostgreSQL connections of the pools in use.",
                    multiprocess_mode="livesum")
BROKER_LAG = Histogram("tracetrack_broker_lag_seconds",
                       "Seconds from another hub's batch time to its arrival here through the broker.",
                       buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
REPLICA_READS = Counter("tracetrack_replica_reads",
                        "Reads that may go to the read replica (DATABASE_READ_URL set), by the server that "
                        "served them (replica or primary).", ["served_by"])
REPLICA_FALLBACKS = Counter("tracetrack_replica_fallbacks",
                            "Reads that went to the primary instead of the read replica, by reason (away, "
                            "lagging, catch_up).", ["reason"])
REPLICA_LAG = Gauge("tracetrack_replica_lag_seconds",
                    "Seconds the read replica is behind the primary; -1 while it does not answer.",
                    multiprocess_mode="livemax")
GC_PAUSE = Histogram("tracetrack_gc_pause_seconds",
                     "Seconds each garbage collection of the process took, by generation: every scan and "
                     "dashboard of the process waits for it.", ["generation"],
                     buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))


class GcPauses:
    """A `gc.callbacks` entry timing each collection, recorded into GC_PAUSE by `record`.

    The callback only appends to a deque: a collection can start while the metric's own lock is
    held (a scrape copying its values), and taking that lock again inside it would deadlock.
    """

    def __init__(self) -> None:
        self._started = 0.0
        self._pauses: deque[tuple[int, float]] = deque(maxlen=100_000)

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self._pauses.append((info["generation"], time.perf_counter() - self._started))

    def record(self) -> None:
        """Move the pauses timed so far into GC_PAUSE."""
        while self._pauses:
            generation, seconds = self._pauses.popleft()
            GC_PAUSE.labels(str(generation)).observe(seconds)


def observe_pools(*pools: asyncpg.Pool) -> None:
    """Record how much of this process's pools (the requests' and the writer's) is in use, at each scrape."""
    size = sum(pool.get_size() for pool in pools)
    POOL_SIZE.set(size)
    POOL_IN_USE.set(size - sum(pool.get_idle_size() for pool in pools))


def observe_broker_lag(batch_time: float) -> None:
    """A batch another hub applied at `batch_time` (its Unix time) has arrived here."""
    BROKER_LAG.observe(max(0.0, time.time() - batch_time))


def exposition() -> bytes:
    """The metrics in Prometheus's text format: of every worker when several run, else of this process."""
    directory = os.environ.get(MULTIPROC_DIR)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, directory)  # type: ignore[no-untyped-call]  # untyped in prometheus-client
    return generate_latest(registry)
