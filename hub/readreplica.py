"""Reads that may lag, on a streaming replica (DATABASE_READ_URL): lists, exports, dashboards' state.

Only reads that decide nothing go there; every write, every check that decides a scan, logins and
sessions stay on the primary. Without DATABASE_READ_URL every read is on the primary, as before.

The replica is used while it answers and is at most DATABASE_READ_MAX_LAG behind; otherwise reads
go to the primary (logged, and counted in `tracetrack_replica_fallbacks_total`), and a read that
fails because the replica went away is run again on the primary: never an error for its absence.

Lag is measured as time, from WAL positions: every LAG_INTERVAL the primary's position is sampled,
and the replica is as far behind as the oldest sample it has not replayed yet (an idle primary
writes no WAL, so an idle replica is not behind).

A dashboard state is read at a commit seq, and the deltas after it continue from that seq, from the
batches this hub has heard of. A replica behind what this hub has heard of would give a state
older than batches it will not hear of again. So `caught_up` first waits for the replica to replay
the primary's WAL position of the moment it was asked (every batch heard of by then committed
before it), for at most CATCH_UP_WAIT, and else reads on the primary.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

import asyncpg

from hub import metrics
from hub.database import UNAVAILABLE
from hub.tasks import cancel

logger = logging.getLogger("tracetrack.readreplica")

LAG_INTERVAL = 0.5
CHECK_TIMEOUT = 2.0
CATCH_UP_WAIT = 1.0
CATCH_UP_POLL = 0.01
MAX_SAMPLES = 10_000

AWAY: tuple[type[BaseException], ...] = (
    *UNAVAILABLE,
    asyncpg.SerializationError,  # 40001: a query cancelled by a conflict with recovery
)
"""What a read on the replica fails with when the replica is away or cannot serve it now."""

LSN = "SELECT ({}) - '0/0'::pg_lsn"
PRIMARY_LSN = LSN.format("pg_current_wal_lsn()")
REPLAYED_LSN = LSN.format("pg_last_wal_replay_lsn()")

P = ParamSpec("P")
T = TypeVar("T")


class Reads:
    """Where a read that may lag goes: the replica while it is up and close behind, else the primary."""

    def __init__(self, primary: asyncpg.Pool, replica: asyncpg.Pool | None = None, max_lag: float = 5.0) -> None:
        self.primary = primary
        self.replica = replica
        self.max_lag = max_lag
        self.lag: float | None = None
        """Seconds the replica is behind; None while it does not answer (or there is none)."""
        self._samples: deque[tuple[float, int]] = deque()
        self._checked = False
        self._task: asyncio.Task[None] | None = None

    @property
    def usable(self) -> bool:
        return self.replica is not None and self.lag is not None and self.lag <= self.max_lag

    async def start(self) -> None:
        """Check the replica once (so a hub starts on it), then every LAG_INTERVAL."""
        if self.replica is None:
            return
        await self.check()
        self._task = asyncio.create_task(self._watch(), name="replica-lag")

    async def close(self) -> None:
        await cancel(self._task)

    async def read(self, fn: Callable[Concatenate[asyncpg.Pool, P], Awaitable[T]],
                   *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(pool, ...)` on the replica when it is usable, else (or when it fails for being away)
        on the primary."""
        if self.replica is None:
            return await fn(self.primary, *args, **kwargs)
        if self.usable:
            try:
                result = await fn(self.replica, *args, **kwargs)
            except AWAY as exc:
                self._lost(exc)
            else:
                metrics.REPLICA_READS.labels("replica").inc()
                return result
        self._fell_back("away" if self.lag is None else "lagging")
        return await fn(self.primary, *args, **kwargs)

    async def caught_up(self, fn: Callable[Concatenate[asyncpg.Pool, P], Awaitable[T]],
                        *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(pool, ...)` on the replica once it has replayed all the primary had written when this was
        asked (within CATCH_UP_WAIT), so the result is as new as a read on the primary at that moment;
        else on the primary."""
        if self.replica is None:
            return await fn(self.primary, *args, **kwargs)
        reason = "away" if self.lag is None else "lagging"
        if self.usable:
            target = int(await self.primary.fetchval(PRIMARY_LSN, timeout=CHECK_TIMEOUT))
            try:
                if await self._replayed(self.replica, target):
                    result = await fn(self.replica, *args, **kwargs)
                    metrics.REPLICA_READS.labels("replica").inc()
                    return result
                reason = "catch_up"
                logger.warning("the read replica did not replay the primary's WAL within %ss; the dashboards' "
                               "state is read on the primary", CATCH_UP_WAIT)
            except AWAY as exc:
                self._lost(exc)
                reason = "away"
        self._fell_back(reason)
        return await fn(self.primary, *args, **kwargs)

    async def _replayed(self, replica: asyncpg.Pool, target: int) -> bool:
        """Whether the replica replays up to `target` within CATCH_UP_WAIT. Asked before the read's
        transaction begins: its snapshot, taken later, then holds everything up to `target`."""
        deadline = time.monotonic() + CATCH_UP_WAIT
        async with replica.acquire(timeout=CHECK_TIMEOUT) as conn:
            while True:
                replayed = await conn.fetchval(REPLAYED_LSN, timeout=CHECK_TIMEOUT)
                if replayed is None or int(replayed) >= target:  # None: not in recovery, a primary itself
                    return True
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(CATCH_UP_POLL)

    async def check(self) -> None:
        """Sample the primary's WAL position and measure how far behind the replica is."""
        assert self.replica is not None
        now = time.monotonic()
        try:
            position = int(await self.primary.fetchval(PRIMARY_LSN, timeout=CHECK_TIMEOUT))
        except Exception:  # noqa: BLE001 - the primary's trouble, not the replica's: measured next time
            return
        if len(self._samples) < MAX_SAMPLES and (not self._samples or position > self._samples[-1][1]):
            self._samples.append((now, position))
        try:
            replayed = await self.replica.fetchval(REPLAYED_LSN, timeout=CHECK_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - away, or not a replica of ours (a wrong URL): not used
            self._set_lag(None, f"{type(exc).__name__}: {exc}")
            return
        while self._samples and (replayed is None or self._samples[0][1] <= int(replayed)):
            self._samples.popleft()
        self._set_lag(now - self._samples[0][0] if self._samples else 0.0, "")

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(LAG_INTERVAL)
            await self.check()

    def _set_lag(self, lag: float | None, problem: str) -> None:
        """Record the lag; log when the replica starts or stops being used (and the first check)."""
        was, first = self.usable, not self._checked
        self.lag, self._checked = lag, True
        metrics.REPLICA_LAG.set(-1 if lag is None else lag)
        if lag is not None and lag > self.max_lag:
            problem = f"{lag:.1f}s behind, DATABASE_READ_MAX_LAG={self.max_lag:g}"
        if (was or first) and not self.usable:
            logger.warning("the read replica is not used (%s); reads go to the primary", problem)
        elif self.usable and not was:
            logger.info("the read replica serves reads" + ("" if first else " again"))

    def _lost(self, exc: BaseException) -> None:
        """A read on the replica failed for its absence: the primary serves until the next check."""
        self.lag = None
        metrics.REPLICA_LAG.set(-1)
        logger.warning("a read on the read replica failed (%s: %s); reads go to the primary", type(exc).__name__, exc)

    def _fell_back(self, reason: str) -> None:
        metrics.REPLICA_FALLBACKS.labels(reason).inc()
        metrics.REPLICA_READS.labels("primary").inc()
