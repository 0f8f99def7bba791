"""A time limit on every send of one sender task, at the cost of one timer per limit, not per send.

`asyncio.timeout` around each send arms and cancels a timer for every frame: for a scanner, for
every ack, about 4 % of the hub's CPU at 2,000 scans/s. A send that the client takes does not wait
at all, so the clock keeps one timer while sends go on, looks at it only when it fires, and then
cancels the send in progress if it started at least `limit` seconds before (as `asyncio.timeout`
would have); otherwise it sets it again for the send in progress, or lets it lapse when none is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


class SendClock:
    """Created in, and cancelling only, the task that sends; each send goes through `within`."""

    def __init__(self, limit: float) -> None:
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started: float | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._expired = False

    async def within(self, send: Awaitable[None]) -> bool:
        """Await `send`; False when it was cut for taking `limit` seconds (the task goes on)."""
        self._start()
        try:
            await send
        except asyncio.CancelledError:
            if not self._cut():
                raise
            return False
        finally:
            self._started = None
        return True

    def _start(self) -> None:
        self._started = self._loop.time()
        if self._timer is None:
            self._timer = self._loop.call_at(self._started + self._limit, self._fire)

    def _cut(self) -> bool:
        """Whether the CancelledError the send raised is this clock's doing alone (then taken back)."""
        if not self._expired or self._task is None:
            return False
        self._expired = False
        return self._task.uncancel() == 0

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        if self._started is None:
            return
        due = self._started + self._limit
        if self._loop.time() < due:
            self._timer = self._loop.call_at(due, self._fire)
        elif self._task is not None:
            self._expired = True
            self._task.cancel()
