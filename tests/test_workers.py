"""`serve --workers N`: N hub processes share the port, each drains gracefully, a dead one is replaced."""

from __future__ import annotations

import psutil

from tests.hubprocess import HubProcess


def test_two_workers_serve_and_a_dead_one_is_replaced(hub_process: type[HubProcess], redis_url: str,
                                                      redis_prefix: str) -> None:
    hub = hub_process(REDIS_URL=redis_url, REDIS_PREFIX=f"{redis_prefix}-workers")
    hub.start("--workers", "2")
    first = hub.workers(2)
    assert all(w.is_running() for w in first)

    first[0].kill()
    first[0].wait(10)
    replaced = hub.workers(2)
    assert first[0].pid not in {w.pid for w in replaced}
    assert first[1].pid in {w.pid for w in replaced}

    assert hub.terminate() == 0
    for worker in replaced:
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert hub.log().count("Application shutdown complete") == 2  # both live ones drained
