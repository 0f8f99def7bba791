"""Password hashing off the event loop, in a bounded pool with a bounded queue.

argon2 takes tens of milliseconds of CPU and 64 MiB for each check. The checks run in as many
threads as the machine has cores; at most `QUEUE_PER_THREAD` per thread may wait or run at once,
and at most `PER_CLIENT` of them for one client address. One more is refused at once with `Busy`
(answered 503 with Retry-After): during a flood of bogus logins a real one waits for a few checks
at most, or is told at once to try again, never queued behind the flood.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.api.errors import ApiError
from hub.codes import ApiCode

THREADS = os.cpu_count() or 2
QUEUE_PER_THREAD = 8
PER_CLIENT = 4
"""Checks one client address may have waiting or running in this process."""
RETRY_AFTER = 1

hasher = PasswordHasher()
_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="argon2")
_slots = threading.BoundedSemaphore(THREADS * QUEUE_PER_THREAD)
_per_client: Counter[str] = Counter()
_per_client_lock = threading.Lock()

T = TypeVar("T")


class Busy(ApiError):
    """Too many password checks are waiting; nothing was checked. Answered 503 with Retry-After."""

    def __init__(self) -> None:
        super().__init__(ApiCode.BUSY, "The hub is busy checking passwords; try again in a moment.",
                         {"Retry-After": str(RETRY_AFTER)})


@contextlib.contextmanager
def _slot(client: str | None) -> Iterator[None]:
    """One place in the queue (and in the client's share of it), or Busy at once."""
    if not _slots.acquire(blocking=False):
        raise Busy
    try:
        if client is not None:
            with _per_client_lock:
                if _per_client[client] >= PER_CLIENT:
                    raise Busy
                _per_client[client] += 1
        try:
            yield
        finally:
            if client is not None:
                with _per_client_lock:
                    _per_client[client] -= 1
                    if not _per_client[client]:
                        del _per_client[client]
    finally:
        _slots.release()


async def _run(client: str | None, work: Callable[[], T]) -> T:
    with _slot(client):
        return await asyncio.get_running_loop().run_in_executor(_pool, work)


async def hash_password(password: str, client: str | None = None) -> str:
    return await _run(client, lambda: hasher.hash(password))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, with the real parameters, to verify against for unknown users."""
    return hasher.hash(secrets.token_urlsafe(16))


async def verify_password(password_hash: str | None, password: str, client: str | None = None) -> bool:
    """Check a password off the event loop; with no hash (no such user), do the same work and fail."""
    if password_hash is None:
        await _run(client, lambda: _verify(_dummy_hash(), password))
        return False
    return await _run(client, lambda: _verify(password_hash, password))


def needs_rehash(password_hash: str) -> bool:
    return hasher.check_needs_rehash(password_hash)
