"""The sender's time limit: a send that waits too long is cancelled, a stream of quick ones never is."""

from __future__ import annotations

import asyncio

import pytest

from hub.sendclock import SendClock

LIMIT = 0.2


async def _send(clock: SendClock, seconds: float) -> bool:
    """One send taking `seconds`; whether the clock cut it."""
    return not await clock.within(asyncio.sleep(seconds))


async def test_a_send_that_waits_past_the_limit_is_cut_and_the_task_goes_on() -> None:
    async def sender() -> tuple[bool, int]:
        clock = SendClock(LIMIT)
        try:
            cut = await _send(clock, 5)
            await asyncio.sleep(0)  # the task is not left cancelled
            return cut, asyncio.current_task().cancelling()  # type: ignore[union-attr]
        finally:
            clock.close()

    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(sender(), 3) == (True, 0)
    assert LIMIT <= asyncio.get_running_loop().time() - started < 1


async def test_quick_sends_are_never_cut_however_long_they_go_on() -> None:
    async def sender() -> list[bool]:
        clock = SendClock(LIMIT)
        try:
            return [await _send(clock, LIMIT / 4) for _ in range(12)]  # three limits' worth in all
        finally:
            clock.close()

    assert await sender() == [False] * 12


async def test_a_send_after_a_pause_gets_the_whole_limit() -> None:
    async def sender() -> list[bool]:
        clock = SendClock(LIMIT)
        try:
            first = await _send(clock, 0)
            await asyncio.sleep(LIMIT * 0.75)
            return [first, await _send(clock, LIMIT * 0.75)]
        finally:
            clock.close()

    assert await sender() == [False, False]


async def test_a_cancellation_from_elsewhere_is_not_taken_for_the_limit() -> None:
    async def sender() -> bool:
        clock = SendClock(LIMIT)
        try:
            return await _send(clock, 5)
        finally:
            clock.close()

    task = asyncio.create_task(sender())
    await asyncio.sleep(LIMIT / 4)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
