"""Re-checks of a login: each within SESSION_RECHECK_SECONDS, spread so that connections opened
together do not query the database all at once."""

from __future__ import annotations

from hub.connections import SPREAD, spread


def test_each_re_check_comes_within_the_setting_and_connections_opened_together_spread_theirs() -> None:
    delays = [spread(30.0) for _ in range(500)]
    assert all(30.0 * (1 - SPREAD) <= delay <= 30.0 for delay in delays)
    # 500 connections opened at once: their next re-checks fall over most of the 6-second spread.
    assert max(delays) - min(delays) > 30.0 * SPREAD * 0.9
    assert len({round(delay, 3) for delay in delays}) > 400
