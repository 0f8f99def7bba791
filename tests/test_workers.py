"""`serve --workers N`: N hub processes share the port, each drains gracefully, a dead one is replaced."""

from __future__ import annotations

import time

import httpx
import psutil

from tests.hubprocess import HubProcess


def _workers(hub: HubProcess, count: int, timeout: float = 60.0) -> list[psutil.Process]:
    """The supervisor's `count` worker processes once each has started serving (by its log line)."""
    assert hub.process is not None
    supervisor = psutil.Process(hub.process.pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [p for p in supervisor.children() if "resource_tracker" not in " ".join(p.cmdline())]
        log = hub.log()
        serving = [w for w in workers if f"Started server process [{w.pid}]" in log]
        if len(workers) == len(serving) == count and log.count("Application startup complete") >= count:
            assert httpx.get(f"{hub.url}/ready", timeout=5).status_code == 200
            return workers
        time.sleep(0.2)
    raise AssertionError(f"expected {count} workers:\n{hub.log()}")


def test_two_workers_serve_and_a_dead_one_is_replaced(hub_process: type[HubProcess], redis_url: str,
                                                      redis_prefix: str) -> None:
    hub = hub_process(REDIS_URL=redis_url, REDIS_PREFIX=f"{redis_prefix}-workers")
    hub.start("--workers", "2")
    first = _workers(hub, 2)
    assert all(w.is_running() for w in first)

    first[0].kill()
    first[0].wait(10)
    replaced = _workers(hub, 2)
    assert first[0].pid not in {w.pid for w in replaced}
    assert first[1].pid in {w.pid for w in replaced}

    assert hub.terminate() == 0
    for worker in replaced:
        assert not worker.is_running() or worker.status() == psutil.STATUS_ZOMBIE
    assert hub.log().count("Application shutdown complete") == 2  # both live ones drained
