"""The group-commit writer: many operations, one transaction, then every waiting ack at once.

Operations queue up while a batch commits; the next batch takes what is queued (up to a size limit,
waiting a few milliseconds more only under load, so a lone scan is never held back).

Several batches can be in flight at once, one per lane. A batch has costs of its own (its round
trips, its commit), which at a moderate rate are most of what a scan costs the hub and PostgreSQL,
so operators go to the first lane that keeps up: at a moderate rate one lane makes few, full
batches, and the next lanes take operators only while the ones before have `LANE_FULL` operations
undecided, or a batch held up for `HELD_UP` (a lock waited for, a slow commit). An operator's
operations stay in their lane while any of them is undecided, so an undo still sees its author's
earlier operations committed, and so do a device's, so each device's operations stay in order should
its user change meanwhile (an undo of that user's may then not see their operations in flight in the
other lane, as with two hub processes). Batches of different lanes touching the same bags meet in
PostgreSQL's row locks. A lane's batch takes its place in commit order (the commit clock) and
commits while holding this process's commit turn, so its batches reach `on_commit` in commit order.
A lane's failure (its connection lost, an operation refused, a lock waited for) is that lane's
alone; only the end of a batch, from its write statement (which takes the commit clock) to its
commit, waits for the other lanes', as it waits for every other hub's in PostgreSQL.

An all-or-nothing import (`apply_group`) holds its bags and bills locked for its whole transaction;
while it runs, the codes it touches are reserved here, and a live operation touching one (with every
later operation of its device) stays queued until the import ends, so the other devices' batches
never wait on the import's locks. An import of another hub process is not known here: a live
batch waits at most `LOCK_WAIT` for a lock (the writer's connections are opened with that
`lock_timeout`, see `create_writer_pool`), and an operation that found one held is put back in the
queue (with its device's later ones) for `LOCK_BACKOFF`, while the rest of its batch commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import TypeVar

import asyncpg
from asyncpg.transaction import Transaction

from hub import metrics
from hub.batch import Committed, Result, Submission, apply_batch, touched
from hub.codes import Code
from hub.database import UNAVAILABLE, create_pool
from hub.domain.bagcodes import ParentFormat
from hub.domain.rules import Outcome, Undo
from hub.store import batches as store_batches
from hub.store.batches import ConcurrentChange

logger = logging.getLogger("tracetrack.writer")

ATTEMPTS = 5
ACQUIRE_TIMEOUT = 5.0
_RETRYABLE = (ConcurrentChange, asyncpg.DeadlockDetectedError, asyncpg.SerializationError,
              asyncpg.UniqueViolationError)

# What one operation's data can make PostgreSQL (or asyncpg, encoding it) refuse: invalid text or
# numbers (class 22), a value over a limit (class 54), a string Python cannot encode as UTF-8.
_REFUSED_DATA = (asyncpg.DataError, asyncpg.ProgramLimitExceededError, UnicodeError)
_ONE_OPERATION = (asyncpg.IntegrityConstraintViolationError, *_REFUSED_DATA)
SETTLE_TIMEOUT = 5.0
LOCK_WAIT = 1.0
"""Seconds a live batch waits for a row lock (another process's import) before giving up on it."""
LOCK_BACKOFF = 1.0
"""Seconds an operation that gave up on a lock stays queued before it is tried again."""
LANE_FULL = 64
"""Operations undecided in a lane (queued or in its batch) from which operators new to the writer go
to the next: a few milliseconds of scans at the rates where one lane keeps up."""
HELD_UP = 0.05
"""Seconds after which a lane's batch in flight counts as held up: operators new to the writer then go
to another lane (a batch commits in a few milliseconds)."""

K = TypeVar("K", str, int)
OnCommit = Callable[[Committed], Awaitable[None]]
Progress = Callable[[int], Awaitable[None]]


class DatabaseUnavailable(Exception):
    """PostgreSQL could not be reached or went away mid-batch; nothing of the batch was applied."""


async def create_writer_pool(dsn: str, lanes: int) -> asyncpg.Pool:
    """The writer's own connections, one per lane and one for an import.

    - Each bounds its lock waits at `LOCK_WAIT` (a setting of the connection, not a statement per
      batch).
    - Plans are cached as PostgreSQL decides (`plan_cache_mode` auto), not made anew for every
      execution as on the request pool: the writer's statements look rows up by key, and the
      statements run for them inside PostgreSQL (each foreign-key check of a link, the counter
      triggers) then keep their plans too. Re-planned, each foreign-key check cost about 67 µs
      instead of 7.5 µs, two per child scanned.
    - Index probes are costed as the in-memory page reads they are (random_page_cost 1.1, as for
      SSDs): at the default of 4, a batch of a few hundred codes against some 100,000 bags was
      planned as sequential scans of bags and links, 30-50 ms a batch, and batches grew.
    """
    return await create_pool(dsn, lanes + 1, settings={
        "lock_timeout": f"{round(LOCK_WAIT * 1000)}ms", "plan_cache_mode": "auto", "random_page_cost": "1.1"})


class _Lane:
    """One queue and the batches taken from it, one in flight at a time."""

    def __init__(self) -> None:
        self.queue: deque[Submission] = deque()
        self.wakeup = asyncio.Event()
        self.resting: dict[str, float] = {}
        """Devices whose operations wait (until the loop time given) after one found a lock held."""
        self.last_batch_size = 0
        self.started: float | None = None
        """Loop time its batch in flight was handed to PostgreSQL; None while there is none."""
        self.task: asyncio.Task[None] | None = None

    @property
    def undecided(self) -> int:
        """Operations queued in it or in its batch in flight."""
        return len(self.queue) + (self.last_batch_size if self.started is not None else 0)


class BatchWriter:
    def __init__(self, pool: asyncpg.Pool, formats: tuple[ParentFormat, ...], *, max_ops: int,
                 max_delay: float, on_commit: OnCommit, lanes: int = 1) -> None:
        self._pool = pool
        self._formats = formats
        self._max_ops = max_ops
        self._max_delay = max_delay
        self._on_commit = on_commit
        self._lanes = [_Lane() for _ in range(lanes)]
        self._pending: dict[tuple[str, int], asyncio.Future[Result]] = {}
        self._device_lanes: dict[str, tuple[_Lane, int]] = {}
        """The lane each device with undecided operations uses, and how many it has there."""
        self._actor_lanes: dict[int, tuple[_Lane, int]] = {}
        """The same for each operator."""
        self._blocked: set[str] = set()
        self._reserved: list[tuple[set[str], set[str]]] = []
        """(bag codes, bill codes) of each group running, which live batches leave alone."""
        self._commit_turn = asyncio.Lock()
        self._group_turn = asyncio.Lock()
        """Groups (imports) run one at a time: each holds a connection for its whole transaction, and
        the pool has one beside the lanes' own."""
        self._closing = False

    def start(self) -> None:
        for number, lane in enumerate(self._lanes):
            lane.task = asyncio.create_task(self._run(lane), name=f"batch-writer-{number}")
            lane.task.add_done_callback(_report_crash)

    def submit(self, sub: Submission) -> asyncio.Future[Result]:
        """Queue one operation; the future resolves once its batch has committed (or failed).

        A (device, seq) already queued or in flight shares the first submission's future, so a resend
        racing its original is applied once.
        """
        existing = self._pending.get(sub.key)
        if existing is not None:
            return existing
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        if self._closing or sub.device in self._blocked:
            future.set_result(Result(Outcome(Code.RETRY)))
            return future
        held = self._device_lanes.get(sub.device) or self._actor_lanes.get(sub.actor.user_id)
        lane = held[0] if held is not None else self._free_lane()
        _count_in(self._device_lanes, sub.device, lane)
        _count_in(self._actor_lanes, sub.actor.user_id, lane)
        self._pending[sub.key] = future
        lane.queue.append(sub)
        lane.wakeup.set()
        return future

    def _free_lane(self) -> _Lane:
        """The lane of an operator (and device) with nothing undecided: the first that keeps up (see
        the module's docstring), else the least busy one not held up."""
        now = asyncio.get_running_loop().time()
        flowing = [lane for lane in self._lanes if lane.started is None or now - lane.started < HELD_UP]
        for lane in flowing:
            if lane.undecided < LANE_FULL:
                return lane
        return min(flowing or self._lanes, key=lambda lane: lane.undecided)

    def unblock(self, device: str) -> None:
        """A device that was told RETRY has connected again and will resend from its outbox, in order.

        Until then every later operation of that device was answered RETRY too: applying seq k+1 after
        a failed k would make the resent k stale. Its operations still queued are dropped the same way.
        """
        if device not in self._blocked:
            return
        self._blocked.discard(device)
        for lane in self._lanes:
            for sub in [sub for sub in lane.queue if sub.device == device]:
                lane.queue.remove(sub)
                self._resolve(sub, Result(Outcome(Code.RETRY)))

    @property
    def backlog(self) -> int:
        return sum(len(lane.queue) for lane in self._lanes)

    async def close(self, timeout: float) -> None:
        """Commit what is queued (within `timeout`), then stop; anything left is told to retry."""
        self._closing = True
        tasks = [lane.task for lane in self._lanes if lane.task is not None]
        for lane in self._lanes:
            lane.wakeup.set()
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=timeout)
        if late:
            logger.warning("writer did not drain within %.1fs; %d operations will be resent",
                           timeout, len(self._pending))
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for lane in self._lanes:
            lane.queue.clear()
        # Queued, or in a batch cut short: a resend of what did commit is answered as a replay.
        for future in self._pending.values():
            if not future.done():
                future.set_result(Result(Outcome(Code.RETRY)))
        self._pending.clear()
        self._device_lanes.clear()
        self._actor_lanes.clear()

    async def _run(self, lane: _Lane) -> None:
        while True:
            if not lane.queue:
                if self._closing:
                    return
                lane.wakeup.clear()
                await lane.wakeup.wait()
                continue
            batch = self._take(lane, self._max_ops)
            if not batch:  # all that is queued waits for a group to end or a device to rest
                if self._closing:
                    return
                lane.wakeup.clear()
                rest = min(lane.resting.values(), default=None)
                timeout = None if rest is None else max(0.0, rest - asyncio.get_running_loop().time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lane.wakeup.wait(), timeout)
                continue
            if len(batch) < self._max_ops and lane.last_batch_size > 1 and not self._closing:
                await asyncio.sleep(self._max_delay)
                batch += self._take(lane, self._max_ops - len(batch), batch)
            lane.last_batch_size = len(batch)
            lane.started = asyncio.get_running_loop().time()
            try:
                await self._commit(lane, batch)
            finally:
                lane.started = None

    def _take(self, lane: _Lane, limit: int, taken: list[Submission] | None = None) -> list[Submission]:
        """Up to `limit` operations queued in `lane`. An undo by someone who already has an operation
        in the batch starts the next batch, so an undo always sees its author's committed last action.

        An operation touching a code a running group reserved stays queued, and so does every later
        one of its device (order per device) and every later undo of its author."""
        actors = {sub.actor.user_id for sub in taken or ()}
        batch: list[Submission] = []
        kept: list[Submission] = []
        held_devices: set[str] = set()
        held_actors: set[int] = set()
        now = asyncio.get_running_loop().time()
        lane.resting = {device: until for device, until in lane.resting.items() if until > now}
        queue = lane.queue
        while queue and len(batch) < limit:
            sub = queue.popleft()
            if sub.device in self._blocked:
                self._resolve(sub, Result(Outcome(Code.RETRY)))
                continue
            undo = isinstance(sub.operation, Undo)
            if (sub.device in held_devices or sub.device in lane.resting
                    or (undo and sub.actor.user_id in held_actors) or self._waits(sub)):
                held_devices.add(sub.device)
                held_actors.add(sub.actor.user_id)
                kept.append(sub)
                continue
            if undo and sub.actor.user_id in actors:
                queue.appendleft(sub)
                break
            actors.add(sub.actor.user_id)
            batch.append(sub)
        queue.extendleft(reversed(kept))
        return batch

    def _waits(self, sub: Submission) -> bool:
        """Whether `sub` touches a bag or bill that a running group holds locked."""
        if not self._reserved:
            return False
        bags, bills = touched(sub)
        return any(bags & group_bags or bills & group_bills for group_bags, group_bills in self._reserved)

    async def _commit(self, lane: _Lane, batch: list[Submission]) -> None:
        metrics.BATCH_SIZE.observe(len(batch))
        waiting: set[str] = set()
        try:
            with metrics.COMMIT_SECONDS.time():
                decided = await self._apply_parts(batch, set(), waiting)
        except Exception:
            logger.exception("batch of %d failed unexpectedly; its operations will be retried", len(batch))
            decided = [Result(Outcome(Code.RETRY))] * len(batch)
        again = [sub for sub, result in zip(batch, decided) if result is None]
        lane.queue.extendleft(reversed(again))
        until = asyncio.get_running_loop().time() + LOCK_BACKOFF
        lane.resting.update((sub.device, until) for sub in again)
        batch = [sub for sub, result in zip(batch, decided) if result is not None]
        results = [result for result in decided if result is not None]
        for sub, result in zip(batch, results):
            if result.outcome.code is Code.RETRY:
                self._blocked.add(sub.device)
            self._resolve(sub, result)
        for code, count in Counter(result.outcome.code.value for result in results).items():
            metrics.SCANS.labels(code).inc(count)  # once per code, not per scan: the batch is the unit

    def _resolve(self, sub: Submission, result: Result) -> None:
        future = self._pending.pop(sub.key, None)
        if future is None:
            return
        if not future.done():  # its waiter may have been cancelled
            future.set_result(result)
        _count_out(self._device_lanes, sub.device)
        _count_out(self._actor_lanes, sub.actor.user_id)

    async def _commit_in_order(self, conn: asyncpg.Connection, transaction: Transaction,
                               parts: list[Committed]) -> None:
        """Take the places in commit order the parts have not yet taken, then commit and hand them
        to `on_commit`, holding this process's commit turn: `on_commit` hears this process's batches
        in commit order, and before any of their operations is acked (the bag cache is current when
        the next scan comes). Only the holder of the commit clock's row lock can be waiting for the
        turn, and the holder of the turn has committed or holds that lock itself, so the two never
        wait for each other; PostgreSQL commits in clock order. A failed commit needs no rollback."""
        try:
            for part in parts:
                if part.events and not part.seq:
                    part.seq = await store_batches.next_commit_seq(conn)
        except BaseException:
            await transaction.rollback()
            raise
        async with self._commit_turn:
            await transaction.commit()
            for part in parts:
                if part.seq:
                    try:
                        await self._on_commit(part)
                    except Exception:
                        logger.exception("publishing a committed batch failed; its scans are stored regardless")

    async def _apply(self, batch: list[Submission]) -> list[Result]:
        """One transaction, redone when another hub raced it; DatabaseUnavailable when PG is gone,
        LockNotAvailableError when a lock stayed held for `LOCK_WAIT`."""
        for attempt in range(ATTEMPTS):
            try:
                async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                    transaction = conn.transaction()
                    await transaction.start()
                    try:
                        results, part = await apply_batch(conn, batch, self._formats, datetime.now(UTC))
                    except BaseException:
                        await transaction.rollback()
                        raise
                    await self._commit_in_order(conn, transaction, [part])
                    return results
            except _RETRYABLE as exc:
                if attempt == ATTEMPTS - 1 and isinstance(exc, asyncpg.IntegrityConstraintViolationError):
                    raise
                logger.info("batch raced another hub (%s); redoing it", type(exc).__name__)
                await asyncio.sleep(0.005 * (attempt + 1))
            except UNAVAILABLE as exc:
                logger.warning("PostgreSQL unavailable (%s); %d operations will be retried",
                               exc, len(batch))
                raise DatabaseUnavailable from exc
        raise DatabaseUnavailable("batch kept racing other hubs")

    async def _apply_parts(self, batch: list[Submission], failed: set[str],
                           waiting: set[str]) -> list[Result | None]:
        """Apply `batch` in one transaction, or, when the database refuses one operation of it (or
        finds a lock held), its halves in order (each committed on its own), down to that operation
        alone, which is then recorded as refused (or left undecided, None, to be queued again). The
        rest commit; order per device holds, since halves go in order.

        A device in `failed` was told RETRY earlier in this batch: its later operations are too; one
        in `waiting` had an operation left undecided: so are its later ones.
        """
        todo = [sub for sub in batch if sub.device not in failed and sub.device not in waiting]
        results: dict[tuple[str, int], Result | None] = {
            sub.key: Result(Outcome(Code.RETRY)) for sub in batch if sub.device in failed}
        results.update((sub.key, None) for sub in batch if sub.device in waiting)
        try:
            if todo:
                results.update(zip((sub.key for sub in todo), await self._apply(todo)))
        except DatabaseUnavailable:
            failed.update(sub.device for sub in todo)
            results.update((sub.key, Result(Outcome(Code.RETRY))) for sub in todo)
        except (*_ONE_OPERATION, asyncpg.LockNotAvailableError) as exc:
            if len(todo) > 1:
                logger.warning("batch of %d refused by the database (%s); applying it in halves",
                               len(todo), type(exc).__name__)
                middle = len(todo) // 2
                for part in (todo[:middle], todo[middle:]):
                    results.update(zip((sub.key for sub in part), await self._apply_parts(part, failed, waiting)))
            elif isinstance(exc, asyncpg.LockNotAvailableError):
                waiting.add(todo[0].device)
                results[todo[0].key] = None
            else:
                results[todo[0].key] = await self._record_refused(todo[0], exc, failed)
        return [results[sub.key] for sub in batch]

    async def _record_refused(self, sub: Submission, exc: Exception, failed: set[str]) -> Result:
        """Record `sub` as refused (see `_refused`), alone; RETRY if even that cannot be stored."""
        try:
            (result,) = await self._apply([_refused(sub, exc)])
        except DatabaseUnavailable:
            failed.add(sub.device)
            return Result(Outcome(Code.RETRY))
        except (*_ONE_OPERATION, asyncpg.LockNotAvailableError):
            logger.exception("the record of an operation the database refused was refused too")
            failed.add(sub.device)
            return Result(Outcome(Code.RETRY))
        return result

    async def apply_group(self, subs: list[Submission], accept: Callable[[Submission, Result], bool], *, chunk: int,
                          progress: Progress | None = None) -> tuple[bool, list[Result]]:
        """All of `subs`, in order, in ONE transaction, committed only when `accept` takes every
        result; otherwise rolled back, nothing of it applied. (True, results) when committed.

        The same `apply_batch` as every scan, `chunk` operations at a time inside the transaction
        (`progress` hears how many are decided so far); the commit clock is taken only at the end,
        so live batches of other devices wait for it only then, or where they touch the same bags.
        Live operations touching the group's bags and bills wait in the queue until it ends (see
        `_take`), so no live batch waits on its locks.
        Raises DatabaseUnavailable when PostgreSQL is gone or the group kept racing other writers.
        """
        reserved: tuple[set[str], set[str]] = (set(), set())
        for sub in subs:
            bags, bills = touched(sub)
            reserved[0].update(bags)
            reserved[1].update(bills)
        async with self._group_turn:
            self._reserved.append(reserved)
            try:
                return await self._apply_group(subs, accept, chunk, progress)
            finally:
                self._reserved.remove(reserved)
                for lane in self._lanes:
                    lane.wakeup.set()

    async def _apply_group(self, subs: list[Submission], accept: Callable[[Submission, Result], bool], chunk: int,
                           progress: Progress | None) -> tuple[bool, list[Result]]:
        for attempt in range(ATTEMPTS):
            try:
                async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT) as conn:
                    transaction = conn.transaction()
                    await transaction.start()
                    try:
                        # A group waits for the locks it needs as long as it takes: it is the live
                        # batches that must not wait on it, not the other way round.
                        await store_batches.wait_for_locks(conn)
                        results, parts = await self._decide_group(conn, subs, chunk, progress)
                    except BaseException:
                        await transaction.rollback()
                        raise
                    if not all(accept(sub, result) for sub, result in zip(subs, results)):
                        await transaction.rollback()
                        return False, results
                    await self._commit_in_order(conn, transaction, parts)
                return True, results
            except _RETRYABLE:
                logger.info("import group raced another writer; redoing it")
                await asyncio.sleep(0.05 * (attempt + 1))
            except UNAVAILABLE as exc:
                raise DatabaseUnavailable from exc
        raise DatabaseUnavailable("the group kept racing other writers")

    async def _decide_group(self, conn: asyncpg.Connection, subs: list[Submission], chunk: int,
                            progress: Progress | None) -> tuple[list[Result], list[Committed]]:
        results: list[Result] = []
        parts: list[Committed] = []
        for start in range(0, len(subs), chunk):
            decided, part = await apply_batch(conn, subs[start:start + chunk], self._formats, datetime.now(UTC),
                                              sequence=False)
            results += decided
            parts.append(part)
            if progress is not None:
                await progress(len(results))
        return results, parts

    async def settled(self, device: str) -> None:
        """Wait (a few seconds at most) until no operation of `device` is queued or committing, so
        that what is read of it next (its applied seq, for a welcome) includes all it had sent."""
        waiting = [future for (owner, _), future in self._pending.items() if owner == device]
        if waiting:
            await asyncio.wait(waiting, timeout=SETTLE_TIMEOUT)


def _count_in(held: dict[K, tuple[_Lane, int]], key: K, lane: _Lane) -> None:
    """One more undecided operation of `key`, in the lane it already uses, else in `lane`."""
    used, count = held.get(key, (lane, 0))
    held[key] = (used, count + 1)


def _count_out(held: dict[K, tuple[_Lane, int]], key: K) -> None:
    used, count = held[key]
    if count > 1:
        held[key] = (used, count - 1)
    else:
        del held[key]


def _report_crash(task: asyncio.Task[None]) -> None:
    """A lane that stopped other than by `close` leaves its operations unanswered: say so loudly."""
    if not task.cancelled() and task.exception() is not None:
        logger.critical("writer lane %s stopped", task.get_name(), exc_info=task.exception())


def _refused(sub: Submission, exc: Exception) -> Submission:
    """What is recorded for an operation the database refused: a final rejection that is storable
    by construction. An integrity violation is a race the locks did not see (CONFLICT: scan again);
    anything else is data the hub cannot store (BAD_REQUEST), recorded without the operation's
    fields, since one of them is what the database refused."""
    if isinstance(exc, asyncpg.IntegrityConstraintViolationError):
        return replace(sub, verdict=Outcome(Code.CONFLICT))
    reason = f"the database could not store this operation's data ({type(exc).__name__})"
    return replace(sub, operation=None, client_time=None, verdict=Outcome(Code.BAD_REQUEST, {"reason": reason}))
