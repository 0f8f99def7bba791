"""The token bucket behind the operation rate limits: pure, so its promises are checked by the thousand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hub.tokenbucket import OperationLimit, TokenBucket

rates = st.floats(min_value=0.1, max_value=10_000)
bursts = st.integers(min_value=1, max_value=1000)
steps = st.lists(st.tuples(st.floats(min_value=0, max_value=2), st.integers(min_value=0, max_value=20)),
                 max_size=60)


@given(rates, bursts, steps)
def test_no_window_gets_more_than_the_burst_plus_the_rate(rate: float, burst: int,
                                                          schedule: list[tuple[float, int]]) -> None:
    bucket = TokenBucket(rate, burst, 0.0)
    now, taken = 0.0, []
    for pause, attempts in schedule:
        now += pause
        taken += [now] * sum(bucket.take(now) for _ in range(attempts))
    for i, start in enumerate(taken):
        for j in range(i, len(taken)):
            assert j - i + 1 <= burst + rate * (taken[j] - start) + 1e-6


@given(rates, bursts, steps)
def test_a_refusal_says_how_long_to_wait_and_that_long_is_enough(rate: float, burst: int,
                                                                 schedule: list[tuple[float, int]]) -> None:
    bucket = TokenBucket(rate, burst, 0.0)
    now = 0.0
    for pause, attempts in schedule:
        now += pause
        for _ in range(attempts):
            wait = bucket.wait(now)
            assert bucket.take(now) == (wait == 0)
            if wait:
                assert bucket.take(now + wait * 1.0001)
                now += wait * 1.0001


@given(st.integers(min_value=1, max_value=50), st.integers(min_value=1, max_value=50),
       st.lists(st.sampled_from(["a", "b", "c"]), max_size=200))
def test_an_operation_takes_from_device_and_user_or_from_neither(device_burst: int, user_burst: int,
                                                                 devices: list[str]) -> None:
    limit = OperationLimit(1e-9, device_burst, 1e-9, user_burst)  # no refill within the test
    allowed: dict[str, int] = {}
    for device in devices:
        if limit.take(device, 1, 0.0) == 0.0:
            allowed[device] = allowed.get(device, 0) + 1
    assert all(count <= device_burst for count in allowed.values())
    # a refused operation took nothing: the count is exactly what a model taking from both says
    expected, per_device, total = 0, dict.fromkeys("abc", 0), 0
    for device in devices:
        if per_device[device] < device_burst and total < user_burst:
            per_device[device] += 1
            total += 1
            expected += 1
    assert sum(allowed.values()) == expected
