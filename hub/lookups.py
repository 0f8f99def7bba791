"""Lookups by key that, asked while one is in flight, wait for it and then go together.

A reconnect storm asks for thousands of sessions and devices within a second, each once. One
statement each kept the request pool's connections busy and PostgreSQL parsing and planning the
same statement thousands of times. Here a lookup asked while none is running goes at once (no wait
when the hub is quiet); those asked meanwhile share the next statement, as scans share a batch in
the writer. A lookup is always read after it was asked: it never joins a statement already sent.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SharedLookups(Generic[K, V]):
    """`get(key)` answers from `fetch(keys)`, one statement for every key asked meanwhile; a key
    `fetch` does not return is answered None. Should `fetch` fail (PostgreSQL away), every lookup that
    waited for it gets the error, as if it had asked alone."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]]) -> None:
        self._fetch = fetch
        self._asked: dict[K, list[asyncio.Future[V | None]]] = {}
        self._running: asyncio.Task[None] | None = None

    async def get(self, key: K) -> V | None:
        future: asyncio.Future[V | None] = asyncio.get_running_loop().create_future()
        self._asked.setdefault(key, []).append(future)
        if self._running is None:
            self._send()
        return await future

    def _send(self) -> None:
        asked, self._asked = self._asked, {}
        self._running = asyncio.get_running_loop().create_task(self._answer(asked), name="shared-lookups")
        self._running.add_done_callback(self._sent)

    def _sent(self, _: asyncio.Task[None]) -> None:
        self._running = None
        if self._asked:
            self._send()

    async def _answer(self, asked: dict[K, list[asyncio.Future[V | None]]]) -> None:
        try:
            found = await self._fetch(list(asked))
        except Exception as exc:  # noqa: BLE001 - each waiting lookup's, as if it had asked alone
            _settle(asked, functools.partial(_fail, exc))
        else:
            _settle(asked, lambda future, key: future.set_result(found.get(key)))
        finally:
            _settle(asked, lambda future, _: future.cancel())  # cancelled at shutdown: none waits for ever

    async def close(self) -> None:
        """Shutdown: a statement still out is cancelled, and so are the lookups waiting for it."""
        _settle(self._asked, lambda future, _: future.cancel())
        self._asked = {}
        if self._running is not None:
            self._running.cancel()
            await asyncio.wait([self._running])


def _settle(asked: Mapping[K, list[asyncio.Future[V | None]]],
            answer: Callable[[asyncio.Future[V | None], K], object]) -> None:
    """`answer` each lookup still waiting (one whose connection closed meanwhile is not)."""
    for key, futures in asked.items():
        for future in futures:
            if not future.done():
                answer(future, key)


def _fail(exc: Exception, future: asyncio.Future[V | None], _: object) -> None:
    future.set_exception(exc)
