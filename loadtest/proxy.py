"""A TCP proxy in a process of its own that can drop every connection through it at once.

Between the clients and one hub, it is how a fault run cuts every connection in the same instant
(as a load balancer's restart or a network blip would): both sides of each connection are reset,
and the clients reconnect through it at once, the reconnect storm the hub must take.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Iterator
from typing import Any

from loadtest.cli import run_event_loop
from loadtest.servers import free_port

CHUNK = 65536
ANSWER_TIMEOUT = 30.0


class DropProxy:
    """Listens on `url`, forwards to `upstream` (host, port); `drop()` resets every connection."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(self.port, upstream, child), name="drop-proxy",
                                        daemon=True)

    def start(self) -> None:
        self._process.start()
        self._answer()

    def drop(self) -> int:
        """Reset both sides of every open connection; how many client connections there were."""
        self._control.send("drop")
        return int(self._answer())

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(10)

    def _answer(self) -> Any:
        if not self._control.poll(ANSWER_TIMEOUT):
            raise RuntimeError(f"the proxy did not answer in {ANSWER_TIMEOUT:.0f} s")
        return self._control.recv()


@contextlib.contextmanager
def drop_proxy(upstream: tuple[str, int]) -> Iterator[DropProxy]:
    proxy = DropProxy(upstream)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


def _serve(port: int, upstream: tuple[str, int], control: Any) -> None:
    run_event_loop(_Proxy(upstream).serve(port, control))


class _Proxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.open: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    async def serve(self, port: int, control: Any) -> None:
        server = await asyncio.start_server(self._client, "127.0.0.1", port, backlog=4096)
        control.send("listening")
        async with server:
            while True:
                await asyncio.to_thread(control.recv)
                pairs, self.open = self.open, set()
                for client, hub in pairs:
                    client.transport.abort()
                    hub.transport.abort()
                control.send(len(pairs))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            hub_reader, hub_writer = await asyncio.open_connection(*self.upstream)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, hub_writer)
        self.open.add(pair)
        try:
            await asyncio.gather(_pump(reader, hub_writer), _pump(hub_reader, writer))
        finally:
            self.open.discard(pair)
            writer.transport.abort()
            hub_writer.transport.abort()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy one direction until it ends; the other direction is then ended too (by the caller)."""
    with contextlib.suppress(OSError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    writer.transport.abort()
