"""uvicorn's websockets-sansio protocol, holding less for each of the 10,000 websockets a hub keeps open.

What uvicorn keeps for a connection's lifetime and never reads after the handshake goes, and what
it keeps in asyncio's general-purpose structures is kept in smaller ones; its behaviour is
unchanged (loadtest scale, step 3, measures the RSS):

- the handshake's request and response headers: cleared once the connection is accepted. The app
  has its own copy in the ASGI scope; websockets' parser keeps the request object for as long as
  the connection lives, so clearing it, not dropping a reference to it, is what frees them;
- the queue of received messages, an `asyncio.Queue` (three deques of 760 bytes and an Event): an
  `Inbox`, a `Fifo` (hub/fifo.py) and a `Flag`;
- the `writable` event: a `Flag` (see hub/flag.py).

Its keepalive pings are spread (`hub.connections.spread`): uvicorn pings every 20 s from the
handshake, so connections opened together would ping, and be answered, all at once.
"""

from __future__ import annotations

from typing import Any

from uvicorn._types import ASGIReceiveEvent, ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from hub.connections import spread
from hub.fifo import Fifo
from hub.flag import Flag


class Inbox:
    """The `asyncio.Queue` calls uvicorn's protocol makes (put_nowait, get, empty): one reader at a time."""

    __slots__ = ("_items", "_arrived")

    def __init__(self) -> None:
        self._items: Fifo[ASGIReceiveEvent] = Fifo()
        self._arrived = Flag()

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: ASGIReceiveEvent) -> None:
        self._items.append(item)
        self._arrived.set()

    async def get(self) -> ASGIReceiveEvent:
        while not self._items:
            self._arrived.clear()
            await self._arrived.wait()
        return self._items.popleft()


class HubWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = Inbox()  # type: ignore[assignment]  # the calls uvicorn makes of a Queue
        self.writable = Flag(True)  # type: ignore[assignment]  # the calls uvicorn makes of an Event

    def schedule_ping(self) -> None:
        """uvicorn's, after a random 80-100 % of the interval rather than all of it."""
        assert self.ping_interval is not None
        delay = max(0.0, spread(self.ping_interval) - self.last_ping_rtt)
        self.ping_timer = self.loop.call_later(delay, self.send_keepalive_ping)

    async def send(self, message: ASGISendEvent) -> None:
        await super().send(message)
        if message["type"] == "websocket.accept":
            self.request.headers.clear()
            self.response.headers.clear()
