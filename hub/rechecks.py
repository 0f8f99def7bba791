"""The periodic re-checks of this hub process's open websockets, answered together.

Every open websocket re-checks its login about every SESSION_RECHECK_SECONDS (`spread`):
asked one by one, 10,000 connections made some 370 statements a second on the request pool, each
with its acquire and asyncpg's reset query. Here the re-checks that fall due within one window
(`batch_window`, a second at most) wait for each other, and one statement per kind answers them
all: one for the sessions (touching those in use, as a lookup of one session does), one for the
wall-screen tokens. Each connection still gets its own answer. Should a statement fail (PostgreSQL
away), every connection that waited for it gets the error, as if it had asked alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from hub import accounts, walltokens
from hub.connections import SPREAD

WINDOW = 1.0
"""Seconds a re-check waits at most for others to share its statement."""


def batch_window(recheck_seconds: float) -> float:
    """WINDOW, or less when re-checks are frequent: a small part of the spread of their delays, so
    that a re-check still comes about every `recheck_seconds` (tests re-check within a second)."""
    return min(WINDOW, recheck_seconds * SPREAD / 2)


@dataclass
class _Batch:
    """The re-checks waiting for one statement, by token hash (a session may have several sockets)."""

    sessions: dict[bytes, list[asyncio.Future[float | None]]] = field(default_factory=dict)
    touching: set[bytes] = field(default_factory=set)
    walls: dict[bytes, list[asyncio.Future[bool]]] = field(default_factory=dict)

    def cancel(self) -> None:
        """Its connections stop waiting (at shutdown): those already answered keep their answer."""
        waiting: list[list[asyncio.Future[Any]]] = [*self.sessions.values(), *self.walls.values()]
        for futures in waiting:
            for future in futures:
                future.cancel()


class Rechecks:
    """Owned by the hub: `session_left` and `wall_token_live` answer a connection's re-check within
    `window` seconds, together with every other one asked meanwhile."""

    def __init__(self, pool: asyncpg.Pool, idle_minutes: int, window: float) -> None:
        self.window = window
        self._pool = pool
        self._idle_minutes = idle_minutes
        self._batch = _Batch()
        self._due: asyncio.TimerHandle | None = None
        self._answering: set[asyncio.Task[None]] = set()

    async def session_left(self, token_hash: bytes, touch: bool, *, at_once: bool = False) -> float | None:
        """Seconds the session has left, None once it has ended (`accounts.sessions_left`); with
        `touch`, it is in use and kept alive. `at_once` sends the waiting re-checks now (a scan
        waits for this answer)."""
        future: asyncio.Future[float | None] = asyncio.get_running_loop().create_future()
        self._batch.sessions.setdefault(token_hash, []).append(future)
        if touch:
            self._batch.touching.add(token_hash)
        self._asked(at_once)
        return await future

    async def wall_token_live(self, token_hash: bytes) -> bool:
        """Whether the wall-screen token is neither revoked nor expired."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._batch.walls.setdefault(token_hash, []).append(future)
        self._asked(False)
        return await future

    def _asked(self, at_once: bool) -> None:
        if at_once:
            if self._due is not None:
                self._due.cancel()
            self._send()
        elif self._due is None:
            self._due = asyncio.get_running_loop().call_later(self.window, self._send)

    def _send(self) -> None:
        self._due = None
        batch, self._batch = self._batch, _Batch()
        task = asyncio.get_running_loop().create_task(self._answer(batch), name="rechecks")
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def _answer(self, batch: _Batch) -> None:
        try:
            await asyncio.gather(self._answer_sessions(batch), self._answer_walls(batch))
        finally:
            batch.cancel()

    async def _answer_sessions(self, batch: _Batch) -> None:
        if not batch.sessions:
            return
        try:
            left = await accounts.sessions_left(self._pool, batch.sessions, batch.touching, self._idle_minutes)
        except Exception as exc:  # noqa: BLE001 - each waiting connection's, as if it had asked alone
            _fail(batch.sessions.values(), exc)
            return
        for token_hash, waiting in batch.sessions.items():
            for future in waiting:
                if not future.done():  # its connection may have closed meanwhile
                    future.set_result(left.get(token_hash))

    async def _answer_walls(self, batch: _Batch) -> None:
        if not batch.walls:
            return
        try:
            live = await walltokens.live(self._pool, batch.walls)
        except Exception as exc:  # noqa: BLE001 - likewise
            _fail(batch.walls.values(), exc)
            return
        for token_hash, waiting in batch.walls.items():
            for future in waiting:
                if not future.done():
                    future.set_result(token_hash in live)

    async def close(self) -> None:
        """Shutdown: the re-checks still waiting are cancelled."""
        if self._due is not None:
            self._due.cancel()
            self._due = None
        self._batch.cancel()
        self._batch = _Batch()
        for task in list(self._answering):
            task.cancel()
        if self._answering:
            await asyncio.wait(self._answering)


def _fail(waiting: Iterable[list[asyncio.Future[Any]]], exc: Exception) -> None:
    for futures in waiting:
        for future in futures:
            if not future.done():
                future.set_exception(exc)
