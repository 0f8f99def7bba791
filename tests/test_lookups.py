"""Shared lookups (`hub.lookups`): those asked while one is out share the next, each gets its own
answer, none joins one already sent. What they read is a table in memory here: the hub's own
lookups (sessions, devices) run on real PostgreSQL in every websocket and API test."""

from __future__ import annotations

import asyncio

import pytest

from hub.lookups import SharedLookups


class Table:
    """A table in memory that a lookup reads in one go, recording each read's keys; a read takes
    as long as `gate` stays shut, so a test decides what is in flight."""

    def __init__(self, rows: dict[str, int]) -> None:
        self.rows = rows
        self.reads: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failure: Exception | None = None

    async def read(self, keys: list[str]) -> dict[str, int]:
        self.reads.append(sorted(keys))
        await self.gate.wait()
        if self.failure is not None:
            raise self.failure
        return {key: self.rows[key] for key in keys if key in self.rows}

    async def held(self, lookups: SharedLookups[str, int], *keys: str) -> list[asyncio.Future[int | None]]:
        """Lookups of `keys` asked with the gate shut: the first sends a read that stays out."""
        self.gate.clear()
        asked = [asyncio.ensure_future(lookups.get(key)) for key in keys]
        await _settle()
        return asked


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lookup_alone_goes_at_once_and_those_asked_meanwhile_share_the_next() -> None:
    table = Table({"a": 1, "b": 2, "c": 3})
    lookups = SharedLookups(table.read)
    assert await lookups.get("a") == 1 and table.reads == [["a"]]
    [first] = await table.held(lookups, "a")
    waiting = await table.held(lookups, "b", "c", "b", "missing")
    assert table.reads == [["a"], ["a"]], "nothing joins or follows a read still out"
    table.gate.set()
    assert await first == 1
    assert await asyncio.gather(*waiting) == [2, 3, 2, None]
    assert table.reads == [["a"], ["a"], ["b", "c", "missing"]]


async def test_a_lookup_is_read_after_it_was_asked() -> None:
    table = Table({"a": 1})
    lookups = SharedLookups(table.read)
    [before] = await table.held(lookups, "a")
    table.rows["a"] = 2  # changed while the first read is out: a lookup asked now must see it
    after = asyncio.ensure_future(lookups.get("a"))
    table.gate.set()
    assert await after == 2
    await before


async def test_a_failed_read_fails_every_lookup_that_waited_for_it_and_the_next_read_is_fresh() -> None:
    table = Table({"a": 1, "b": 2})
    lookups = SharedLookups(table.read)
    [blocking] = await table.held(lookups, "a")
    waiting = await table.held(lookups, "a", "b")
    table.failure = ConnectionRefusedError("PostgreSQL away")
    table.gate.set()
    for lookup in (blocking, *waiting):
        with pytest.raises(ConnectionRefusedError):
            await lookup
    table.failure = None
    assert await lookups.get("b") == 2


async def test_a_lookup_given_up_leaves_the_others_answered() -> None:
    table = Table({"a": 1, "b": 2})
    lookups = SharedLookups(table.read)
    [out] = await table.held(lookups, "a")
    given_up, kept = await table.held(lookups, "a", "b")
    given_up.cancel()
    table.gate.set()
    assert (await out, await kept) == (1, 2)
    assert given_up.cancelled()


async def test_lookups_still_waiting_at_shutdown_are_cancelled() -> None:
    table = Table({"a": 1})
    lookups = SharedLookups(table.read)
    [out] = await table.held(lookups, "a")
    [queued] = await table.held(lookups, "a")
    await asyncio.wait_for(lookups.close(), 5)
    await _settle()
    assert out.cancelled() and queued.cancelled()

