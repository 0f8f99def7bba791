"""Three hub processes behind HAProxy (deploy/haproxy.cfg, run by loadtest.balancer), steady load
from the load generator through it, and the faults the scale-out test makes under that load."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from loadtest import runner
from loadtest.balancer import SERVERS, Balancer, Server
from tests.hubprocess import HubProcess

BACK_WITHIN = 5.0
"""Seconds in which a lost hub's clients must all be connected to the others again (issue 11)."""
MARKED_DOWN_WITHIN = 3.0
"""Seconds in which HAProxy must take a draining or dead hub out of rotation (checks every 500 ms)."""


def load_options(url: str, database_url: str, *, scanners: int, rate: float, dashboards: int,
                 duration: float) -> runner.Options:
    """The load generator's options for a run through the balancer at `url`, checked against the database."""
    return runner.Options(urls=(url,), scanners=scanners, rate=rate, duration=duration, window=8, drain=5.0,
                          database_url=database_url, user=None, password=None, accounts=3, echo=False,
                          dashboards=dashboards, timezone="UTC")


def wait_for_sessions(balancer: Balancer, on: Iterable[str], clients: int,
                      timeout: float = BACK_WITHIN) -> dict[str, Server]:
    """Wait until the hubs `on` hold all `clients` websockets between them and the other hubs none;
    HAProxy's servers then. TimeoutError (with where the clients are) when that takes too long."""
    wanted = set(on)
    deadline = time.monotonic() + timeout
    while True:
        servers = balancer.servers()
        if (sum(servers[name].sessions for name in wanted) == clients
                and all(servers[name].sessions == 0 for name in SERVERS if name not in wanted)):
            return servers
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:g} s the {clients} clients are at {servers}, not all on {wanted}")
        time.sleep(0.05)


async def drain(hub: HubProcess, name: str, balancer: Balancer) -> None:
    """SIGTERM (a graceful drain): HAProxy takes the hub out of rotation while it still runs, then it
    exits 0 after acking what it accepted."""
    assert hub.process is not None
    hub.process.send_signal(signal.SIGTERM)
    await asyncio.to_thread(balancer.wait_for, {name: "DOWN"}, MARKED_DOWN_WITHIN)
    assert hub.process.poll() is None, "the hub exited before HAProxy saw it fail /ready"
    assert await asyncio.to_thread(hub.process.wait, 30) == 0, hub.log()[-2000:]
    hub.process = None


async def kill(hub: HubProcess, name: str, balancer: Balancer) -> None:
    """SIGKILL: HAProxy finds the hub gone (a refused connection or a failed check)."""
    await asyncio.to_thread(hub.kill)
    await asyncio.to_thread(balancer.wait_for, {name: "DOWN"}, MARKED_DOWN_WITHIN)


async def under_load(options: runner.Options, faults: Callable[[], Awaitable[None]]) -> dict[str, Any]:
    """Run the load generator with `options`; `faults()` (a coroutine) starts once every scanner
    has started scanning and must end before the run does. The run's result."""
    started, ended = asyncio.Event(), asyncio.Event()

    def on_window(phase: runner.Phase) -> None:
        (started if phase == "start" else ended).set()

    async def after_start() -> None:
        await started.wait()
        await faults()
        assert not ended.is_set(), "the faults outlasted the load: lengthen the run"

    async with asyncio.TaskGroup() as group:  # a failed fault check cancels the run, and the reverse
        load = group.create_task(runner.run(options, lambda _: None, lambda _: None, on_window))
        group.create_task(after_start())
    return load.result()
