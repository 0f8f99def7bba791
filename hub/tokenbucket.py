"""Token buckets: a sustained rate with a burst allowance, pure (the caller passes the clock)."""

from __future__ import annotations

from collections.abc import Hashable


class TokenBucket:
    """`rate` tokens a second, holding at most `burst`; each operation takes one."""

    __slots__ = ("_at", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._tokens = float(burst)
        self._at = now

    def _refill(self, now: float) -> None:
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now

    def available(self, now: float) -> bool:
        """Whether one token could be taken now (nothing is taken)."""
        self._refill(now)
        return self._tokens >= 1.0

    def take(self, now: float) -> bool:
        """Take one token if there is one."""
        self._refill(now)
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def wait(self, now: float) -> float:
        """Seconds until a token is available (0 when one is)."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)

    def full(self, now: float) -> bool:
        """A full bucket is the same as a new one, so it may be forgotten."""
        self._refill(now)
        return self._tokens >= self.burst


class Buckets:
    """One bucket per key (a device, a user), created full on first use; full ones are forgotten."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: dict[Hashable, TokenBucket] = {}

    def get(self, key: Hashable, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
        return bucket

    def prune(self, now: float) -> None:
        for key in [key for key, bucket in self._buckets.items() if bucket.full(now)]:
            del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


class OperationLimit:
    """The rate of scanner operations, per device and per user: an operation takes from both or neither."""

    PRUNE_EVERY = 4096

    def __init__(self, device_rate: float, device_burst: int, user_rate: float, user_burst: int) -> None:
        self._devices = Buckets(device_rate, device_burst)
        self._users = Buckets(user_rate, user_burst)
        self._calls = 0

    def take(self, device: str, user_id: int, now: float) -> float:
        """0.0 when the operation may go ahead (and is counted); otherwise seconds until it may."""
        self._calls += 1
        if self._calls % self.PRUNE_EVERY == 0:
            self._devices.prune(now)
            self._users.prune(now)
        device_bucket, user_bucket = self._devices.get(device, now), self._users.get(user_id, now)
        if device_bucket.available(now) and user_bucket.available(now):
            device_bucket.take(now)
            user_bucket.take(now)
            return 0.0
        return max(device_bucket.wait(now), user_bucket.wait(now))
