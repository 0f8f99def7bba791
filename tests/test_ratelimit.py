"""The rate limiter: one contract suite run against both backends (the Redis one on a real Redis),
then what only the Redis limiter does: counting for several hub processes, and outliving Redis."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from hub.ratelimit import Limiter, MemoryLimiter, create_limiter
from hub.ratelimit.redis import RETRY_INTERVAL, RedisLimiter
from tests import services


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Limiter]:
    backend: Limiter = (MemoryLimiter() if request.param == "memory"
                        else RedisLimiter(redis_url, f"tracetrack-test-{uuid.uuid4().hex[:8]}:limit:"))
    yield backend
    await backend.close()


async def test_hits_within_the_limit_pass_and_the_next_waits_for_the_window(limiter: Limiter) -> None:
    assert [await limiter.hit("k", 3, 60) for _ in range(3)] == [None, None, None]
    wait = await limiter.hit("k", 3, 60)
    assert wait is not None and 58 < wait <= 60
    assert await limiter.count("k") == 4
    assert await limiter.hit("other", 3, 60) is None, "keys are counted apart"


async def test_a_window_ends_and_counting_starts_again(limiter: Limiter) -> None:
    assert await limiter.hit("k", 1, 0.2) is None
    assert await limiter.hit("k", 1, 0.2) is not None
    await asyncio.sleep(0.3)
    assert await limiter.count("k") == 0
    assert await limiter.hit("k", 1, 0.2) is None


async def test_undo_takes_one_hit_back_and_never_goes_below_zero(limiter: Limiter) -> None:
    await limiter.hit("k", 2, 60)
    await limiter.hit("k", 2, 60)
    await limiter.undo("k")
    assert await limiter.count("k") == 1
    await limiter.undo("k")
    await limiter.undo("k")
    await limiter.undo("never-hit")
    assert await limiter.count("k") == 0 and await limiter.count("never-hit") == 0


async def test_reset_and_reset_prefix_forget_exactly_their_keys(limiter: Limiter) -> None:
    for key in ("login:pair:ab|1", "login:pair:ab|2", "login:pair:abc|1", "login:account:ab"):
        await limiter.hit(key, 5, 60)
    await limiter.reset_prefix("login:pair:ab|")
    assert [await limiter.count(key) for key in ("login:pair:ab|1", "login:pair:ab|2")] == [0, 0]
    assert await limiter.count("login:pair:abc|1") == 1 and await limiter.count("login:account:ab") == 1
    await limiter.reset("login:account:ab")
    assert await limiter.count("login:account:ab") == 0
    await limiter.reset_prefix("glob*[chars]?")  # no key matches, and nothing is taken as a pattern
    assert await limiter.count("login:pair:abc|1") == 1


async def test_concurrent_hits_are_each_counted_once(limiter: Limiter) -> None:
    results = await asyncio.gather(*(limiter.hit("k", 50, 60) for _ in range(80)))
    assert sum(result is None for result in results) == 50
    assert await limiter.count("k") == 80


async def test_the_memory_limiter_stays_bounded() -> None:
    limiter = MemoryLimiter(max_keys=100)
    for n in range(1000):
        await limiter.hit(f"k{n}", 1, 60)
    assert len(limiter._counters) <= 100
    assert await limiter.count("k999") == 1


async def test_redis_limits_are_shared_by_hub_processes(redis_url: str) -> None:
    prefix = f"tracetrack-test-{uuid.uuid4().hex[:8]}"
    one, two = create_limiter(redis_url, prefix), create_limiter(redis_url, prefix)
    try:
        assert isinstance(one, RedisLimiter) and isinstance(two, RedisLimiter)
        assert await one.hit("k", 2, 60) is None
        assert await two.hit("k", 2, 60) is None
        assert await one.hit("k", 2, 60) is not None
        assert await two.count("k") == 3
    finally:
        await one.close()
        await two.close()


async def test_without_redis_the_limiter_counts_in_process_and_returns_to_redis() -> None:
    with services.start_redis() as server:
        limiter = RedisLimiter(server.url, "t:")
        try:
            assert await limiter.hit("k", 1, 60) is None
            server.stop()
            # Redis gone: limits still hold, per process, within about a second for the first call...
            assert await asyncio.wait_for(limiter.hit("k", 1, 60), 3) is None
            started = time.monotonic()
            assert await limiter.hit("k", 1, 60) is not None
            assert time.monotonic() - started < 0.2, "...and at once for the next ones"
            server.start()  # an empty Redis: the count starts again there
            await asyncio.sleep(RETRY_INTERVAL + 0.1)
            assert await limiter.hit("k", 1, 60) is None
            assert await limiter.count("k") == 1
        finally:
            await limiter.close()
